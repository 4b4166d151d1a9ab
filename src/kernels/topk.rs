//! Brute-force (flat) top-k: the k nearest vectors of a block to each query.
//!
//! Results are sorted best first (ascending squared L2, descending inner product) with
//! ties broken by the smaller id, so a search gives the same answer on every run and
//! every ISA whose distances agree.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use super::distance::{self, Metric};
use super::tiled;

/// One result: a vector's id and its distance (squared L2 or inner product) to the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbor {
    pub id: u64,
    pub distance: f32,
}

/// An id with its rank key, ordered by (key, id): smaller is closer under every
/// metric (the inner product is negated), and ties go to the smaller id so that heaps,
/// and so results and graph builds, are deterministic.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ranked<I> {
    pub(crate) key: f32,
    pub(crate) id: I,
}

impl<I: Ord> Ord for Ranked<I> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key.total_cmp(&other.key).then(self.id.cmp(&other.id))
    }
}

impl<I: Ord> PartialOrd for Ranked<I> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<I: Ord> PartialEq for Ranked<I> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl<I: Ord> Eq for Ranked<I> {}

/// A heap entry: the greatest is the worst kept result.
type Entry = Ranked<u64>;

/// The k best (distance, id) pairs seen so far: a bounded max-heap whose top is the
/// worst kept, so a candidate costs one compare unless it gets in.
pub struct TopK {
    metric: Metric,
    k: usize,
    heap: BinaryHeap<Entry>,
    /// Key of the worst kept result once the heap is full; +inf before.
    worst_key: f32,
}

impl TopK {
    pub fn new(metric: Metric, k: usize) -> TopK {
        TopK {
            metric,
            k,
            heap: BinaryHeap::with_capacity(k + 1),
            worst_key: f32::INFINITY,
        }
    }

    /// Key of the worst kept result once `k` are kept; +inf before.
    pub(crate) fn worst_key(&self) -> f32 {
        self.worst_key
    }

    /// The ordering key: smaller is better. `+ 0.0` turns -0.0 into +0.0 so the two
    /// zeros, equal as distances, tie on id like any other equal distances.
    fn key(&self, distance: f32) -> f32 {
        match self.metric {
            Metric::L2 => distance + 0.0,
            Metric::Ip => -distance + 0.0,
        }
    }

    /// Offers one candidate. A NaN distance is never kept (it compares false).
    pub fn push(&mut self, id: u64, distance: f32) {
        let key = self.key(distance);
        if key <= self.worst_key {
            self.insert(Entry { key, id });
        }
    }

    /// Offers `distances[i]` for id `first_id + i`, for every i.
    ///
    /// Once the heap is full almost no candidate of a long scan gets in, so runs of 16
    /// are first tested as a whole (a compare the compiler vectorises) and only a run
    /// holding a candidate is offered one by one. Same results as [`TopK::push`] on
    /// each: `key <= worst_key` is `d <= worst_key` for L2 and `d >= -worst_key` for
    /// the inner product, NaN false in both.
    pub fn push_block(&mut self, first_id: u64, distances: &[f32]) {
        const RUN: usize = 16;
        let mut id = first_id;
        for run in distances.chunks(RUN) {
            let worst = self.worst_key;
            let any = match self.metric {
                Metric::L2 => run.iter().fold(false, |any, &d| any | (d <= worst)),
                Metric::Ip => run.iter().fold(false, |any, &d| any | (d >= -worst)),
            };
            if any {
                for (id, &distance) in (id..).zip(run) {
                    self.push(id, distance);
                }
            }
            id += run.len() as u64;
        }
    }

    fn insert(&mut self, entry: Entry) {
        if self.heap.len() < self.k {
            self.heap.push(entry);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            // Equal keys reach here too; the id decides.
            if entry < *worst {
                *worst = entry;
            }
        }
        if self.heap.len() == self.k {
            if let Some(worst) = self.heap.peek() {
                self.worst_key = worst.key;
            }
        }
    }

    /// The kept results, best first.
    pub fn into_sorted(self) -> Vec<Neighbor> {
        let metric = self.metric;
        self.heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| Neighbor {
                id: e.id,
                distance: match metric {
                    Metric::L2 => e.key,
                    Metric::Ip => -e.key,
                },
            })
            .collect()
    }
}

