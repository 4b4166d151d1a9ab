//! Kernel benchmarks (criterion): our f32 distances beside simsimd on the same data.
//!
//! * `pair/<metric>/<impl>/<dim>`: one distance, both vectors in L1 (64-byte aligned;
//!   the anchors saw 16-byte aligned data 25-40 % slower in L1, so both sides get the
//!   same alignment). Time per iteration is ns per distance. `pair/loads/<dim>` (AVX-512
//!   CPUs) reads both vectors with 512-bit loads and no arithmetic: the floor of any pair
//!   kernel, which a kernel bound by its loads cannot beat.
//! * `batch_l1/...`, `batch_l2/...`: one query against `n` vectors making 16 KiB (in L1)
//!   or 256 KiB (in L2), reported as distances per second (Throughput::Elements(n)).
//!   simsimd has no 1 x n call; its side is the loop a caller writes around its pair.
//! * `stream/<what>`: a 1 GiB array of dim-128 vectors, scanned once per iteration by the
//!   batch loop in blocks of 1024 vectors, reported as bytes per second. `read_sum` is a
//!   plain sum over the same array: the read bandwidth one thread gets on this machine,
//!   the figure the distance scans are held to.
//! * `topk/flat_l2_k10/1M_x128_nq1`, `.../1M_x128_nq100`: `topk::flat_search` of one
//!   and of 100 queries over 1M x 128 (512 MB), reported as queries per second; the 100
//!   queries are the ones `benches/faiss_compare.py` gives faiss. With AVX-512 the 100
//!   queries run on the transposed kernels (`kernels::tiled`), one query on the pair
//!   kernels.
//!
//! `cargo bench --bench kernels` takes about 80 s on 2 cores (sample_size 10,
//! 1 s per in-cache bench, 3 s per streaming bench) and needs ~1.1 GiB of memory (one large array at a time).

use std::hint::black_box;
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode, Throughput,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use simctl::kernels::distance::{self, Metric};
use simctl::kernels::topk;
use simsimd::SpatialSimilarity;

const DIMS: [usize; 3] = [128, 768, 1024];
/// Bytes of vectors in one in-cache batch: half a 32 KiB L1, and a quarter of a 1 MiB L2
/// (the data stays put while the query and the outputs pass through).
const BATCH_L1_BYTES: usize = 16 * 1024;
const BATCH_L2_BYTES: usize = 256 * 1024;
const STREAM_BYTES: usize = 1 << 30;
const STREAM_DIM: usize = 128;
/// Vectors per batch call in the streaming scan (512 KiB at dim 128).
const STREAM_BLOCK_VECTORS: usize = 1024;
const TOPK_ROWS: usize = 1_000_000;
const TOPK_DIM: usize = 128;
const TOPK_QUERIES: usize = 100;

/// `len` floats uniform in [-1, 1), starting on a 64-byte boundary.
struct Aligned {
    buf: Vec<f32>,
    start: usize,
    len: usize,
}

impl Aligned {
    fn random(rng: &mut ChaCha8Rng, len: usize) -> Aligned {
        let buf: Vec<f32> = (0..len + 16)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect();
        let start = buf.as_ptr().align_offset(64);
        Aligned { buf, start, len }
    }

    fn get(&self) -> &[f32] {
        &self.buf[self.start..self.start + self.len]
    }
}

/// Deterministic fill for the large arrays, whose values do not matter to a bandwidth
/// test: a multiplicative hash of the index scaled to [0, 1), cheaper than an RNG.
fn filled(len: usize) -> Vec<f32> {
    filled_from(0, len)
}

/// Floats `start..start + len` of the [`filled`] sequence.
fn filled_from(start: usize, len: usize) -> Vec<f32> {
    (start as u32..(start + len) as u32)
        .map(|i| i.wrapping_mul(2_654_435_761) as f32 * (1.0 / 4_294_967_296.0))
        .collect()
}

fn ours_pair(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2 => distance::l2sq(a, b),
        Metric::Ip => distance::dot(a, b),
    }
}

fn simsimd_pair(metric: Metric, a: &[f32], b: &[f32]) -> f64 {
    let d = match metric {
        Metric::L2 => f32::l2sq(a, b),
        Metric::Ip => f32::dot(a, b),
    };
    d.expect("simsimd: vectors of equal length")
}

fn ours_batch(metric: Metric, q: &[f32], data: &[f32], out: &mut [f32]) {
    match metric {
        Metric::L2 => distance::l2sq_batch(q, data, out),
        Metric::Ip => distance::dot_batch(q, data, out),
    }
}

/// The loop a caller writes around simsimd's pair call.
fn simsimd_batch(metric: Metric, q: &[f32], data: &[f32], out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(data.chunks_exact(q.len())) {
        *o = simsimd_pair(metric, q, v) as f32;
    }
}

fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::L2 => "l2sq",
        Metric::Ip => "dot",
    }
}

fn short(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
}

/// Both vectors read 512 bits at a time, folded by integer XOR (no floating-point
/// latency chain, 8 independent registers): only the loads cost. `None` without AVX-512.
fn loads_pair(a: &[f32], b: &[f32]) -> Option<u32> {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") {
        // SAFETY: this CPU has AVX-512F, checked above.
        return Some(unsafe { loads_pair_avx512(a, b) });
    }
    let _ = (a, b);
    None
}

