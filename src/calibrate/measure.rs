//! The measurements behind a profile, each on this repository's own kernels.
//!
//! Short measurements keep the fastest of several rounds: another process on a shared
//! machine can only ever slow a round down, so the fastest is the closest to what the
//! hardware does. Long single ones (k-means, HNSW builds) count the thread's CPU time.

use std::hint::black_box;
use std::time::Instant;

use crate::hw::Isa;
use crate::kernels::distance::{self, Metric};
use crate::kernels::hnsw::{Hnsw, HnswParams, SearchScratch};
use crate::kernels::ivf::{kmeans, KMeansParams};
use crate::kernels::quant::{Pq, Sq8};
use crate::kernels::topk::{self, TopK};

/// A stopwatch on the calling thread's CPU time where Linux reports it
/// (/proc/thread-self/schedstat, in ns), else on the wall clock: time the thread spends
/// descheduled on a shared machine is not the kernel's. For measurements of 100 ms and
/// more: the figure can lag by a scheduler tick, and reading it is a system call.
pub struct Stopwatch {
    wall: Instant,
    cpu_ns: Option<u64>,
}

impl Stopwatch {
    pub fn start() -> Stopwatch {
        Stopwatch {
            wall: Instant::now(),
            cpu_ns: thread_cpu_ns(),
        }
    }

    pub fn elapsed_secs(&self) -> f64 {
        match (self.cpu_ns, thread_cpu_ns()) {
            (Some(a), Some(b)) => b.saturating_sub(a) as f64 * 1e-9,
            _ => self.wall.elapsed().as_secs_f64(),
        }
    }
}

/// CPU time of the calling thread, ns.
pub fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Rounds per timed measurement; the fastest is kept.
const ROUNDS: usize = 7;

/// The fastest of [`ROUNDS`] rounds in ns per unit, each round calling `work` (which
/// returns the units it did) until `round_secs` have passed.
pub fn ns_per_unit(round_secs: f64, work: impl FnMut() -> u64) -> f64 {
    ns_per_unit_rounds(ROUNDS, round_secs, work)
}

fn ns_per_unit_rounds(rounds: usize, round_secs: f64, mut work: impl FnMut() -> u64) -> f64 {
    // Calls between two looks at the clock: enough for 20 us, so that the look (~25 ns)
    // costs nothing next to a dim-128 batch of a few hundred ns.
    let mut reps = 1u64;
    loop {
        let t = Instant::now();
        (0..reps).for_each(|_| {
            work();
        });
        if t.elapsed().as_secs_f64() >= 20e-6 || reps >= 1 << 20 {
            break;
        }
        reps *= 2;
    }
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let mut units = 0u64;
            loop {
                units += (0..reps).map(|_| work()).sum::<u64>();
                let t = start.elapsed().as_secs_f64();
                if t >= round_secs {
                    return t * 1e9 / units as f64;
                }
            }
        })
        .fold(f64::INFINITY, f64::min)
}

/// `len` floats in [0, 1) on a 64-byte boundary (from a multiplicative hash of the index:
/// the values do not matter to a timing, and this fills 512 MiB in a fraction of a second).
pub struct Floats {
    buf: Vec<f32>,
    start: usize,
    len: usize,
}

impl Floats {
    pub fn new(len: usize) -> Floats {
        let buf: Vec<f32> = (0..len as u64 + 16)
            .map(|i| (i as u32).wrapping_mul(2_654_435_761) as f32 * (1.0 / 4_294_967_296.0))
            .collect();
        let start = buf.as_ptr().align_offset(64).min(16);
        Floats { buf, start, len }
    }

    pub fn get(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.len]
    }
}

/// Clock estimate in GHz: a dependent chain of integer adds retires one add per cycle on
/// every x86_64 and aarch64 core (the anchors measured 4.05 GHz this way on a machine like
/// the reference one).
/// Many short rounds: a time slice of a busy machine is a few ms, so some round runs
/// undisturbed.
pub fn clock_ghz(round_secs: f64) -> f64 {
    const ADDS_PER_CALL: u64 = 16 * 1024;
    const CLOCK_ROUNDS: usize = 40;
    let ns_per_add = ns_per_unit_rounds(CLOCK_ROUNDS, round_secs, || {
        black_box(add_chain(black_box(ADDS_PER_CALL / 16)));
        ADDS_PER_CALL
    });
    1.0 / ns_per_add
}