/// Bytes of a block of data vectors for one query: the block streams from RAM once, and
/// a longer batch call spreads its fixed costs over more vectors.
const BLOCK_BYTES: usize = 256 * 1024;
/// Bytes of a block of data vectors when several queries take turns on it (where the
/// transposed kernels do not run): the block
/// then stays in L1 (32 KiB on the machines we model) for every query after the first.
/// Each vector is read from RAM once and from L1 nq times (1M x 128, nq=100, measured
/// on the reference machine: 179 q/s with 256 KiB blocks; then, with the next block
/// prefetched into L1, medians of 3 interleaved runs of 182 / 217 / 175 q/s with
/// 16 / 24 / 32 KiB blocks, and 200 q/s at 24 KiB prefetching into L2 only).
const SHARED_BLOCK_BYTES: usize = 24 * 1024;
/// Bytes of a block transposed for many queries (`kernels::tiled`): it stays in L1 while
/// every query passes over it. 1M x 128, nq=100 on the reference machine (busy, medians
/// of 5 side by side, twice): 16 / 32 / 64 KiB at 185 / 179 / 170 and 181 / 179 / 176 q/s.
const TILED_BLOCK_BYTES: usize = 16 * 1024;
/// Queries from which a search transposes its blocks: below, the transposition (and the
/// wait for RAM it cannot hide behind so few queries) costs more than it saves. Against
/// the pair-kernel path on the reference machine (medians of 3, side by side), q/s at
/// 1M x 128: nq 10 93 vs 143, nq 32 196 vs 201, nq 64 240 vs 221, nq 100 263 vs 219;
/// 200k x 768: nq 32 148 vs 151, nq 100 220 vs 152. The cost model (`hw::cost`) prices
/// a FLAT search of this many queries on an AVX-512 host with the transposed kernels.
pub const TILED_MIN_QUERIES: usize = 64;
/// Vectors of a transposed block come in multiples of this: 4 groups of 16, one tile.
const TILED_BLOCK_QUANTUM: usize = 64;

/// At least this many vectors per block, so long vectors keep a batch call's fixed
/// costs (dispatch, the query's loads, the sums) small beside its distances.
const MIN_BLOCK_ROWS: usize = 8;

/// f32 in a 64-byte cache line.
const FLOATS_PER_LINE: usize = 16;