// SAFETY: callers run on a CPU with AVX-512F; a and b have equal length.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn loads_pair_avx512(a: &[f32], b: &[f32]) -> u32 {
    use std::arch::x86_64::*;
    const LANES: usize = 16;
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut acc = [_mm512_setzero_si512(); 8];
    let mut i = 0;
    while i + 4 * LANES <= a.len() {
        for k in 0..4 {
            let at = i + k * LANES;
            acc[k] = _mm512_xor_si512(acc[k], _mm512_loadu_si512(pa.add(at).cast()));
            acc[k + 4] = _mm512_xor_si512(acc[k + 4], _mm512_loadu_si512(pb.add(at).cast()));
        }
        i += 4 * LANES;
    }
    let all = acc
        .into_iter()
        .fold(_mm512_setzero_si512(), |x, y| _mm512_xor_si512(x, y));
    _mm512_reduce_add_epi32(all) as u32
}

fn pair(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let mut g = c.benchmark_group("pair");
    short(&mut g);
    for dim in DIMS {
        let (a, b) = (
            Aligned::random(&mut rng, dim),
            Aligned::random(&mut rng, dim),
        );
        let (a, b) = (a.get(), b.get());
        if loads_pair(a, b).is_some() {
            g.bench_function(format!("loads/{dim}"), |bench| {
                bench.iter(|| loads_pair(black_box(a), black_box(b)))
            });
        }
        for metric in [Metric::L2, Metric::Ip] {
            let name = metric_name(metric);
            g.bench_function(format!("{name}/ours/{dim}"), |bench| {
                bench.iter(|| ours_pair(metric, black_box(a), black_box(b)))
            });
            g.bench_function(format!("{name}/simsimd/{dim}"), |bench| {
                bench.iter(|| simsimd_pair(metric, black_box(a), black_box(b)))
            });
        }
    }
    g.finish();
}

fn batch(c: &mut Criterion) {
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    for (group, bytes) in [("batch_l1", BATCH_L1_BYTES), ("batch_l2", BATCH_L2_BYTES)] {
        let mut g = c.benchmark_group(group);
        short(&mut g);
        for dim in DIMS {
            let n = bytes / (4 * dim);
            let q = Aligned::random(&mut rng, dim);
            let data = Aligned::random(&mut rng, n * dim);
            let (q, data) = (q.get(), data.get());
            let mut out = vec![0.0f32; n];
            g.throughput(Throughput::Elements(n as u64));
            for metric in [Metric::L2, Metric::Ip] {
                let name = metric_name(metric);
                g.bench_function(format!("{name}/ours/{dim}"), |bench| {
                    bench.iter(|| ours_batch(metric, black_box(q), black_box(data), &mut out))
                });
                g.bench_function(format!("{name}/simsimd/{dim}"), |bench| {
                    bench.iter(|| simsimd_batch(metric, black_box(q), black_box(data), &mut out))
                });
            }
        }
        g.finish();
    }
}

/// Smallest distance of a scan, so the work cannot be optimised away.
fn scan(
    data: &[f32],
    q: &[f32],
    out: &mut [f32],
    kernel: fn(Metric, &[f32], &[f32], &mut [f32]),
    metric: Metric,
) -> f32 {
    let mut best = f32::INFINITY;
    for block in data.chunks(STREAM_BLOCK_VECTORS * q.len()) {
        let out = &mut out[..block.len() / q.len()];
        kernel(metric, q, block, out);
        best = out.iter().fold(best, |m, &d| m.min(d));
    }
    best
}

/// A plain sum with 16 independent lanes, which the compiler vectorises: reads only.
fn read_sum(data: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    for chunk in data.chunks_exact(16) {
        for (l, &x) in lanes.iter_mut().zip(chunk) {
            *l += x;
        }
    }
    lanes.iter().sum()
}

fn stream(c: &mut Criterion) {
    let data = filled(STREAM_BYTES / 4);
    let q = Aligned::random(&mut ChaCha8Rng::seed_from_u64(3), STREAM_DIM);
    let q = q.get();
    let mut out = vec![0.0f32; STREAM_BLOCK_VECTORS];
    let mut g = c.benchmark_group("stream");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Bytes(STREAM_BYTES as u64));
    g.bench_function("read_sum", |bench| {
        bench.iter(|| read_sum(black_box(&data)))
    });
    for metric in [Metric::L2, Metric::Ip] {
        let name = metric_name(metric);
        g.bench_function(format!("{name}/ours/{STREAM_DIM}"), |bench| {
            bench.iter(|| scan(black_box(&data), q, &mut out, ours_batch, metric))
        });
    }
    g.bench_function(format!("l2sq/simsimd/{STREAM_DIM}"), |bench| {
        bench.iter(|| scan(black_box(&data), q, &mut out, simsimd_batch, Metric::L2))
    });
    g.finish();
}

fn flat_topk(c: &mut Criterion) {
    let data = filled(TOPK_ROWS * TOPK_DIM);
    let q = Aligned::random(&mut ChaCha8Rng::seed_from_u64(4), TOPK_DIM);
    let q = q.get();
    let mut g = c.benchmark_group("topk");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .throughput(Throughput::Elements(1));
    g.bench_function("flat_l2_k10/1M_x128_nq1", |bench| {
        bench.iter(|| topk::flat_search(Metric::L2, black_box(q), &data, TOPK_DIM, 10))
    });
    // The 100 queries faiss_compare.py uses: the 100 vectors after the data in `filled`.
    let queries = filled_from(TOPK_ROWS * TOPK_DIM, TOPK_QUERIES * TOPK_DIM);
    g.throughput(Throughput::Elements(TOPK_QUERIES as u64));
    g.bench_function("flat_l2_k10/1M_x128_nq100", |bench| {
        bench.iter(|| topk::flat_search(Metric::L2, black_box(&queries), &data, TOPK_DIM, 10))
    });
    g.finish();
}

criterion_group!(benches, pair, batch, stream, flat_topk);
criterion_main!(benches);
