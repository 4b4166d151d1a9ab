//! IVF, Milvus's inverted-file indexes (IVF_FLAT, IVF_SQ8, IVF_PQ): a k-means coarse
//! quantizer splits the vectors into `nlist` lists; a search ranks the centroids, scans
//! the `nprobe` nearest lists in full and keeps the best `k` in a bounded heap.
//!
//! Training follows faiss's `Clustering`, which Milvus calls through knowhere: distinct
//! random training rows as the first centroids, Lloyd iterations under squared L2, and an
//! empty cluster repaired by splitting a large one. Searches count the centroids ranked
//! and the vectors scanned, which is what the cost model charges an IVF search for
//! (anchors: faiss IVF_FLAT nlist 1024 nprobe 64 at 2,373 q/s on 200k x 128).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::distance::{dot_batch, l2sq_batch, Metric};
use super::quant::{Pq, Sq8};
use super::topk::{Neighbor, TopK};

/// Relative offset between the two halves of a split cluster, faiss's `EPS` (1/1024).
const SPLIT_OFFSET: f32 = 1.0 / 1024.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KMeansParams {
    /// Lloyd iterations; faiss trains IVF quantizers with 10.
    pub iterations: usize,
    /// Seeds the initial centroids and the choice of clusters to split.
    pub seed: u64,
}

/// Work done by a k-means training.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KMeansStats {
    pub distance_evals: u64,
    /// Empty clusters refilled by splitting another, summed over iterations.
    pub empty_cluster_repairs: u64,
}

/// Trained centroids, `k` rows of `dim` floats.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    pub centroids: Vec<f32>,
    pub stats: KMeansStats,
}

/// Bytes of centroids compared with a block of rows before moving on: they stay in a
/// core's L1 (32-48 KiB on the machines we model) while the rows take turns, where a
/// pass over all 1,024 x 128 centroids (512 KiB) per row would run from L2.
const CENTROID_BLOCK_BYTES: usize = 16 * 1024;

/// Rows per block: 64 x 128 floats (32 KiB) stay in L2 while the centroid blocks go by.
const ROW_BLOCK: usize = 64;

/// The nearest centroid of each row of `data` under `metric`, into `out`; the first on
/// ties, so assignment is deterministic.
fn nearest_centroids(metric: Metric, data: &[f32], centroids: &[f32], dim: usize, out: &mut [u32]) {
    assert_eq!(data.len(), out.len() * dim, "out is not one slot per row");
    let per_block = (CENTROID_BLOCK_BYTES / (dim * 4)).max(1);
    let mut keys = vec![0.0; per_block];
    let mut best = [f32::INFINITY; ROW_BLOCK];
    for (rows, nearest) in data.chunks(ROW_BLOCK * dim).zip(out.chunks_mut(ROW_BLOCK)) {
        best.fill(f32::INFINITY);
        nearest.fill(0);
        for (b, block) in centroids.chunks(per_block * dim).enumerate() {
            let keys = &mut keys[..block.len() / dim];
            for ((row, best), nearest) in rows
                .chunks_exact(dim)
                .zip(&mut best)
                .zip(nearest.iter_mut())
            {
                match metric {
                    Metric::L2 => l2sq_batch(row, block, keys),
                    Metric::Ip => {
                        dot_batch(row, block, keys);
                        keys.iter_mut().for_each(|d| *d = -*d);
                    }
                }
                for (j, &key) in keys.iter().enumerate() {
                    if key < *best {
                        *best = key;
                        *nearest = (b * per_block + j) as u32;
                    }
                }
            }
        }
    }
}