#[cfg(target_arch = "x86_64")]
fn add_chain(blocks: u64) -> u64 {
    let mut x = 0u64;
    for _ in 0..blocks {
        // SAFETY: register-only arithmetic on `x`; no memory, no stack.
        unsafe {
            std::arch::asm!(
                "add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1",
                "add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1",
                "add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1",
                "add {0}, 1", "add {0}, 1", "add {0}, 1", "add {0}, 1",
                inout(reg) x,
                options(nomem, nostack),
            );
        }
    }
    x
}

#[cfg(target_arch = "aarch64")]
fn add_chain(blocks: u64) -> u64 {
    let mut x = 0u64;
    for _ in 0..blocks {
        // SAFETY: register-only arithmetic on `x`; no memory, no stack.
        unsafe {
            std::arch::asm!(
                "add {0}, {0}, 1", "add {0}, {0}, 1", "add {0}, {0}, 1", "add {0}, {0}, 1",
                "add {0}, {0}, 1", "add {0}, {0}, 1", "add {0}, {0}, 1", "add {0}, {0}, 1",
                "add {0}, {0}, 1", "add {0}, {0}, 1", "add {0}, {0}, 1", "add {0}, {0}, 1",
                "add {0}, {0}, 1", "add {0}, {0}, 1", "add {0}, {0}, 1", "add {0}, {0}, 1",
                inout(reg) x,
                options(nomem, nostack),
            );
        }
    }
    x
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn add_chain(blocks: u64) -> u64 {
    // Without inline assembly the compiler may fold the chain; black_box keeps one add
    // per step at the cost of some overhead, so the estimate is low.
    let mut x = 0u64;
    for _ in 0..blocks * 16 {
        x = black_box(x + 1);
    }
    x
}

/// Sum of a slice with eight independent accumulators: bound by loads, not by add latency.
fn read_sum(data: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = data.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for (a, x) in acc.iter_mut().zip(c) {
            *a += x;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Machine-wide read bandwidth, bytes/s, with `threads` threads each summing its own
/// contiguous share of `data`: the best of `passes` passes.
pub fn read_bandwidth(data: &[f32], threads: usize, passes: usize) -> f64 {
    let share = data.len().div_ceil(threads);
    let mut best: f64 = 0.0;
    for _ in 0..passes {
        let start = Instant::now();
        std::thread::scope(|s| {
            for part in data.chunks(share) {
                s.spawn(move || black_box(read_sum(part)));
            }
        });
        best = best.max(std::mem::size_of_val(data) as f64 / start.elapsed().as_secs_f64());
    }
    best
}

fn batch(isa: Isa, metric: Metric, q: &[f32], block: &[f32], out: &mut [f32]) {
    match metric {
        Metric::L2 => distance::l2sq_batch_with(isa, q, block, out),
        Metric::Ip => distance::dot_batch_with(isa, q, block, out),
    }
}

/// Bytes of the block an in-cache distance measurement scans over and over: at the edge
/// of a 32 KiB L1 (the reference machine's) and well inside every L2, as the queries of
/// a blocked scan find their block (`kernels::topk::flat_search` reuses 256 KiB blocks
/// from L2).
const CACHE_BLOCK_BYTES: usize = 32 * 1024;

/// ns per distance, one query against a block of vectors in cache.
pub fn distance_cache_ns(isa: Isa, metric: Metric, dim: usize, round_secs: f64) -> f64 {
    let n = (CACHE_BLOCK_BYTES / (dim * 4)).max(4);
    let data = Floats::new((n + 1) * dim);
    let (q, block) = data.get().split_at(dim);
    let mut out = vec![0.0; n];
    ns_per_unit(round_secs, || {
        batch(isa, metric, q, block, &mut out);
        black_box(&out);
        n as u64
    })
}

/// Vectors per batch call when streaming: 512 KiB at dim 128, as `benches/kernels.rs`.
const STREAM_BLOCK_BYTES: usize = 512 * 1024;

/// ns per distance, one query against every vector of `data` (much larger than the last
/// level cache), read once per pass; the best of `passes`.
pub fn distance_stream_ns(
    isa: Isa,
    metric: Metric,
    dim: usize,
    data: &[f32],
    passes: usize,
) -> f64 {
    let q = Floats::new(dim);
    let vectors = data.len() / dim;
    let per_block = (STREAM_BLOCK_BYTES / (dim * 4)).max(1);
    let mut out = vec![0.0; per_block];
    let mut best = f64::INFINITY;
    for _ in 0..passes {
        let start = Instant::now();
        for block in data[..vectors * dim].chunks(per_block * dim) {
            let out = &mut out[..block.len() / dim];
            batch(isa, metric, q.get(), block, out);
            black_box(&out);
        }
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / vectors as f64);
    }
    best
}

/// Bytes of the data a transposed-kernel measurement keeps in cache: inside the
/// reference machine's 32 MiB L3 (each block is transposed once into L1 and read there
/// by every query, so L3 or L2 hardly matters), and enough vectors that a call's fixed
/// costs (64 heaps, the transposition buffer, sorting the results) are spread thin: with
/// 512 KiB they added 5 % at dim 768, the in-cache figure then exceeding the streamed one.
const TILED_CACHE_BYTES: usize = 8 << 20;
/// Vectors of an in-cache transposed measurement at the least: four tiles of 64, so that
/// no group is partial and each block holds whole tiles, as in a long scan.
const TILED_MIN_ROWS: usize = 256;
/// Bytes streamed by a transposed-kernel measurement: four times the reference
/// machine's 32 MiB L3, so every block comes from RAM.
pub const TILED_STREAM_BYTES: usize = 128 << 20;

/// `topk::TILED_MIN_QUERIES` queries: the fewest a search runs the transposed kernels
/// for, so the figure includes the transposition of each block as spread over them.
fn tiled_queries(dim: usize) -> Floats {
    Floats::new(topk::TILED_MIN_QUERIES * dim)
}

/// ns per (query, vector) of a flat top-`k` search of `topk::TILED_MIN_QUERIES` queries
/// on the transposed kernels (the block transposed, distances, top-k compares), data in
/// cache. Callers check [`topk::tiled_supported`].
pub fn tiled_cache_ns(metric: Metric, dim: usize, k: usize, round_secs: f64) -> f64 {
    let rows = ((TILED_CACHE_BYTES / (4 * dim)).max(TILED_MIN_ROWS) / 64) * 64;
    let data = Floats::new(rows * dim);
    let queries = tiled_queries(dim);
    let pairs = (topk::TILED_MIN_QUERIES * rows) as u64;
    ns_per_unit(round_secs, || {
        black_box(topk::flat_search(metric, queries.get(), data.get(), dim, k));
        pairs
    })
}

/// ns per (query, vector) of the same search over every vector of `data` (much larger
/// than the last level cache), read once per pass; the best of `passes`.
pub fn tiled_stream_ns(metric: Metric, dim: usize, k: usize, data: &[f32], passes: usize) -> f64 {
    let vectors = data.len() / dim;
    let queries = tiled_queries(dim);
    let pairs = (topk::TILED_MIN_QUERIES * vectors) as f64;
    let mut best = f64::INFINITY;
    for _ in 0..passes {
        let start = Instant::now();
        black_box(topk::flat_search(
            metric,
            queries.get(),
            &data[..vectors * dim],
            dim,
            k,
        ));
        best = best.min(start.elapsed().as_secs_f64() * 1e9 / pairs);
    }
    best
}

/// ns per SQ8 code (squared L2), codes in cache.
pub fn sq8_cache_ns(isa: Isa, dim: usize, round_secs: f64) -> f64 {
    let n = (CACHE_BLOCK_BYTES / dim).max(4);
    let train = Floats::new(256 * dim);
    let sq = Sq8::train(train.get(), dim);
    let mut codes = vec![0u8; n * dim];
    for (row, code) in train
        .get()
        .chunks_exact(dim)
        .cycle()
        .zip(codes.chunks_exact_mut(dim))
    {
        sq.encode(row, code);
    }
    let q = &train.get()[..dim];
    let mut out = vec![0.0; n];
    ns_per_unit(round_secs, || {
        sq.distance_batch_with(isa, Metric::L2, q, &codes, &mut out);
        black_box(&out);
        n as u64
    })
}

/// ns per candidate offered to a top-`k` heap, candidates in random order.
pub fn topk_ns(k: usize, round_secs: f64) -> f64 {
    let keys = Floats::new(1 << 16);
    ns_per_unit(round_secs, || {
        let mut top = TopK::new(Metric::L2, k);
        top.push_block(0, keys.get());
        black_box(top.into_sorted());
        keys.get().len() as u64
    })
}

/// k-means ns per row-centroid distance evaluation: `k` centroids over the rows of `data`.
pub fn kmeans_ns_per_eval(data: &[f32], dim: usize, k: usize, iterations: usize) -> f64 {
    let start = Stopwatch::start();
    let km = kmeans(
        data,
        dim,
        k,
        KMeansParams {
            iterations,
            seed: 7,
        },
    );
    start.elapsed_secs() * 1e9 / km.stats.distance_evals as f64
}

/// PQ asymmetric distance, ns per sub-quantiser of a code (codes in cache).
pub fn pq_ns_per_lookup(train: &[f32], dim: usize, m: usize, round_secs: f64) -> f64 {
    let pq = Pq::train(train, dim, m, 4, 7);
    let n = (CACHE_BLOCK_BYTES / m).max(4);
    let mut codes = vec![0u8; n * m];
    for (row, code) in train
        .chunks_exact(dim)
        .cycle()
        .zip(codes.chunks_exact_mut(m))
    {
        pq.encode(row, code);
    }
    let table = pq.table(Metric::L2, &train[..dim]);
    let mut out = vec![0.0; n];
    ns_per_unit(round_secs, || {
        pq.adc_batch(&table, &codes, &mut out);
        black_box(&out);
        (n * m) as u64
    })
}

/// One timed HNSW build: the index, ns per insert and distance evaluations per insert.
pub fn hnsw_build(data: &[f32], dim: usize, m: usize, ef_construction: usize) -> (Hnsw, f64, f64) {
    let rows = data.len() / dim;
    let start = Stopwatch::start();
    let index = Hnsw::build(
        data,
        dim,
        Metric::L2,
        HnswParams {
            m,
            ef_construction,
            seed: 42,
        },
    );
    let ns = start.elapsed_secs() * 1e9 / rows as f64;
    let evals = index.build_stats().distance_evals as f64 / rows as f64;
    (index, ns, evals)
}

/// Searches every query at beam width `ef` (top-10): mean layer-0 nodes visited and ns
/// per query (the median of rounds over all queries).
pub fn hnsw_search(index: &Hnsw, queries: &[f32], dim: usize, ef: usize) -> (f64, f64) {
    let mut scratch = SearchScratch::default();
    let nq = queries.len() / dim;
    let mut visited = 0u64;
    for q in queries.chunks_exact(dim) {
        visited += index.search(&mut scratch, q, 10, ef).1.visited_nodes;
    }
    let ns = ns_per_unit(0.0, || {
        for q in queries.chunks_exact(dim) {
            black_box(index.search(&mut scratch, q, 10, ef));
        }
        nq as u64
    });
    (visited as f64 / nq as f64, ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_sum_adds_every_element() {
        let v: Vec<f32> = (0..37).map(|i| i as f32).collect();
        assert_eq!(read_sum(&v), (0..37).sum::<i32>() as f32);
    }

    #[test]
    fn the_clock_estimate_is_a_plausible_frequency() {
        let ghz = clock_ghz(0.002);
        assert!((0.3..8.0).contains(&ghz), "{ghz} GHz");
    }
}