/// Asks for every cache line of `data` to be brought into L1; a hint, no result.
fn prefetch(data: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in data.chunks(FLOATS_PER_LINE) {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch reads nothing architecturally and cannot fault; SSE is
        // part of every x86_64 CPU.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// The k nearest vectors of `data` (`data.len() / dim` vectors, ids 0..) to each of the
/// `queries.len() / dim` queries, best first.
///
/// 64 queries or more on an AVX-512 CPU run on the transposed kernels (`kernels::tiled`),
/// whose sums are rounded otherwise than [`distance::l2sq`]'s: a distance may differ from
/// it in the last bits (and so may the order of two neighbours that close).
pub fn flat_search(
    metric: Metric,
    queries: &[f32],
    data: &[f32],
    dim: usize,
    k: usize,
) -> Vec<Vec<Neighbor>> {
    assert!(dim > 0, "dimension must be positive");
    assert!(
        queries.len().is_multiple_of(dim),
        "queries are not whole vectors of dim {dim}"
    );
    assert!(
        data.len().is_multiple_of(dim),
        "data is not whole vectors of dim {dim}"
    );
    if queries.len() >= TILED_MIN_QUERIES * dim && tiled::supported() {
        let rows = (TILED_BLOCK_BYTES / (4 * dim) / TILED_BLOCK_QUANTUM * TILED_BLOCK_QUANTUM)
            .max(TILED_BLOCK_QUANTUM);
        return tiled::flat_search(metric, queries, data, dim, k, rows);
    }
    let block_bytes = if queries.len() > dim {
        SHARED_BLOCK_BYTES
    } else {
        BLOCK_BYTES
    };
    let block_rows = (block_bytes / (dim * 4)).max(MIN_BLOCK_ROWS);
    let mut heaps = heaps_for(metric, queries, dim, k);
    let mut distances = vec![0.0f32; block_rows];
    let nq = heaps.len();
    for (b, block) in data.chunks(block_rows * dim).enumerate() {
        let out = &mut distances[..block.len() / dim];
        let first_id = (b * block_rows) as u64;
        // With several queries, the next block is fetched a slice per query while
        // this one is in L1, so the first query on it does not wait for RAM.
        let next = block_after(data, b, block_rows * dim);
        let slice = next
            .len()
            .div_ceil(nq.max(1))
            .next_multiple_of(FLOATS_PER_LINE);
        let mut ahead = next.chunks(slice.max(FLOATS_PER_LINE));
        for (q, heap) in queries.chunks_exact(dim).zip(&mut heaps) {
            if nq > 1 {
                prefetch(ahead.next().unwrap_or(&[]));
            }
            match metric {
                Metric::L2 => distance::l2sq_batch(q, block, out),
                Metric::Ip => distance::dot_batch(q, block, out),
            }
            heap.push_block(first_id, out);
        }
    }
    heaps.into_iter().map(TopK::into_sorted).collect()
}

/// Whether this CPU runs the transposed kernels that [`flat_search`] uses from
/// [`TILED_MIN_QUERIES`] queries on.
pub fn tiled_supported() -> bool {
    tiled::supported()
}

/// One empty heap per query of `queries` (whole vectors of `dim`).
pub(crate) fn heaps_for(metric: Metric, queries: &[f32], dim: usize, k: usize) -> Vec<TopK> {
    queries
        .chunks_exact(dim)
        .map(|_| TopK::new(metric, k))
        .collect()
}

/// Block `b + 1` of `data` cut in blocks of `block_len` floats (empty past the end).
pub(crate) fn block_after(data: &[f32], b: usize, block_len: usize) -> &[f32] {
    let next = data.get((b + 1) * block_len..).unwrap_or(&[]);
    &next[..next.len().min(block_len)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The reference: every distance, fully sorted by (distance, id), first k.
    fn full_sort(metric: Metric, q: &[f32], data: &[f32], k: usize) -> Vec<Neighbor> {
        let dim = q.len();
        let mut all: Vec<Neighbor> = data
            .chunks_exact(dim)
            .enumerate()
            .map(|(i, v)| Neighbor {
                id: i as u64,
                distance: match metric {
                    Metric::L2 => distance::l2sq(q, v),
                    Metric::Ip => distance::dot(q, v),
                },
            })
            .collect();
        all.sort_by(|a, b| {
            let by_distance = match metric {
                Metric::L2 => a.distance.total_cmp(&b.distance),
                Metric::Ip => b.distance.total_cmp(&a.distance),
            };
            by_distance.then(a.id.cmp(&b.id))
        });
        all.truncate(k);
        all
    }

    #[test]
    fn flat_search_equals_a_full_sort() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        // 3000 x 100: several blocks plus a partial one; enough queries for the
        // transposed kernels where the CPU has them.
        let (dim, n, nq) = (100, 3000, TILED_MIN_QUERIES);
        let data: Vec<f32> = (0..n * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        let queries: Vec<f32> = (0..nq * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
        for metric in [Metric::L2, Metric::Ip] {
            for k in [1, 10, 100] {
                // One query at a time (pair kernels) and all together (transposed ones
                // where the CPU has them, summed in another order: close, not equal).
                let each: Vec<Vec<Neighbor>> = queries
                    .chunks_exact(dim)
                    .map(|q| flat_search(metric, q, &data, dim, k).remove(0))
                    .collect();
                let together = flat_search(metric, &queries, &data, dim, k);
                for ((q, each), together) in queries.chunks_exact(dim).zip(each).zip(together) {
                    let want = full_sort(metric, q, &data, k);
                    assert_eq!(each, want, "{metric:?} k={k}");
                    assert_eq!(together.len(), want.len());
                    for (got, want) in together.iter().zip(&want) {
                        assert_eq!(got.id, want.id, "{metric:?} k={k}");
                        let tolerance = 1e-5 * want.distance.abs().max(1.0);
                        assert!(
                            (got.distance - want.distance).abs() <= tolerance,
                            "{metric:?} k={k}: {got:?} vs {want:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn ties_are_broken_by_smaller_id() {
        // Quantised data: many vectors at exactly the same distance.
        let mut rng = ChaCha8Rng::seed_from_u64(8);
        let dim = 4;
        let data: Vec<f32> = (0..500 * dim)
            .map(|_| rng.random_range(0..3) as f32)
            .collect();
        let q = [1.0, 1.0, 1.0, 1.0];
        for metric in [Metric::L2, Metric::Ip] {
            let got = flat_search(metric, &q, &data, dim, 20).remove(0);
            assert_eq!(got, full_sort(metric, &q, &data, 20), "{metric:?}");
        }
    }

    #[test]
    fn ip_zeros_of_either_sign_tie_on_id() {
        let mut top = TopK::new(Metric::Ip, 2);
        top.push_block(0, &[0.0, -0.0, 0.0]);
        let ids: Vec<u64> = top.into_sorted().iter().map(|n| n.id).collect();
        assert_eq!(ids, [0, 1]);
    }

    #[test]
    fn k_larger_than_the_data_returns_everything_and_k_zero_nothing() {
        let data = [3.0, 1.0, 2.0];
        let got = flat_search(Metric::L2, &[0.0], &data, 1, 10).remove(0);
        let ids: Vec<u64> = got.iter().map(|n| n.id).collect();
        assert_eq!(ids, [1, 2, 0]);
        assert!(flat_search(Metric::L2, &[0.0], &data, 1, 0)[0].is_empty());
    }
}