/// k-means under squared L2 on the rows of `data`.
pub fn kmeans(data: &[f32], dim: usize, k: usize, params: KMeansParams) -> KMeans {
    assert!(
        dim > 0 && data.len().is_multiple_of(dim),
        "training data is not whole rows of {dim} floats"
    );
    let n = data.len() / dim;
    assert!(
        k > 0 && n >= k,
        "k-means of {n} rows into {k} clusters needs 0 < k <= rows"
    );
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    // A partial Fisher-Yates shuffle: the first k of a random permutation of the rows.
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..k {
        let j = rng.random_range(i..n);
        order.swap(i, j);
    }
    let mut centroids: Vec<f32> = order[..k]
        .iter()
        .flat_map(|&r| data[r * dim..(r + 1) * dim].iter().copied())
        .collect();
    let mut stats = KMeansStats::default();
    let mut assignment = vec![0u32; n];
    let mut sums = vec![0.0f64; k * dim];
    let mut counts = vec![0usize; k];
    for _ in 0..params.iterations {
        sums.fill(0.0);
        counts.fill(0);
        nearest_centroids(Metric::L2, data, &centroids, dim, &mut assignment);
        for (row, &c) in data.chunks_exact(dim).zip(&assignment) {
            let c = c as usize;
            counts[c] += 1;
            sums[c * dim..(c + 1) * dim]
                .iter_mut()
                .zip(row)
                .for_each(|(s, &x)| *s += x as f64);
        }
        stats.distance_evals += (n * k) as u64;
        for (c, &count) in counts.iter().enumerate().filter(|(_, &count)| count > 0) {
            let mean = sums[c * dim..(c + 1) * dim]
                .iter()
                .map(|&s| (s / count as f64) as f32);
            centroids[c * dim..(c + 1) * dim]
                .iter_mut()
                .zip(mean)
                .for_each(|(x, m)| *x = m);
        }
        stats.empty_cluster_repairs +=
            repair_empty_clusters(&mut centroids, &mut counts, dim, &mut rng);
    }
    KMeans { centroids, stats }
}

/// faiss's `split_clusters`: each empty cluster takes a copy of a cluster drawn with
/// probability proportional to its size beyond one row, the two copies nudged apart so
/// the next assignment splits the rows between them. Returns the clusters repaired.
fn repair_empty_clusters(
    centroids: &mut [f32],
    counts: &mut [usize],
    dim: usize,
    rng: &mut ChaCha8Rng,
) -> u64 {
    let mut repaired = 0;
    for empty in 0..counts.len() {
        if counts[empty] > 0 {
            continue;
        }
        // rows >= clusters and one cluster is empty, so some cluster holds two rows.
        let excess: usize = counts.iter().map(|&c| c.saturating_sub(1)).sum();
        assert!(
            excess > 0,
            "an empty cluster with no cluster to split: fewer rows than clusters"
        );
        let mut draw = rng.random_range(0..excess);
        let mut donor = 0;
        while draw >= counts[donor].saturating_sub(1) {
            draw -= counts[donor].saturating_sub(1);
            donor += 1;
        }
        let source = centroids[donor * dim..(donor + 1) * dim].to_vec();
        for (j, &x) in source.iter().enumerate() {
            let sign = if j % 2 == 0 { 1.0 } else { -1.0 };
            centroids[empty * dim + j] = x * (1.0 + sign * SPLIT_OFFSET);
            centroids[donor * dim + j] = x * (1.0 - sign * SPLIT_OFFSET);
        }
        counts[empty] = counts[donor] / 2;
        counts[donor] -= counts[empty];
        repaired += 1;
    }
    repaired
}

/// How the lists store their vectors: Milvus's IVF_FLAT, IVF_SQ8 and IVF_PQ.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IvfKind {
    /// The f32 vectors themselves.
    Flat,
    /// One byte per dimension.
    Sq8,
    /// `m` bytes per vector, one per sub-space.
    Pq { m: usize },
}

/// A trained list encoding. Vectors are encoded as they are, where faiss by default
/// encodes their residual from the list's centroid: the work per scanned code is the
/// same, but faiss's IVF_PQ builds one table per probed list where this builds one per
/// query, and residuals quantise more finely.
#[derive(Clone, Debug, PartialEq)]
enum Codec {
    Flat,
    Sq8(Sq8),
    Pq(Pq),
}

/// One inverted list: the ids and, in the same order, the rows assigned to a centroid,
/// as f32 vectors (IVF_FLAT) or as codes (the quantised kinds); the other stays empty.
#[derive(Clone, Debug, Default, PartialEq)]
struct InvertedList {
    ids: Vec<u64>,
    vectors: Vec<f32>,
    codes: Vec<u8>,
}

/// Work done by one IVF search.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IvfSearchStats {
    /// Distances to centroids in the coarse search: `nlist` per query.
    pub centroid_evals: u64,
    pub lists_probed: u64,
    /// Rows whose distance was computed in the probed lists, from a vector or a code.
    pub vectors_scanned: u64,
}

/// An IVF index over its own copy, or encoding, of the vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct Ivf {
    dim: usize,
    metric: Metric,
    centroids: Vec<f32>,
    codec: Codec,
    lists: Vec<InvertedList>,
    rows: usize,
    train_stats: KMeansStats,
}

impl Ivf {
    /// An empty index whose `nlist` centroids, and list encoding, are trained on the rows
    /// of `train`. The centroids come from k-means under L2 whatever the metric, as in
    /// faiss; the metric decides assignment and search. PQ codebooks train with the same
    /// iterations and seed.
    pub fn train(
        train: &[f32],
        dim: usize,
        metric: Metric,
        nlist: usize,
        kind: IvfKind,
        params: KMeansParams,
    ) -> Self {
        let trained = kmeans(train, dim, nlist, params);
        let codec = match kind {
            IvfKind::Flat => Codec::Flat,
            IvfKind::Sq8 => Codec::Sq8(Sq8::train(train, dim)),
            IvfKind::Pq { m } => {
                Codec::Pq(Pq::train(train, dim, m, params.iterations, params.seed))
            }
        };
        Ivf {
            dim,
            metric,
            centroids: trained.centroids,
            codec,
            lists: vec![InvertedList::default(); nlist],
            rows: 0,
            train_stats: trained.stats,
        }
    }

    pub fn nlist(&self) -> usize {
        self.lists.len()
    }

    pub fn len(&self) -> usize {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn train_stats(&self) -> KMeansStats {
        self.train_stats
    }

    /// Rows in each list.
    pub fn list_lengths(&self) -> Vec<usize> {
        self.lists.iter().map(|l| l.ids.len()).collect()
    }

    /// Distances from `query` to every centroid, smaller is closer under both metrics.
    fn centroid_keys(&self, query: &[f32], out: &mut [f32]) {
        match self.metric {
            Metric::L2 => l2sq_batch(query, &self.centroids, out),
            Metric::Ip => {
                dot_batch(query, &self.centroids, out);
                out.iter_mut().for_each(|d| *d = -*d);
            }
        }
    }

    /// Appends the rows of `data` to their nearest centroids' lists; ids continue from the
    /// rows already added. Returns the distance evaluations spent assigning.
    pub fn add(&mut self, data: &[f32]) -> u64 {
        assert!(
            data.len().is_multiple_of(self.dim),
            "data is not whole rows of {} floats",
            self.dim
        );
        let mut assignment = vec![0u32; data.len() / self.dim];
        nearest_centroids(
            self.metric,
            data,
            &self.centroids,
            self.dim,
            &mut assignment,
        );
        let mut code = vec![0; self.dim];
        for (row, &c) in data.chunks_exact(self.dim).zip(&assignment) {
            let list = &mut self.lists[c as usize];
            list.ids.push(self.rows as u64);
            match &self.codec {
                Codec::Flat => list.vectors.extend_from_slice(row),
                Codec::Sq8(sq) => {
                    sq.encode(row, &mut code);
                    list.codes.extend_from_slice(&code);
                }
                Codec::Pq(pq) => {
                    pq.encode(row, &mut code[..pq.m()]);
                    list.codes.extend_from_slice(&code[..pq.m()]);
                }
            }
            self.rows += 1;
        }
        (data.len() / self.dim * self.nlist()) as u64
    }

    /// The `k` nearest neighbours of `query` among the `nprobe` lists whose centroids are
    /// nearest, best first, and the work it took. Quantised kinds rank by, and return,
    /// the distance to the code's reconstruction.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        nprobe: usize,
    ) -> (Vec<Neighbor>, IvfSearchStats) {
        assert_eq!(
            query.len(),
            self.dim,
            "query of dimension {} in an index of dimension {}",
            query.len(),
            self.dim
        );
        let mut keys = vec![0.0; self.nlist()];
        self.centroid_keys(query, &mut keys);
        let mut probe = TopK::new(Metric::L2, nprobe);
        probe.push_block(0, &keys);
        let mut stats = IvfSearchStats {
            centroid_evals: self.nlist() as u64,
            ..IvfSearchStats::default()
        };
        let table = match &self.codec {
            Codec::Pq(pq) => pq.table(self.metric, query),
            Codec::Flat | Codec::Sq8(_) => Vec::new(),
        };
        let mut top = TopK::new(self.metric, k);
        let mut distances = Vec::new();
        for chosen in probe.into_sorted() {
            let list = &self.lists[chosen.id as usize];
            distances.resize(list.ids.len(), 0.0);
            match (&self.codec, self.metric) {
                (Codec::Flat, Metric::L2) => l2sq_batch(query, &list.vectors, &mut distances),
                (Codec::Flat, Metric::Ip) => dot_batch(query, &list.vectors, &mut distances),
                (Codec::Sq8(sq), metric) => {
                    sq.distance_batch(metric, query, &list.codes, &mut distances)
                }
                (Codec::Pq(pq), _) => pq.adc_batch(&table, &list.codes, &mut distances),
            }
            for (&id, &distance) in list.ids.iter().zip(&distances) {
                top.push(id, distance);
            }
            stats.lists_probed += 1;
            stats.vectors_scanned += list.ids.len() as u64;
        }
        (top.into_sorted(), stats)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;
    use std::time::Instant;

    use super::*;
    use crate::kernels::data::{recall_at_k, LowRank, Mixture};
    use crate::kernels::distance::l2sq;
    use crate::kernels::topk::flat_search;

    const PARAMS: KMeansParams = KMeansParams {
        iterations: 10,
        seed: 42,
    };

    fn search_all(
        index: &Ivf,
        queries: &[f32],
        k: usize,
        nprobe: usize,
    ) -> (Vec<Vec<Neighbor>>, IvfSearchStats) {
        let mut total = IvfSearchStats::default();
        let found = queries
            .chunks_exact(index.dim)
            .map(|q| {
                let (hits, stats) = index.search(q, k, nprobe);
                total.centroid_evals += stats.centroid_evals;
                total.lists_probed += stats.lists_probed;
                total.vectors_scanned += stats.vectors_scanned;
                hits
            })
            .collect();
        (found, total)
    }

    /// 60k x 128 rows from 2,048 Gaussian clusters of ~29 rows, two to a list, that
    /// overlap enough for a query's neighbours to spread over several lists (recall@10
    /// 0.86 at nprobe 1, 0.97 at 16: well-separated clusters would give 1.0 and test
    /// nothing). Trained on the first 40k rows, 39 per centroid, the least faiss trains
    /// on without a warning.
    struct Fixture {
        index: Ivf,
        queries: Vec<f32>,
        truth: Vec<Vec<Neighbor>>,
    }

    fn fixture() -> &'static Fixture {
        static FIXTURE: OnceLock<Fixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let (dim, rows, nlist) = (128, 60_000, 1024);
            let source = Mixture::new(dim, 2048, 0.9, 1);
            let data = source.sample(rows, 2);
            let queries = source.sample(200, 3);
            let mut index = Ivf::train(
                &data[..40_000 * dim],
                dim,
                Metric::L2,
                nlist,
                IvfKind::Flat,
                PARAMS,
            );
            index.add(&data);
            let truth = flat_search(Metric::L2, &queries, &data, dim, 10);
            Fixture {
                index,
                queries,
                truth,
            }
        })
    }

    #[test]
    fn recall_at_10_with_nprobe_16_of_1024_lists() {
        let f = fixture();
        let (found, _) = search_all(&f.index, &f.queries, 10, 16);
        let recall = recall_at_k(&found, &f.truth, 10);
        assert!(recall >= 0.9, "recall@10 {recall}");
    }

    #[test]
    fn work_and_recall_grow_with_nprobe() {
        let f = fixture();
        let queries = (f.queries.len() / f.index.dim) as u64;
        let mut previous = (IvfSearchStats::default(), 0.0);
        for nprobe in [1, 4, 16, 64] {
            let (found, stats) = search_all(&f.index, &f.queries, 10, nprobe);
            let recall = recall_at_k(&found, &f.truth, 10);
            assert_eq!(stats.centroid_evals, queries * f.index.nlist() as u64);
            assert_eq!(stats.lists_probed, queries * nprobe as u64);
            assert!(
                stats.vectors_scanned > previous.0.vectors_scanned,
                "nprobe {nprobe}: {stats:?}"
            );
            assert!(
                recall >= previous.1,
                "nprobe {nprobe}: recall {recall} fell from {}",
                previous.1
            );
            previous = (stats, recall);
        }
    }

    #[test]
    fn every_row_lands_in_exactly_one_list() {
        let index = &fixture().index;
        let lengths = index.list_lengths();
        assert_eq!(lengths.iter().sum::<usize>(), index.len());
        assert!(
            lengths.iter().all(|&l| l > 0),
            "an empty list after training on the same distribution"
        );
        let mut ids: Vec<u64> = index
            .lists
            .iter()
            .flat_map(|l| l.ids.iter().copied())
            .collect();
        ids.sort_unstable();
        assert!(ids.iter().copied().eq(0..index.len() as u64));
    }

    #[test]
    fn probing_every_list_is_exact_search() {
        let dim = 16;
        let source = Mixture::new(dim, 8, 1.0, 4);
        let data = source.sample(2_000, 5);
        let queries = source.sample(20, 6);
        for metric in [Metric::L2, Metric::Ip] {
            let mut index = Ivf::train(&data, dim, metric, 32, IvfKind::Flat, PARAMS);
            index.add(&data);
            let (found, stats) = search_all(&index, &queries, 10, 32);
            // Ids, not distances: a batch kernel may round a vector differently by its
            // position in the batch, and lists order rows otherwise than the data does.
            let ids = |hits: &[Vec<Neighbor>]| {
                hits.iter()
                    .map(|h| h.iter().map(|n| n.id).collect::<Vec<_>>())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                ids(&found),
                ids(&flat_search(metric, &queries, &data, dim, 10)),
                "{metric:?}"
            );
            assert_eq!(stats.vectors_scanned, 20 * 2_000);
        }
    }

    #[test]
    fn quantised_lists_rank_nearly_as_exact_vectors_do() {
        let dim = 64;
        let source = Mixture::new(dim, 32, 0.5, 11);
        let data = source.sample(8_000, 12);
        let queries = source.sample(100, 13);
        for metric in [Metric::L2, Metric::Ip] {
            let truth = flat_search(metric, &queries, &data, dim, 10);
            // PQ's floor is low but far above chance (10 of 8,000): 256 centroids per
            // 4-dim sub-space blur the differences between neighbours inside one cluster,
            // and raw vectors, not residuals, are encoded.
            for (kind, floor) in [(IvfKind::Sq8, 0.9), (IvfKind::Pq { m: 16 }, 0.35)] {
                let mut index = Ivf::train(&data[..4_000 * dim], dim, metric, 64, kind, PARAMS);
                index.add(&data);
                // Every list, so that the quantisation alone costs recall.
                let (found, stats) = search_all(&index, &queries, 10, 64);
                assert_eq!(stats.vectors_scanned, 100 * 8_000);
                let recall = recall_at_k(&found, &truth, 10);
                assert!(recall >= floor, "{metric:?} {kind:?}: recall@10 {recall}");
            }
        }
    }

    /// Sum of squared distances from each row to its nearest centroid.
    fn inertia(data: &[f32], centroids: &[f32], dim: usize) -> f64 {
        data.chunks_exact(dim)
            .map(|row| {
                centroids
                    .chunks_exact(dim)
                    .map(|c| l2sq(row, c))
                    .fold(f32::INFINITY, f32::min) as f64
            })
            .sum()
    }

    #[test]
    fn lloyd_iterations_lower_the_inertia_and_repeat_exactly() {
        let dim = 16;
        let data = Mixture::new(dim, 20, 1.0, 7).sample(3_000, 8);
        let fit = |iterations, seed| kmeans(&data, dim, 64, KMeansParams { iterations, seed });
        let (start, trained) = (fit(0, 1), fit(10, 1));
        assert!(
            inertia(&data, &trained.centroids, dim) < 0.9 * inertia(&data, &start.centroids, dim)
        );
        assert_eq!(trained, fit(10, 1));
        assert_ne!(trained.centroids, fit(10, 2).centroids);
        assert_eq!(trained.stats.distance_evals, 10 * 3_000 * 64);
    }

    #[test]
    fn empty_clusters_are_split_from_large_ones() {
        // 4 distinct rows, one of them 96 times: most random starts pick it twice, and
        // a duplicate centroid loses every row to its twin.
        let dim = 4;
        let mut data: Vec<f32> = (0..96).flat_map(|_| [1.0, 2.0, 3.0, 4.0]).collect();
        data.extend([
            10.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0.0, 0.0, 0.0, 0.0, 10.0, 0.0,
        ]);
        let trained = kmeans(
            &data,
            dim,
            8,
            KMeansParams {
                iterations: 5,
                seed: 3,
            },
        );
        assert!(trained.stats.empty_cluster_repairs > 0);
        assert!(trained.centroids.iter().all(|x| x.is_finite()));
        // The split copies straddle the crowded row, a relative 1/1024 apart.
        let near = trained
            .centroids
            .chunks_exact(dim)
            .filter(|c| l2sq(c, &[1.0, 2.0, 3.0, 4.0]) < 1e-3)
            .count();
        assert!(near >= 2, "{near} centroids at the crowded row");
    }

    /// The anchors' IVF row, measured: `cargo test --release --lib kernels::ivf -- --ignored --nocapture`.
    #[test]
    #[ignore = "measurement: ~1 min on 200k x 128"]
    fn measure_against_the_anchors() {
        let (dim, rows, query_count, nlist) = (128, 200_000, 2_000, 1024);
        let source = LowRank::new(dim, 1);
        let data = source.sample(rows, 2);
        let queries = source.sample(query_count, 3);
        let started = Instant::now();
        let mut index = Ivf::train(&data, dim, Metric::L2, nlist, IvfKind::Flat, PARAMS);
        let train_us_per_row = started.elapsed().as_secs_f64() * 1e6 / rows as f64;
        let started = Instant::now();
        index.add(&data);
        let add_us_per_row = started.elapsed().as_secs_f64() * 1e6 / rows as f64;
        println!("k-means ({} iterations): {train_us_per_row:.1} us per training row; assign {add_us_per_row:.2} us per row", PARAMS.iterations);
        let truth = flat_search(Metric::L2, &queries, &data, dim, 10);
        for nprobe in [8, 16, 32, 64] {
            let started = Instant::now();
            let (found, stats) = search_all(&index, &queries, 10, nprobe);
            let seconds = started.elapsed().as_secs_f64();
            println!(
                "nprobe {nprobe}: {:.0} q/s, recall@10 {:.4}, {:.0} vectors scanned per query, {:.2} ns per scanned vector",
                query_count as f64 / seconds,
                recall_at_k(&found, &truth, 10),
                stats.vectors_scanned as f64 / query_count as f64,
                seconds * 1e9 / stats.vectors_scanned as f64,
            );
        }
        println!("anchors (200k x 128, nlist 1024 nprobe 64): faiss 2,373 q/s, recall 0.976; k-means 14 us/train-vector, assign 1.6 us/vector");
    }
}
