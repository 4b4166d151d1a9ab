//! Cost of vector-search work on a target host, from a calibration profile.
//!
//! A profile (`simctl calibrate`, see `crate::calibrate`) holds what this repository's
//! kernels measured on one real machine. The model maps work to time on a target host
//! roofline-style (DESIGN.md "Hardware cost model"; README "Cost model"):
//!
//! ```text
//! clock_scale    = calibration GHz / target GHz
//! compute(work)  = measured ns on the target's ISA * clock_scale
//! thread_bw      = min(calibration 1-thread bandwidth, target bandwidth / threads)
//! memory(work)   = bytes / thread_bw
//! time(work)     = max(compute, memory)
//! ```
//!
//! * "Measured ns on the target's ISA" comes from the profile's rows for that ISA, so the
//!   ISA ratio is the one measured on the calibration machine (for example AVX2 against
//!   AVX-512 at the same dim). An ISA the calibration machine could not run is carried
//!   over from a measured one by a stated factor.
//! * `threads` is how many threads stream at once on the host. A simulated host assumes
//!   all its cores do (the pessimistic share, as a busy query node has); one core alone
//!   never streams faster than the calibration machine's single thread did.
//! * Work that is not SIMD arithmetic (top-k heaps, HNSW bookkeeping, PQ table lookups)
//!   scales with the clock only. DRAM latency (HNSW's dependent misses, measured as the
//!   extra time per node on graphs bigger than cache) scales with neither: it is a
//!   property of the memory, taken from the calibration machine.

use std::sync::Arc;

use super::host::{HostSpec, Isa};
use crate::calibrate::profile::{MetricName, Profile};
use crate::kernels::topk::TILED_MIN_QUERIES;

/// Index types of Milvus 2.3: the in-memory ones, and DISKANN (graph and vectors on the
/// query node's local disk, compressed vectors in memory).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IndexKind {
    #[serde(rename = "FLAT")]
    Flat,
    #[serde(rename = "IVF_FLAT")]
    IvfFlat,
    #[serde(rename = "IVF_SQ8")]
    IvfSq8,
    #[serde(rename = "IVF_PQ")]
    IvfPq,
    #[serde(rename = "HNSW")]
    Hnsw,
    #[serde(rename = "DISKANN")]
    DiskAnn,
}

impl IndexKind {
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Flat => "FLAT",
            IndexKind::IvfFlat => "IVF_FLAT",
            IndexKind::IvfSq8 => "IVF_SQ8",
            IndexKind::IvfPq => "IVF_PQ",
            IndexKind::Hnsw => "HNSW",
            IndexKind::DiskAnn => "DISKANN",
        }
    }
}

/// Build and search parameters of an index, resolved with Milvus's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct IndexSpec {
    pub kind: IndexKind,
    pub dim: u32,
    /// IVF: number of lists.
    pub nlist: u32,
    /// IVF_PQ: sub-quantisers and bits per code.
    pub pq_m: u32,
    pub pq_nbits: u32,
    /// HNSW: graph degree.
    pub hnsw_m: u32,
    /// DISKANN: Milvus's `common.DiskIndex` settings.
    pub diskann: DiskAnnSpec,
}

/// DISKANN build and load settings: Milvus 2.3 takes them from `common.DiskIndex` in
/// milvus.yaml, not from create_index (reference §1.9).
#[derive(Clone, Debug, PartialEq)]
pub struct DiskAnnSpec {
    /// Graph degree R: links per node.
    pub max_degree: u32,
    /// Candidate list while building (Vamana's L).
    pub build_search_list: u32,
    /// PQ codes kept in memory, as a share of the raw vectors' bytes.
    pub pq_code_budget_ratio: f64,
    /// Beam width per query-node core (clamped, see [`HostCost::diskann_beam_width`]).
    pub beam_width_ratio: f64,
    /// Search cache, as a share of the raw vectors' bytes (see
    /// [`HostCost::diskann_cached_levels`]); 0 turns it off.
    pub search_cache_budget_ratio: f64,
}

impl Default for DiskAnnSpec {
    /// reference §1.9: MaxDegree 56, SearchListSize 100, PQCodeBudgetGBRatio 0.125,
    /// BeamWidthRatio 4, SearchCacheBudgetGBRatio 0.1.
    fn default() -> DiskAnnSpec {
        DiskAnnSpec {
            max_degree: 56,
            build_search_list: 100,
            pq_code_budget_ratio: 0.125,
            beam_width_ratio: 4.0,
            search_cache_budget_ratio: 0.1,
        }
    }
}

impl DiskAnnSpec {
    /// Bytes of PQ code per vector of `dim` f32s: one byte per sub-quantiser of 2^8
    /// centroids, so also the number of table lookups per PQ distance.
    pub fn pq_bytes(&self, dim: u32) -> u32 {
        ((self.pq_code_budget_ratio * 4.0 * dim as f64) as u32).max(1)
    }
}

/// Search-time parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpec {
    pub nq: u32,
    pub topk: u32,
    pub nprobe: u32,
    pub ef: u32,
    /// DISKANN: candidate list size (Milvus's `search_list`).
    pub search_list: u32,
}

// GUESS: per segment per sub-request fixed cost (goroutine, cgo call into knowhere,
// result allocation and segcore reduce set-up): Milvus software, not kernel work, so
// calibration does not measure it.
pub const SEGMENT_OVERHEAD_NS: f64 = 20_000.0;
// GUESS: merging one (id, distance) pair during a reduce.
pub const REDUCE_NS_PER_RESULT: f64 = 15.0;
// GUESS: 128-bit NEON against 256-bit AVX2 vectors when no NEON machine was calibrated.
const NEON_OVER_AVX2: f64 = 2.0;
// performance-anchors.md "Machine limits": 130 GFLOP/s with 256-bit FMA against 241 with
// 512-bit on one core, for an AVX-512 target when the calibration machine had none.
const AVX512_OVER_AVX2: f64 = 130.0 / 241.0;
// GUESS: faiss's k-means defaults as knowhere's IVF training uses them: 10 iterations
// (as `kernels::ivf`), at most 256 training rows per centroid.
const KMEANS_ITERATIONS: f64 = 10.0;
const KMEANS_ROWS_PER_CENTROID: u64 = 256;
/// PQ codebooks: 2^8 centroids per sub-quantiser (`kernels::quant::PQ_CENTROIDS`).
const PQ_CENTROIDS: f64 = 256.0;
/// Cache line: the unit an HNSW link row is fetched in.
const LINE_BYTES: u64 = 64;
/// DiskANN reads whole 4 KiB sectors.
const DISK_SECTOR_BYTES: u64 = 4096;
/// The most node reads a DISKANN hop issues at once, whatever BeamWidthRatio x cores
/// gives. GUESS: Milvus 2.3 caps the beam width at 16 in code (`MaxBeamWidth`, applied
/// in `SetDiskIndexLoadParams` when a query node loads a DiskANN segment; recalled from
/// the source, not in the reference), not through milvus.yaml, so it is no Milvus knob.
pub const MAX_BEAM_WIDTH: u32 = 16;
// GUESS: Vamana builds the graph in two passes (alpha 1, then alpha > 1; DiskANN paper).
const VAMANA_PASSES: f64 = 2.0;
// GUESS: rows sampled to train DiskANN's PQ codebooks (DiskANN's training-set cap).
const DISKANN_PQ_TRAIN_ROWS: u64 = 256_000;
// reference §1.8: a query node refuses DiskANN loads above this share of its disk
// (`queryNode.maxDiskUsagePercentage` 95).
pub const QUERY_NODE_MAX_DISK_USAGE: f64 = 0.95;

/// Which measured rows stand for a target ISA, and the factor on them.
fn isa_source(p: &Profile, target: Isa) -> (Isa, f64) {
    if p.has_isa(target) {
        return (target, 1.0);
    }
    match target {
        Isa::Neon if p.has_isa(Isa::Avx2) => (Isa::Avx2, NEON_OVER_AVX2),
        Isa::Avx512 if p.has_isa(Isa::Avx2) => (Isa::Avx2, AVX512_OVER_AVX2),
        // GUESS: the calibration ISA's speed where nothing closer was measured.
        _ => (p.machine.isa, 1.0),
    }
}

/// The cost model of one target host under one profile.
#[derive(Clone, Debug)]
pub struct HostCost {
    profile: Arc<Profile>,
    /// The host's own ISA (which kernels it dispatches to).
    target_isa: Isa,
    /// Measured rows that stand for the host's ISA, and the factor on them.
    isa: Isa,
    isa_factor: f64,
    /// Calibration clock over the host's clock.
    clock_scale: f64,
    /// Bytes/s one thread streams while the host's `threads` threads all stream.
    thread_bytes_per_s: f64,
    /// The same for a brute-force scan, on the cores the model has
    /// ([`HostCost::brute_force_ns`]).
    scan_bytes_per_s: f64,
    /// The host's cores (DISKANN's beam width follows them).
    cores: u32,
    /// The local disk's random reads/s and read bytes/s one thread gets while the
    /// host's `threads` threads all read (the same pessimistic share as memory).
    thread_disk_iops: f64,
    thread_disk_bytes_per_s: f64,
    /// One random read at queue depth 1 (the disk spec's `read_latency`), ns.
    disk_read_latency_ns: f64,
    /// HNSW search: ns per byte of a visited node's vector beyond the calibration dim's
    /// ([`hnsw_fetch_ns_per_byte`]).
    hnsw_fetch_ns_per_byte: f64,
}

/// What one DISKANN query costs on one segment.
#[derive(Clone, Debug, PartialEq)]
pub struct DiskAnnSearch {
    /// Beam width: node reads issued together in one hop.
    pub beam_width: u32,
    /// Nodes the search reads, from the search cache or the disk (the candidate list,
    /// at most the rows).
    pub reads: f64,
    /// Rounds of reads: reads / beam width.
    pub hops: f64,
    /// The first hops, served from the search cache instead of the disk.
    pub cached_hops: f64,
    /// Bytes read from disk (whole sectors), the cached hops' nodes not included.
    pub read_bytes: f64,
    /// Arithmetic: the PQ table, a full distance per node read, PQ distances to its links.
    pub compute_ns: f64,
    /// Waiting for the disk: latency per hop, or the IOPS or bandwidth share if tighter.
    pub io_ns: f64,
}

impl HostCost {
    /// The host with every core streaming at once (a loaded query node).
    pub fn for_host(h: &HostSpec, profile: &Arc<Profile>) -> HostCost {
        HostCost::with_threads(h, profile, h.cores)
    }

    /// The host with `threads` threads streaming at once.
    pub fn with_threads(h: &HostSpec, profile: &Arc<Profile>, threads: u32) -> HostCost {
        let (isa, isa_factor) = isa_source(profile, h.isa);
        let share = |streams: f64| {
            (h.memory_bandwidth_bytes_per_s / streams.max(1.0))
                .min(profile.single_thread_bytes_per_s())
        };
        let thread_bytes_per_s = share(threads as f64);
        // Processes outside the model (`background_cores`, b) are taken to be CPU work
        // that leaves the bandwidth to the model's threads: a sequential scan streams
        // at the share of the cores the model's threads run on at once, T·min(1, C/(T+b))
        // as the CPU shares them (hw::cpu).
        let runnable = threads as f64 + h.background_cores;
        let running = if runnable > 0.0 {
            threads as f64 * (h.cores as f64 / runnable).min(1.0)
        } else {
            0.0
        };
        let scan_bytes_per_s = share(running);
        let threads = threads.max(1) as f64;
        HostCost {
            profile: profile.clone(),
            target_isa: h.isa,
            isa,
            isa_factor,
            clock_scale: profile.machine.ghz / h.ghz,
            thread_bytes_per_s,
            scan_bytes_per_s,
            cores: h.cores,
            thread_disk_iops: h.disk.iops / threads,
            thread_disk_bytes_per_s: h.disk.read_bytes_per_s / threads,
            disk_read_latency_ns: h.disk.read_latency.as_nanos() as f64,
            hnsw_fetch_ns_per_byte: hnsw_fetch_ns_per_byte(profile),
        }
    }

    /// Arithmetic time of one f32 distance at `dim` on this host, data in cache.
    pub fn distance_compute_ns(&self, metric: MetricName, dim: u32) -> f64 {
        self.profile.cache_ns(self.isa, metric, dim) * self.isa_factor * self.clock_scale
    }

    /// Compute time per (query, vector) of a flat search of `nq` queries on the
    /// transposed kernels, if this host runs them for `nq` (AVX-512, as
    /// `kernels::topk::flat_search` dispatches, from `TILED_MIN_QUERIES`) and the
    /// profile measured them on AVX-512; `None` means the pair kernels price it.
    pub fn tiled_ns(&self, metric: MetricName, dim: u32, nq: u32) -> Option<f64> {
        if (nq as usize) < TILED_MIN_QUERIES || self.target_isa != Isa::Avx512 {
            return None;
        }
        let ns = self.profile.tiled_cache_ns(Isa::Avx512, metric, dim)?;
        Some(ns * self.clock_scale)
    }

    /// Time to stream `bytes` on one thread of this host.
    pub fn memory_ns(&self, bytes: f64) -> f64 {
        bytes * 1e9 / self.thread_bytes_per_s
    }

    /// One thread's pass over `rows` rows doing `compute_ns_per_row` of scalar work
    /// (at the calibration machine's clock) on `bytes_per_row` streamed from memory:
    /// the larger of the two (roofline).
    pub fn row_scan_ns(&self, rows: u64, compute_ns_per_row: f64, bytes_per_row: u64) -> f64 {
        let compute = rows as f64 * self.scalar_ns(compute_ns_per_row);
        compute.max(self.memory_ns((rows * bytes_per_row) as f64))
    }

    /// Non-SIMD work measured as `ns` on the calibration machine.
    fn scalar_ns(&self, ns: f64) -> f64 {
        ns * self.clock_scale
    }

    /// Ratio of the host's distance time at `dim` to the calibration machine's: how
    /// distance-dominated work measured there (k-means) carries over.
    /// `calibrated_dim` is the dim the work was measured at.
    fn distance_ratio(&self, calibrated_dim: u32, dim: u32) -> f64 {
        let p = &self.profile;
        let at_cal = p.cache_ns(p.machine.isa, MetricName::L2, calibrated_dim);
        self.distance_compute_ns(MetricName::L2, dim) / at_cal
    }

    /// HNSW: layer-0 nodes a search visits (the profile's fitted law), at most `rows`.
    pub fn hnsw_visited(&self, rows: u64, m: u32, ef: u32) -> f64 {
        let h = &self.profile.hnsw;
        let ln_n = (rows.max(3) as f64).ln();
        let v = h.visited_a
            * (ef.max(1) as f64).powf(h.visited_ef_exp)
            * (m.max(2) as f64).powf(h.visited_m_exp)
            * ln_n.powf(h.visited_ln_n_exp);
        v.min(rows as f64)
    }

    /// HNSW: distance evaluations per insert, averaged over a build of `rows` (the
    /// profile's fitted law).
    pub fn hnsw_build_evals_per_insert(&self, rows: u64, m: u32, ef_construction: u32) -> f64 {
        let h = &self.profile.hnsw;
        let ln_n = (rows.max(3) as f64).ln();
        h.build_a
            * (ef_construction.max(1) as f64).powf(h.build_ef_exp)
            * (m.max(2) as f64).powf(h.build_m_exp)
            * ln_n.powf(h.build_ln_n_exp)
    }

    /// HNSW: time per visited node of a search on a graph of `rows` at `dim` with links
    /// of up to `2m` neighbours.
    ///
    /// ```text
    /// compute = (v(smallest) - d_cal(calibration dim)) * clock_scale + d(dim)
    /// latency = v(rows) - v(smallest)     (dependent misses on a graph bigger than cache)
    /// fetch   = 4 (dim - calibration dim) * f    (0 at or below the calibration dim)
    /// memory  = (4 dim + lines(4 (2m + 1))) / thread_bw
    /// per visited = max(compute + latency + fetch, memory)
    /// ```
    /// where `v(n)` is the profile's measured search time per visited node on a graph of
    /// `n` rows, interpolated in ln n and held at the largest graph measured beyond it,
    /// `d` the in-cache distance time, and `f` the measured time per byte one search
    /// thread spends fetching a wider vector ([`hnsw_fetch_ns_per_byte`]): a visited
    /// node's vector is one dependent read the distance waits for, so at high dims a
    /// lone search pays for its bytes at its own pace, not only at the host's bandwidth
    /// share. Like `latency`, `fetch` is a property of the memory, not scaled by clock.
    pub fn hnsw_ns_per_visited(&self, rows: u64, dim: u32, m: u32) -> f64 {
        let p = &self.profile;
        let table = p.hnsw.ns_per_visited_by_rows();
        let (compute, latency) = self.split_latency(&table, rows, dim);
        let wider_bytes = 4.0 * dim.saturating_sub(p.hnsw.dim) as f64;
        let fetch = wider_bytes * self.hnsw_fetch_ns_per_byte;
        let link_bytes = (4 * (2 * m as u64 + 1)).div_ceil(LINE_BYTES) * LINE_BYTES;
        let memory = self.memory_ns(4.0 * dim as f64 + link_bytes as f64);
        (compute + latency + fetch).max(memory)
    }

    /// Splits a per-node time measured at dim `hnsw.dim` over graph sizes into this
    /// host's compute (the smallest graph's time, its distance replaced by this host's
    /// at `dim`, scaled by the clock) and the latency misses add at `rows` (a property
    /// of the memory, not scaled).
    fn split_latency(&self, table: &[(u64, f64)], rows: u64, dim: u32) -> (f64, f64) {
        let p = &self.profile;
        let cal_distance = p.cache_ns(p.machine.isa, MetricName::L2, p.hnsw.dim);
        let smallest = table[0].1;
        let compute = self.scalar_ns((smallest - cal_distance).max(0.0))
            + self.distance_compute_ns(MetricName::L2, dim);
        let latency = (interpolate_ln_rows(table, rows) - smallest).max(0.0);
        (compute, latency)
    }

    /// Per-code arithmetic and bytes of an IVF list scan.
    fn ivf_code(&self, idx: &IndexSpec) -> (f64, f64) {
        let p = &self.profile;
        let d = idx.dim;
        match idx.kind {
            IndexKind::IvfSq8 => {
                let ns = match p.sq8_ns(self.isa, d) {
                    Some(ns) => ns * self.isa_factor * self.clock_scale,
                    // SQ8 not measured on this ISA: the f32 time scaled by the ratio the
                    // calibration ISA showed between SQ8 and f32.
                    None => {
                        let cal = p.machine.isa;
                        let ratio =
                            p.sq8_ns(cal, d).unwrap_or(1.0) / p.cache_ns(cal, MetricName::L2, d);
                        ratio * self.distance_compute_ns(MetricName::L2, d)
                    }
                };
                (ns, d as f64)
            }
            IndexKind::IvfPq => (
                self.scalar_ns(idx.pq_m as f64 * p.ivf.pq_ns_per_lookup),
                (idx.pq_m * idx.pq_nbits).div_ceil(8) as f64,
            ),
            _ => (self.distance_compute_ns(MetricName::L2, d), 4.0 * d as f64),
        }
    }

    /// Core-nanoseconds to search one segment of `rows` for `s.nq` queries.
    ///
    /// ```text
    /// FLAT   max(q, rows * 4 dim bytes / thread_bw) + (nq - 1) * q,
    ///        q = rows * (d(dim) + topk): the blocked scan of kernels::topk::flat_search
    ///        streams each block from RAM with the first query, then runs the other
    ///        queries over it from cache, one after the other (no overlap to exploit);
    ///        from nq = TILED_MIN_QUERIES on an AVX-512 host (the kernel's own switch)
    ///        max(nq * rows * t(dim), rows * 4 dim bytes / thread_bw), t the profile's
    ///        transposed-kernel ns per (query, vector) in cache (transposition and
    ///        top-k compares included) scaled by the clock; a profile without
    ///        [[tiled]] rows keeps the pair-kernel formula for every nq
    /// IVF_*  per query: max(nlist * d(dim), nlist * 4 dim bytes / thread_bw) (coarse)
    ///        + 256 * d(dim) (IVF_PQ distance tables)
    ///        + max(scanned * (code + topk), scanned * code bytes / thread_bw),
    ///        scanned = rows * min(nprobe, nlist) / nlist;
    ///        code = d(dim) and 4 dim bytes (FLAT), SQ8 time and dim bytes,
    ///        m * PQ lookup and m * nbits / 8 bytes (PQ)
    /// HNSW   per query: visited(rows, M, max(ef, topk)) * per_visited(dim, M)
    /// DISKANN per query: compute + IO of [`HostCost::diskann_search`]
    /// ```
    /// plus a fixed per-segment overhead. `d` is [`HostCost::distance_compute_ns`] and
    /// `topk` the profile's heap time per candidate, scaled by the clock. A FLAT
    /// segment (raw data: FLAT, growing and unindexed segments) is searched as Milvus
    /// does, by knowhere's brute force ([`HostCost::brute_force_ns`]), not by the
    /// blocked scan the FLAT line describes.
    pub fn segment_search_ns(&self, idx: &IndexSpec, rows: u64, s: &SearchSpec) -> f64 {
        let work = match idx.kind {
            IndexKind::Flat => self.brute_force_ns(idx.dim, rows, s),
            _ => self.segment_search_work_ns(idx, rows, s),
        };
        SEGMENT_OVERHEAD_NS + work
    }

    /// Core-nanoseconds of knowhere's brute force over `rows` raw vectors for `s.nq`
    /// queries, as Milvus 2.3 searches raw data (segcore's `BruteForceSearch` calls
    /// knowhere 2.x `BruteForce::Search`, which pushes one task per query onto the
    /// search thread pool, each a faiss scan of one query over every row):
    ///
    /// ```text
    /// nq * max(rows * (d(dim) + topk), rows * 4 dim bytes / scan_bw)
    /// scan_bw = min(1-thread bandwidth, bandwidth / (cores - background cores))
    /// ```
    ///
    /// Every query streams the whole segment from RAM on its own (no pass shared among
    /// queries, no transposed kernel), so the cost grows in step with nq. The fidelity
    /// records show it: the real server's CPU per FLAT search of 200k x 128 is 6.4 ms
    /// at nq 1, 43 ms at nq 10 and 487 ms at nq 100 (100k x 768: 15 ms, 135 ms,
    /// 1349 ms), 4-5 ms (13.5 ms) per query, a pass over the 102 MB (307 MB) at about
    /// 21-25 GB/s each time, with other processes using 0.6-1.1 of the two cores:
    /// the stream runs at the share of the cores the model has, not at the share of
    /// every core. The other memory terms (IVF lists, HNSW nodes) are not long
    /// sequential scans and keep the share of every core: the same records put the
    /// real IVF_FLAT list scans at 13-15 GB/s a thread and the HNSW build at the
    /// model's CPU with it, whatever the others used.
    pub fn brute_force_ns(&self, dim: u32, rows: u64, s: &SearchSpec) -> f64 {
        let n = rows as f64;
        let topk = self.scalar_ns(self.profile.topk.ns_per_candidate);
        let per_query = n * (self.distance_compute_ns(MetricName::L2, dim) + topk);
        let stream = n * 4.0 * dim as f64 * 1e9 / self.scan_bytes_per_s;
        s.nq as f64 * per_query.max(stream)
    }

    /// The kernel work of [`HostCost::segment_search_ns`], without Milvus's per-segment
    /// overhead: what `kernels` would take for the same search (for FLAT, this
    /// repository's blocked scan, which Milvus does not run: see
    /// [`HostCost::brute_force_ns`]).
    pub fn segment_search_work_ns(&self, idx: &IndexSpec, rows: u64, s: &SearchSpec) -> f64 {
        let p = &self.profile;
        let n = rows as f64;
        let nq = s.nq as f64;
        let d = idx.dim;
        let topk = self.scalar_ns(p.topk.ns_per_candidate);
        match idx.kind {
            IndexKind::Flat => {
                let stream = self.memory_ns(n * 4.0 * d as f64);
                if let Some(t) = self.tiled_ns(MetricName::L2, d, s.nq) {
                    return (nq * n * t).max(stream);
                }
                let per_query = n * (self.distance_compute_ns(MetricName::L2, d) + topk);
                per_query.max(stream) + (nq - 1.0).max(0.0) * per_query
            }
            IndexKind::IvfFlat | IndexKind::IvfSq8 | IndexKind::IvfPq => {
                let nlist = idx.nlist.max(1) as f64;
                let scanned = n * (s.nprobe.max(1) as f64).min(nlist) / nlist;
                // The coarse centroids stream from memory with each query, as the lists
                // do: knowhere searches each query as a task of its own, and the list
                // scans between two of them move megabytes through the cache. A perf
                // profile of the real server (IVF_FLAT, 200k x 128, nlist 1024, nq 1, on
                // the 3.09 GHz machine) puts faiss's distance kernel at 0.215 ms a search
                // with nprobe 16 and 0.711 ms with 64: the 48 more lists' 9,360 rows at
                // 9.7 GB/s (the calibrated 9.6), and the 16 lists plus the 1,024
                // centroids at that rate too, not the centroids from cache. The quiet
                // records at nq 10 and 100 agree (README "How close is simctl to
                // reality"); the first machine's, beside a busy core, would have them
                // cached at nq 100.
                let coarse = (nlist * self.distance_compute_ns(MetricName::L2, d))
                    .max(self.memory_ns(nlist * 4.0 * d as f64));
                let lut = if idx.kind == IndexKind::IvfPq {
                    PQ_CENTROIDS * self.distance_compute_ns(MetricName::L2, d)
                } else {
                    0.0
                };
                let (code_ns, code_bytes) = self.ivf_code(idx);
                let scan = (scanned * (code_ns + topk)).max(self.memory_ns(scanned * code_bytes));
                nq * (coarse + lut + scan)
            }
            IndexKind::Hnsw => {
                let visited = self.hnsw_visited(rows, idx.hnsw_m, s.ef.max(s.topk));
                nq * visited * self.hnsw_ns_per_visited(rows, d, idx.hnsw_m)
            }
            IndexKind::DiskAnn => {
                let q = self.diskann_search(idx, rows, s);
                nq * (q.compute_ns + q.io_ns)
            }
        }
    }

    /// DISKANN's beam width on this host: BeamWidthRatio x cores, 1 to
    /// [`MAX_BEAM_WIDTH`].
    pub fn diskann_beam_width(&self, idx: &IndexSpec) -> u32 {
        (idx.diskann.beam_width_ratio * self.cores as f64).clamp(1.0, MAX_BEAM_WIDTH as f64) as u32
    }

    /// Whole breadth-first levels of a DISKANN graph of `rows` around its entry point
    /// that the search cache holds.
    ///
    /// ```text
    /// cached nodes = SearchCacheBudgetGBRatio * rows * 4 dim / (4 dim + 4 + 4 R)
    /// levels       = the largest L with 1 + R + R^2 + ... + R^(L-1) <= cached nodes,
    ///                every level (infinity) once the cached nodes reach the rows
    /// ```
    /// Milvus gives knowhere a cache budget of SearchCacheBudgetGBRatio (reference §1.9:
    /// 0.1) times the segment's raw vector bytes. GUESS: DiskANN fills it breadth first
    /// from the graph's entry point (its `cache_bfs_levels`; from the DiskANN source as
    /// recalled, not in the reference), each node its vector and R links, and every
    /// search starts there, so its first `levels` hops read memory, not the disk.
    pub fn diskann_cached_levels(&self, idx: &IndexSpec, rows: u64) -> f64 {
        let a = &idx.diskann;
        let r = (a.max_degree.max(2)) as f64;
        let node_bytes = 4.0 * idx.dim as f64 + 4.0 + 4.0 * a.max_degree as f64;
        let budget = a.search_cache_budget_ratio * rows as f64 * 4.0 * idx.dim as f64;
        let nodes = (budget / node_bytes).floor();
        if nodes >= rows as f64 {
            return f64::INFINITY;
        }
        if nodes < 1.0 {
            return 0.0;
        }
        // 1 + R + ... + R^(L-1) = (R^L - 1) / (R - 1) <= nodes.
        ((nodes * (r - 1.0) + 1.0).ln() / r.ln() + 1e-9).floor()
    }

    /// One DISKANN query on a segment of `rows` (reference §3.1: about search_list
    /// candidates, beam-width reads per hop on the local SSD):
    ///
    /// ```text
    /// reads   = min(max(search_list, topk), rows)       nodes read, one sector run each
    /// hops    = ceil(reads / beam width)
    /// node    = 4 dim + 4 + 4 R bytes, rounded up to 4 KiB sectors
    /// compute = 256 * d(dim)                             (PQ distance table)
    ///         + reads * (d(dim) + R * (pq * lookup + topk))
    ///           max'd with reads * R * pq bytes / thread_bw (PQ codes of the links)
    /// cached  = min(hops, cached levels)                hops served by the search cache
    /// disk    = max(reads - cached * beam width, 0)      nodes read from disk
    /// io      = max((hops - cached) * read latency, disk / thread IOPS,
    ///               disk * node / thread disk bw)
    /// ```
    /// The read latency is the host disk's `read_latency` (a hop's beam of reads is
    /// issued at once, so a hop waits about one read at queue depth 1); the cached
    /// levels are [`HostCost::diskann_cached_levels`], whose nodes still cost their
    /// arithmetic. `pq` is the PQ bytes per vector ([`DiskAnnSpec::pq_bytes`]), `lookup`
    /// the profile's PQ table lookup, `d` the in-cache distance. The IO
    /// wait is charged as the searching thread's time: knowhere's search thread blocks
    /// on its beam's reads (hence its 4x larger pool with `enableDisk`, reference §1.8).
    pub fn diskann_search(&self, idx: &IndexSpec, rows: u64, s: &SearchSpec) -> DiskAnnSearch {
        let p = &self.profile;
        let d = idx.dim;
        let r = idx.diskann.max_degree as f64;
        let pq = idx.diskann.pq_bytes(d) as f64;
        let beam_width = self.diskann_beam_width(idx);
        let reads = (s.search_list.max(s.topk) as f64).min(rows as f64);
        let hops = (reads / beam_width as f64).ceil();
        let cached_hops = self.diskann_cached_levels(idx, rows).min(hops);
        let disk_reads = (reads - cached_hops * beam_width as f64).max(0.0);
        let node_bytes = (4 * d as u64 + 4 + 4 * idx.diskann.max_degree as u64)
            .div_ceil(DISK_SECTOR_BYTES)
            * DISK_SECTOR_BYTES;
        let read_bytes = disk_reads * node_bytes as f64;
        let distance = self.distance_compute_ns(MetricName::L2, d);
        let per_link = self.scalar_ns(pq * p.ivf.pq_ns_per_lookup + p.topk.ns_per_candidate);
        let compute = (PQ_CENTROIDS * distance + reads * (distance + r * per_link))
            .max(self.memory_ns(reads * r * pq));
        let io = ((hops - cached_hops) * self.disk_read_latency_ns)
            .max(disk_reads * 1e9 / self.thread_disk_iops)
            .max(read_bytes * 1e9 / self.thread_disk_bytes_per_s);
        DiskAnnSearch {
            beam_width,
            reads,
            hops,
            cached_hops,
            read_bytes,
            compute_ns: compute,
            io_ns: io,
        }
    }

    /// Core-nanoseconds to build the index of one segment of `rows` (an index node's
    /// work); `ef_construction` matters to HNSW only.
    ///
    /// ```text
    /// FLAT   0 (nothing to build)
    /// IVF_*  k-means: 10 iterations * min(rows, 256 nlist) * nlist evaluations, then
    ///        rows * nlist to assign; IVF_PQ adds its codebooks, 10 * min(rows, 256 nlist)
    ///        * 256 evaluations of dim / m each (256 of dim in all per row);
    ///        one evaluation = the profile's k-means ns * distance ratio at dim
    /// HNSW   rows * evals(rows, M, efC) * per_eval(dim), with evals the profile's fitted
    ///        law and per_eval = max(compute + latency, 4 dim / thread_bw), split as
    ///        for a search from the measured build time per evaluation by graph size
    /// DISKANN Vamana: 2 passes of HNSW's cost with 2M = MaxDegree links and
    ///        efC = SearchListSize; PQ: codebooks from 10 * min(rows, 256,000) * 256
    ///        evaluations of dim in all per row, then rows * 256 to encode
    /// ```
    pub fn segment_build_ns(&self, idx: &IndexSpec, rows: u64, ef_construction: u32) -> f64 {
        let p = &self.profile;
        let n = rows as f64;
        match idx.kind {
            IndexKind::Flat => 0.0,
            IndexKind::IvfFlat | IndexKind::IvfSq8 | IndexKind::IvfPq => {
                let nlist = idx.nlist.max(1) as u64;
                let train = rows.min(KMEANS_ROWS_PER_CENTROID * nlist) as f64;
                let per_eval = p.ivf.kmeans_ns_per_eval * self.distance_ratio(p.ivf.dim, idx.dim);
                let mut evals = KMEANS_ITERATIONS * train * nlist as f64 + n * nlist as f64;
                if idx.kind == IndexKind::IvfPq {
                    evals += KMEANS_ITERATIONS * train * PQ_CENTROIDS;
                }
                evals * per_eval
            }
            IndexKind::Hnsw => self.graph_build_ns(idx.dim, rows, idx.hnsw_m, ef_construction),
            IndexKind::DiskAnn => {
                let a = &idx.diskann;
                let graph = VAMANA_PASSES
                    * self.graph_build_ns(idx.dim, rows, a.max_degree / 2, a.build_search_list);
                let train = rows.min(DISKANN_PQ_TRAIN_ROWS) as f64;
                let per_eval = p.ivf.kmeans_ns_per_eval * self.distance_ratio(p.ivf.dim, idx.dim);
                let pq = (KMEANS_ITERATIONS * train + n) * PQ_CENTROIDS * per_eval;
                graph + pq
            }
        }
    }

    /// An HNSW-style graph build over `rows`: rows * evals(rows, m, ef) * per_eval(dim).
    fn graph_build_ns(&self, dim: u32, rows: u64, m: u32, ef_construction: u32) -> f64 {
        let evals = self.hnsw_build_evals_per_insert(rows, m, ef_construction);
        let table = self.profile.hnsw.build_ns_per_eval_by_rows();
        let (compute, latency) = self.split_latency(&table, rows, dim);
        let per_eval = (compute + latency).max(self.memory_ns(4.0 * dim as f64));
        rows as f64 * evals * per_eval
    }
}

/// HNSW search on the calibration machine: ns per byte a search thread spends on a
/// visited node's vector beyond the `hnsw.dim` vector the main samples fetched. From the
/// searches at `hnsw.wide_dim`: their time per visited node, less the main samples' at the
/// same graph size, less the wider distance's arithmetic, over the extra bytes; the mean
/// over the wide graphs measured. 0 without wide samples (older profiles).
///
/// The calibration's own kernel at 768 against 128 dims shows it (`simctl calibrate`):
/// about 4 times the time per visited node where the bandwidth share alone gives 2.5;
/// the real server agrees (README, "How close is simctl to reality": about 410 us a
/// query at 100k x 768 where the bandwidth share alone predicted 205).
fn hnsw_fetch_ns_per_byte(p: &Profile) -> f64 {
    let h = &p.hnsw;
    let Some(wide_dim) = h.wide_dim.filter(|&w| w > h.dim) else {
        return 0.0;
    };
    let narrow = h.ns_per_visited_by_rows();
    let wide = h.wide_ns_per_visited_by_rows();
    if wide.is_empty() {
        return 0.0;
    }
    let isa = p.machine.isa;
    let wider_distance =
        p.cache_ns(isa, MetricName::L2, wide_dim) - p.cache_ns(isa, MetricName::L2, h.dim);
    let bytes = 4.0 * (wide_dim - h.dim) as f64;
    let per_byte: f64 = wide
        .iter()
        .map(|&(rows, ns)| {
            ((ns - interpolate_ln_rows(&narrow, rows) - wider_distance) / bytes).max(0.0)
        })
        .sum();
    per_byte / wide.len() as f64
}

/// `table` of (rows, value), rows ascending, interpolated linearly in ln(rows) and held
/// flat past both ends: beyond the largest graph measured, misses are taken to cost what
/// they cost there.
fn interpolate_ln_rows(table: &[(u64, f64)], rows: u64) -> f64 {
    let x = (rows.max(1) as f64).ln();
    let ln = |r: u64| (r.max(1) as f64).ln();
    let (first, last) = (table[0], table[table.len() - 1]);
    if x <= ln(first.0) {
        return first.1;
    }
    if x >= ln(last.0) {
        return last.1;
    }
    let i = table
        .windows(2)
        .position(|w| x <= ln(w[1].0))
        .expect("x lies inside the table");
    let ((r0, y0), (r1, y1)) = (table[i], table[i + 1]);
    y0 + (y1 - y0) * (x - ln(r0)) / (ln(r1) - ln(r0))
}

/// Bytes of an index's own structures for `rows` vectors (reference §4.1 "theory"
/// sizes, §4.3 for IVF_PQ): what an index node writes to object storage and a query
/// node loads besides the raw fields it keeps.
pub fn index_bytes(idx: &IndexSpec, rows: u64) -> u64 {
    let n = rows;
    let d = idx.dim as u64;
    match idx.kind {
        IndexKind::Flat => 0,
        IndexKind::IvfFlat => (n + idx.nlist as u64) * d * 4,
        IndexKind::IvfSq8 => n * d + idx.nlist as u64 * d * 4,
        IndexKind::IvfPq => {
            n * (idx.pq_m as u64 * idx.pq_nbits as u64).div_ceil(8)
                + idx.nlist as u64 * d * 4
                + idx.pq_m as u64
                    * (1u64 << idx.pq_nbits.min(16))
                    * (d / idx.pq_m.max(1) as u64)
                    * 4
        }
        IndexKind::Hnsw => n * d * 4 + n * idx.hnsw_m as u64 * 8,
        // The disk index plus the PQ codes (PQCodeBudgetGBRatio, reference §1.9).
        IndexKind::DiskAnn => {
            diskann_local_disk_bytes(idx, rows) + n * idx.diskann.pq_bytes(idx.dim) as u64
        }
    }
}

/// Bytes a DISKANN segment occupies on its query node's local disk, reference §4.3:
/// (1 + MaxDegree / dim) * raw (each node's vector and links). 0 for other indexes.
pub fn diskann_local_disk_bytes(idx: &IndexSpec, rows: u64) -> u64 {
    match idx.kind {
        IndexKind::DiskAnn => rows * 4 * (idx.dim as u64 + idx.diskann.max_degree as u64),
        _ => 0,
    }
}

/// Bytes a segment occupies in object storage: the raw binlogs plus the index file.
pub fn segment_disk_bytes(idx: &IndexSpec, rows: u64, row_bytes: u64) -> u64 {
    rows * row_bytes + index_bytes(idx, rows)
}

/// Bytes a segment occupies in query-node memory: raw data plus index
/// (reference §4.1 "theory" sizes and §4.3 for IVF_PQ).
pub fn segment_memory_bytes(idx: &IndexSpec, rows: u64, row_bytes: u64) -> u64 {
    let n = rows;
    let d = idx.dim as u64;
    // The IVF and HNSW indexes in knowhere hold their own copy of the vectors, so the
    // raw field data is released after the index is loaded except for the primary
    // keys (reference §4.1: HNSW theory size nb*d*4 + nb*M*8 already counts them).
    match idx.kind {
        IndexKind::Flat => n * row_bytes,
        // reference §4.3 and §1.8: raw / 4 in memory, the rest on the local disk.
        IndexKind::DiskAnn => n * d * 4 / 4 + n * (row_bytes - d * 4),
        _ => index_bytes(idx, rows) + n * (row_bytes - d * 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SimDuration;
    use crate::hw::host::{DiskSpec, SwarmRole};

    fn reference() -> Arc<Profile> {
        Arc::new(Profile::reference())
    }

    fn host(cores: u32, ghz: f64, isa: Isa, bw: f64) -> HostSpec {
        HostSpec {
            name: "h".into(),
            address: "10.0.0.1".into(),
            class: "c".into(),
            cores,
            background_cores: 0.0,
            ghz,
            isa,
            memory_bytes: 64 << 30,
            memory_bandwidth_bytes_per_s: bw,
            disk: DiskSpec {
                size_bytes: 1 << 40,
                read_bytes_per_s: 5e8,
                write_bytes_per_s: 5e8,
                iops: 1e4,
                fsync_latency: SimDuration::from_millis(1),
                read_latency: crate::hw::host::DEFAULT_DISK_READ_LATENCY,
            },
            nic_bytes_per_s: 1.25e9,
            search_server: Default::default(),
            labels: Default::default(),
            role: SwarmRole::Worker,
        }
    }

    fn index(kind: IndexKind, dim: u32) -> IndexSpec {
        IndexSpec {
            kind,
            dim,
            nlist: 1024,
            pq_m: 16,
            pq_nbits: 8,
            hnsw_m: 16,
            diskann: DiskAnnSpec::default(),
        }
    }

    fn search(nq: u32, nprobe: u32) -> SearchSpec {
        SearchSpec {
            nq,
            topk: 10,
            nprobe,
            ef: 64,
            search_list: 100,
        }
    }

    /// Work of a segment search without the fixed overhead.
    fn work(c: &HostCost, idx: &IndexSpec, rows: u64, s: &SearchSpec) -> f64 {
        let w = c.segment_search_work_ns(idx, rows, s);
        let milvus = match idx.kind {
            IndexKind::Flat => c.brute_force_ns(idx.dim, rows, s),
            _ => w,
        };
        assert!(close(
            c.segment_search_ns(idx, rows, s),
            SEGMENT_OVERHEAD_NS + milvus
        ));
        w
    }

    fn close(a: f64, b: f64) -> bool {
        (a / b - 1.0).abs() < 1e-9
    }

    #[test]
    fn doubling_the_clock_halves_compute_bound_work_only() {
        let p = reference();
        let flat = index(IndexKind::Flat, 1024);
        // Scalar kernels with ample bandwidth: every pass of FLAT is compute bound.
        let slow = HostCost::for_host(&host(16, 2.0, Isa::Scalar, 1e15), &p);
        let fast = HostCost::for_host(&host(16, 4.0, Isa::Scalar, 1e15), &p);
        let (a, b) = (
            work(&slow, &flat, 100_000, &search(64, 1)),
            work(&fast, &flat, 100_000, &search(64, 1)),
        );
        assert!(close(a / b, 2.0), "{a} / {b}");
        // Scarce bandwidth (1 GB/s per thread): one query's scan is memory bound.
        let slow = HostCost::for_host(&host(16, 2.0, Isa::Avx512, 16e9), &p);
        let fast = HostCost::for_host(&host(16, 4.0, Isa::Avx512, 16e9), &p);
        let (a, b) = (
            work(&slow, &flat, 100_000, &search(1, 1)),
            work(&fast, &flat, 100_000, &search(1, 1)),
        );
        assert!(close(a, b), "{a} vs {b}");
        assert!(close(a, slow.memory_ns(100_000.0 * 4096.0)));
    }

    #[test]
    fn an_avx2_target_is_slower_than_avx512_by_the_measured_ratio() {
        let p = reference();
        let avx512 = HostCost::for_host(&host(16, 3.0, Isa::Avx512, 1e15), &p);
        let avx2 = HostCost::for_host(&host(16, 3.0, Isa::Avx2, 1e15), &p);
        for dim in [128, 768, 1024, 1536] {
            let measured = p.cache_ns(Isa::Avx2, MetricName::L2, dim)
                / p.cache_ns(Isa::Avx512, MetricName::L2, dim);
            let modelled = avx2.distance_compute_ns(MetricName::L2, dim)
                / avx512.distance_compute_ns(MetricName::L2, dim);
            assert!(
                close(modelled, measured),
                "dim {dim}: {modelled} vs {measured}"
            );
            // FLAT's queries after the first run from cache: their distance part scales
            // by that ratio, their top-k part not at all.
            let rows = 50_000;
            let f = index(IndexKind::Flat, dim);
            let cached =
                |c: &HostCost| work(c, &f, rows, &search(33, 1)) - work(c, &f, rows, &search(1, 1));
            let topk = 32.0 * rows as f64 * p.topk.ns_per_candidate * p.machine.ghz / 3.0;
            let ratio = (cached(&avx2) - topk) / (cached(&avx512) - topk);
            assert!((ratio / measured - 1.0).abs() < 1e-6, "dim {dim}: {ratio}");
        }
        assert!(
            p.cache_ns(Isa::Avx2, MetricName::L2, 1024)
                > p.cache_ns(Isa::Avx512, MetricName::L2, 1024)
        );
    }

    #[test]
    fn costs_grow_with_rows_nq_and_nprobe_as_the_formulas_say() {
        let p = reference();
        let c = HostCost::for_host(&host(16, 2.4, Isa::Avx512, 100e9), &p);
        let flat = index(IndexKind::Flat, 128);
        // FLAT: linear in rows; the first query pays the pass over RAM, every further
        // query the same arithmetic from cache.
        let f = |rows, nq| work(&c, &flat, rows, &search(nq, 1));
        for nq in [1, 4, 32] {
            assert!(close(f(200_000, nq), 2.0 * f(100_000, nq)), "nq {nq}");
        }
        assert!(close(f(100_000, 1), c.memory_ns(100_000.0 * 512.0)));
        let step = f(100_000, 3) - f(100_000, 2);
        assert!(close(f(100_000, 2) - f(100_000, 1), step));
        assert!(close(f(100_000, 33) - f(100_000, 1), 32.0 * step));
        for kind in [IndexKind::IvfFlat, IndexKind::IvfSq8, IndexKind::IvfPq] {
            let ivf = index(kind, 768);
            let fixed = work(&c, &ivf, 0, &search(1, 16));
            let scan = |rows, nprobe| work(&c, &ivf, rows, &search(1, nprobe)) - fixed;
            assert!(
                close(scan(2_000_000, 16), 2.0 * scan(1_000_000, 16)),
                "{kind:?}"
            );
            assert!(
                close(scan(1_000_000, 32), 2.0 * scan(1_000_000, 16)),
                "{kind:?}"
            );
            assert!(close(
                work(&c, &ivf, 1_000_000, &search(3, 16)),
                3.0 * work(&c, &ivf, 1_000_000, &search(1, 16))
            ));
            // nprobe beyond nlist scans everything once.
            assert!(close(scan(1_000_000, 4096), scan(1_000_000, 1024)));
        }
        // HNSW: nodes visited grow with ln(rows) and with ef, and nq multiplies.
        let hnsw = index(IndexKind::Hnsw, 768);
        let h = |rows, nq, ef| {
            c.segment_search_ns(
                &hnsw,
                rows,
                &SearchSpec {
                    nq,
                    topk: 10,
                    nprobe: 1,
                    ef,
                    search_list: 100,
                },
            ) - SEGMENT_OVERHEAD_NS
        };
        let (v1, v2) = (
            c.hnsw_visited(100_000, 16, 64),
            c.hnsw_visited(1_000_000, 16, 64),
        );
        let law = (1e6f64.ln() / 1e5f64.ln()).powf(p.hnsw.visited_ln_n_exp);
        assert!(close(v2 / v1, law));
        assert!(close(h(1_000_000, 1, 64) / h(100_000, 1, 64), law));
        assert!(h(100_000, 1, 128) > h(100_000, 1, 64));
        assert!(close(h(100_000, 5, 64), 5.0 * h(100_000, 1, 64)));
        // ef below topk searches with topk.
        assert!(close(h(100_000, 1, 1), h(100_000, 1, 10)));
    }

    #[test]
    fn cores_used_outside_the_model_leave_their_bandwidth_to_its_scans() {
        let p = reference();
        let m = &p.machine;
        let two = host(m.cores, m.ghz, m.isa, 32.04e9);
        let bytes = 1e8;
        // 1e8 bytes: a brute-force pass over 195,312.5 rows at dim 128.
        let s = search(1, 1);
        let pass = |h: &HostSpec| HostCost::for_host(h, &p).brute_force_ns(128, 195_312, &s);
        let rows_bytes = 195_312.0 * 512.0;
        assert!(close(pass(&two), rows_bytes * 1e9 / 16.02e9));
        assert!(close(
            HostCost::for_host(&two, &p).memory_ns(bytes),
            bytes * 1e9 / 16.02e9
        ));
        // Others keep 0.62 threads runnable: the model's 2 threads run on 2·2/2.62
        // cores at once and share the bandwidth by that.
        let busy = HostSpec {
            background_cores: 0.62,
            ..two.clone()
        };
        assert!(close(
            pass(&busy),
            rows_bytes * 1e9 / (32.04e9 / (4.0 / 2.62))
        ));
        // The other memory terms keep every core's share.
        assert!(close(
            HostCost::for_host(&busy, &p).memory_ns(bytes),
            bytes * 1e9 / 16.02e9
        ));
        // With one core's worth running or less, the scan streams as one thread alone.
        let busier = HostSpec {
            background_cores: 3.0,
            ..two
        };
        assert!(close(
            pass(&busier),
            rows_bytes * 1e9 / p.single_thread_bytes_per_s()
        ));
    }

    #[test]
    fn milvus_brute_force_streams_the_segment_once_per_query() {
        let p = reference();
        let m = &p.machine;
        // The reference machine: the scan is bound by the pass over RAM.
        let c = HostCost::for_host(&host(m.cores, m.ghz, m.isa, 32.04e9), &p);
        let flat = index(IndexKind::Flat, 128);
        let milvus =
            |rows, nq| c.segment_search_ns(&flat, rows, &search(nq, 1)) - SEGMENT_OVERHEAD_NS;
        let pass = c.memory_ns(200_000.0 * 512.0);
        assert!(close(milvus(200_000, 1), pass));
        for nq in [10, 100] {
            // Every query pays its own pass: in step with nq, unlike the blocked scan
            // of `kernels`, whose further queries run from cache.
            assert!(close(milvus(200_000, nq), nq as f64 * pass), "nq {nq}");
            assert!(work(&c, &flat, 200_000, &search(nq, 1)) < 0.5 * milvus(200_000, nq));
        }
        // At nq 1 both agree.
        assert!(close(work(&c, &flat, 200_000, &search(1, 1)), pass));
        // On a slower clock the arithmetic and the heap can bound each query instead.
        let slow = HostCost::for_host(&host(16, 0.5, Isa::Avx512, 1e15), &p);
        let compute = 100_000.0
            * (slow.distance_compute_ns(MetricName::L2, 768)
                + p.topk.ns_per_candidate * p.machine.ghz / 0.5);
        let stream = slow.memory_ns(100_000.0 * 4.0 * 768.0);
        assert!(compute > stream);
        assert!(close(
            slow.brute_force_ns(768, 100_000, &search(7, 1)),
            7.0 * compute
        ));
    }

    #[test]
    fn on_the_calibration_machine_a_flat_scan_costs_what_the_stream_measured() {
        let p = reference();
        let m = &p.machine;
        let me = host(m.cores, m.ghz, m.isa, p.bandwidth.read_bytes_per_s[0]);
        for isa in crate::kernels::distance::available() {
            let c = HostCost::with_threads(&HostSpec { isa, ..me.clone() }, &p, 1);
            for d in &p.distances(isa, MetricName::L2) {
                let modelled = c
                    .distance_compute_ns(MetricName::L2, d.dim)
                    .max(c.memory_ns(4.0 * d.dim as f64));
                let ratio = modelled / d.stream_ns;
                assert!(
                    (0.75..1.33).contains(&ratio),
                    "{isa:?} dim {}: {ratio}",
                    d.dim
                );
            }
        }
    }

    #[test]
    fn flat_cost_per_query_drops_at_the_tiled_threshold_by_the_measured_ratio() {
        let p = reference();
        let q = TILED_MIN_QUERIES as u32;
        let c = HostCost::for_host(&host(16, 3.0, Isa::Avx512, 1e15), &p);
        let topk = p.topk.ns_per_candidate * p.machine.ghz / 3.0;
        for dim in [128, 768, 1024, 1536] {
            let flat = index(IndexKind::Flat, dim);
            let w = |nq: u32| work(&c, &flat, 100_000, &search(nq, 1));
            let per_query = |nq: u32| w(nq) / nq as f64;
            let tiled = p.tiled_cache_ns(Isa::Avx512, MetricName::L2, dim).unwrap();
            let measured = (p.cache_ns(Isa::Avx512, MetricName::L2, dim) * p.machine.ghz / 3.0
                + topk)
                / (tiled * p.machine.ghz / 3.0);
            // The last query below the threshold (the first one's pass over RAM aside)
            // against any query from it on.
            let modelled = (w(q - 1) - w(q - 2)) / per_query(q);
            assert!(
                close(modelled, measured),
                "dim {dim}: {modelled} vs {measured}"
            );
            // Past the threshold every query costs the same.
            assert!(close(per_query(1000), per_query(q)));
        }
        // At dim 128 the reference machine's transposed kernel beat the pair kernel and
        // its heap by a quarter (5.16 against 4.10 ns per vector).
        let flat = index(IndexKind::Flat, 128);
        let w = |nq: u32| work(&c, &flat, 100_000, &search(nq, 1));
        assert!(w(q - 1) - w(q - 2) > 1.2 * w(q) / q as f64);
        // An AVX2 host has no transposed kernels: the pair formula holds at any nq.
        let avx2 = HostCost::for_host(&host(16, 3.0, Isa::Avx2, 1e15), &p);
        let flat = index(IndexKind::Flat, 768);
        let step = |nq| work(&avx2, &flat, 100_000, &search(nq, 1));
        assert!(close(step(q + 1) - step(q), step(q) - step(q - 1)));
        assert!(avx2.tiled_ns(MetricName::L2, 768, q).is_none());
        // With little bandwidth the pass over RAM bounds it, as for one query.
        let thin = HostCost::for_host(&host(16, 3.0, Isa::Avx512, 16e6), &p);
        assert!(close(
            work(&thin, &flat, 100_000, &search(q, 1)),
            thin.memory_ns(100_000.0 * 4.0 * 768.0)
        ));
    }

    #[test]
    fn a_profile_without_tiled_rows_prices_every_flat_query_at_the_pair_kernel() {
        let with = reference();
        assert!(
            !with.tiled.is_empty(),
            "the reference profile measured them"
        );
        // An older profile: the same text without its [[tiled]] tables still loads.
        let text = with.to_toml();
        let cut = text.find("[[tiled]]").expect("tiled rows serialised");
        let old = Profile::parse(std::path::Path::new("old.toml"), &text[..cut]).unwrap();
        assert!(old.tiled.is_empty());
        let old = Arc::new(old);
        let h = host(16, 3.0, Isa::Avx512, 1e15);
        let (c, c_old) = (HostCost::for_host(&h, &with), HostCost::for_host(&h, &old));
        let flat = index(IndexKind::Flat, 128);
        let q = TILED_MIN_QUERIES as u32;
        let w = |c: &HostCost, nq| work(c, &flat, 100_000, &search(nq, 1));
        // Below the threshold both price the pair kernel; from it on only the new one
        // switches, and the old one keeps adding a pair-kernel query per query.
        assert!(close(w(&c, q - 1), w(&c_old, q - 1)));
        assert!(w(&c, q) < w(&c_old, q));
        assert!(close(
            w(&c_old, q) - w(&c_old, q - 1),
            w(&c_old, q - 1) - w(&c_old, q - 2)
        ));
    }

    #[test]
    fn on_the_calibration_machine_a_tiled_scan_costs_what_its_stream_measured() {
        let p = reference();
        let m = &p.machine;
        let me = host(m.cores, m.ghz, m.isa, p.bandwidth.read_bytes_per_s[0]);
        let c = HostCost::with_threads(&me, &p, 1);
        let q = TILED_MIN_QUERIES as u32;
        for metric in [MetricName::L2, MetricName::Ip] {
            for dim in crate::calibrate::DIMS {
                let flat = index(IndexKind::Flat, dim);
                let modelled = work(&c, &flat, 1_000_000, &search(q, 1)) / (1e6 * q as f64);
                let streamed = p.tiled_stream_ns(Isa::Avx512, metric, dim).unwrap();
                let ratio = modelled / streamed;
                assert!(
                    (0.75..1.33).contains(&ratio),
                    "{metric:?} dim {dim}: {ratio}"
                );
            }
        }
    }

    #[test]
    fn builds_cost_more_per_row_as_segments_grow() {
        let p = reference();
        let c = HostCost::for_host(&host(8, 2.4, Isa::Avx512, 60e9), &p);
        assert_eq!(
            c.segment_build_ns(&index(IndexKind::Flat, 128), 1_000_000, 0),
            0.0
        );
        let hnsw = index(IndexKind::Hnsw, 128);
        let (a, b) = (
            c.segment_build_ns(&hnsw, 100_000, 40),
            c.segment_build_ns(&hnsw, 1_000_000, 40),
        );
        assert!(b > 10.0 * a, "{a} {b}");
        assert!(c.segment_build_ns(&hnsw, 100_000, 200) > a);
        let ivf = index(IndexKind::IvfFlat, 128);
        let (a, b) = (
            c.segment_build_ns(&ivf, 100_000, 0),
            c.segment_build_ns(&ivf, 1_000_000, 0),
        );
        assert!(
            b > 2.0 * a && b < 10.0 * a,
            "training is capped at 256 rows per list"
        );
    }

    #[test]
    fn an_isa_the_calibration_machine_lacked_is_carried_over_by_its_factor() {
        let mut p = Profile::reference();
        p.distance.retain(|d| d.isa != Isa::Avx512);
        p.sq8.retain(|d| d.isa != Isa::Avx512);
        p.machine.isa = Isa::Avx2;
        let p = Arc::new(p);
        let avx512 = HostCost::for_host(&host(16, 3.0, Isa::Avx512, 1e15), &p);
        let avx2 = HostCost::for_host(&host(16, 3.0, Isa::Avx2, 1e15), &p);
        let ratio = avx512.distance_compute_ns(MetricName::Ip, 768)
            / avx2.distance_compute_ns(MetricName::Ip, 768);
        assert!(close(ratio, AVX512_OVER_AVX2));
        let neon = HostCost::for_host(&host(16, 3.0, Isa::Neon, 1e15), &p);
        assert!(close(
            neon.distance_compute_ns(MetricName::L2, 768)
                / avx2.distance_compute_ns(MetricName::L2, 768),
            NEON_OVER_AVX2
        ));
    }

    #[test]
    fn hnsw_memory_matches_the_sizing_tool() {
        // reference §4.2: 30M x 1024, M=34 -> theory 131.0e9 B (half of 262.1e9).
        let idx = IndexSpec {
            kind: IndexKind::Hnsw,
            dim: 1024,
            nlist: 0,
            pq_m: 0,
            pq_nbits: 8,
            hnsw_m: 34,
            diskann: DiskAnnSpec::default(),
        };
        let bytes = segment_memory_bytes(&idx, 30_000_000, 4104);
        let theory = 30_000_000u64 * 1024 * 4 + 30_000_000 * 34 * 8;
        assert_eq!(bytes, theory + 30_000_000 * 8);
        assert_eq!(
            segment_disk_bytes(&idx, 30_000_000, 4104),
            30_000_000 * 4104 + theory
        );
    }

    /// DISKANN at `dim` without the search cache: every hop reads the disk.
    fn diskann(dim: u32) -> IndexSpec {
        let mut idx = index(IndexKind::DiskAnn, dim);
        idx.diskann.search_cache_budget_ratio = 0.0;
        idx
    }

    fn diskann_search(search_list: u32) -> SearchSpec {
        SearchSpec {
            search_list,
            ..search(1, 1)
        }
    }

    #[test]
    fn diskann_costs_grow_with_search_list_and_with_a_slower_disk() {
        let p = reference();
        let idx = diskann(768);
        let mut nvme = host(16, 3.0, Isa::Avx512, 100e9);
        nvme.disk.iops = 1e6;
        nvme.disk.read_bytes_per_s = 3e9;
        let c = HostCost::for_host(&nvme, &p);
        let rows = 1_000_000;
        let at = |c: &HostCost, l| work(c, &idx, rows, &diskann_search(l));
        assert!(at(&c, 200) > at(&c, 100) && at(&c, 100) > at(&c, 50));
        // Reads are the candidate list, at least topk, at most the rows.
        assert_eq!(
            c.diskann_search(&idx, rows, &diskann_search(100)).reads,
            100.0
        );
        assert_eq!(c.diskann_search(&idx, rows, &diskann_search(1)).reads, 10.0);
        assert_eq!(c.diskann_search(&idx, 30, &diskann_search(100)).reads, 30.0);
        // Beam width: BeamWidthRatio 4 x 16 cores, capped at 16: 100 reads in 7 hops.
        let q = c.diskann_search(&idx, rows, &diskann_search(100));
        assert_eq!((q.beam_width, q.hops), (16, 7.0));
        // 768 floats + 56 links = 3300 bytes: one 4 KiB sector per node.
        assert_eq!(q.read_bytes, 100.0 * 4096.0);
        // A tenth of the IOPS: the disk wait grows, the arithmetic does not.
        let slow = HostSpec {
            disk: DiskSpec {
                iops: nvme.disk.iops / 10.0,
                ..nvme.disk.clone()
            },
            ..nvme.clone()
        };
        let s = HostCost::for_host(&slow, &p);
        let (fast_q, slow_q) = (
            c.diskann_search(&idx, rows, &diskann_search(100)),
            s.diskann_search(&idx, rows, &diskann_search(100)),
        );
        assert!(slow_q.io_ns > fast_q.io_ns, "{slow_q:?} {fast_q:?}");
        assert_eq!(slow_q.compute_ns, fast_q.compute_ns);
        assert!(at(&s, 100) > at(&c, 100));
        // So does lower read bandwidth, once it is what limits.
        let thin = HostSpec {
            disk: DiskSpec {
                read_bytes_per_s: 1e6,
                ..nvme.disk.clone()
            },
            ..nvme.clone()
        };
        let t = HostCost::for_host(&thin, &p);
        assert!(close(
            t.diskann_search(&idx, rows, &diskann_search(100)).io_ns,
            100.0 * 4096.0 * 1e9 / (1e6 / 16.0)
        ));
        // nq multiplies; a lone thread gets the whole disk: latency per hop bounds it.
        assert!(close(
            work(
                &c,
                &idx,
                rows,
                &SearchSpec {
                    nq: 4,
                    ..diskann_search(100)
                }
            ),
            4.0 * at(&c, 100)
        ));
        let alone = HostCost::with_threads(&nvme, &p, 1);
        let q = alone.diskann_search(&idx, rows, &diskann_search(100));
        assert!(close(q.io_ns, 7.0 * 100_000.0), "{q:?}");
    }

    #[test]
    fn a_slower_disk_read_latency_stretches_the_hops_as_the_formula_says() {
        let p = reference();
        let idx = diskann(768);
        let mut h = host(16, 3.0, Isa::Avx512, 100e9);
        h.disk.iops = 1e6;
        h.disk.read_bytes_per_s = 3e9;
        // One thread has the whole disk: the hops' latency is what the IO waits for.
        let at = |latency_us: u64| {
            let mut h = h.clone();
            h.disk.read_latency = SimDuration::from_micros(latency_us);
            HostCost::with_threads(&h, &p, 1).diskann_search(&idx, 1_000_000, &diskann_search(100))
        };
        let (base, double) = (at(100), at(200));
        // 100 reads, beam width 16: 7 hops of one read latency each.
        assert_eq!(base.hops, 7.0);
        assert!(close(base.io_ns, 7.0 * 100_000.0), "{base:?}");
        assert!(close(double.io_ns, 2.0 * base.io_ns), "{double:?}");
        assert_eq!(double.compute_ns, base.compute_ns);
        // Once IOPS limit instead (16 threads share 1e4 IOPS), latency no longer matters.
        h.disk.iops = 1e4;
        let shared = |latency_us: u64| {
            let mut h = h.clone();
            h.disk.read_latency = SimDuration::from_micros(latency_us);
            HostCost::for_host(&h, &p).diskann_search(&idx, 1_000_000, &diskann_search(100))
        };
        assert!(close(shared(100).io_ns, 100.0 * 1e9 / (1e4 / 16.0)));
        assert_eq!(shared(200).io_ns, shared(100).io_ns);
    }

    #[test]
    fn the_search_cache_serves_the_first_hops_as_its_bfs_levels_say() {
        let p = reference();
        let mut h = host(16, 3.0, Isa::Avx512, 100e9);
        h.disk.iops = 1e6;
        h.disk.read_bytes_per_s = 3e9;
        let c = HostCost::with_threads(&h, &p, 1);
        let (rows, dim) = (1_000_000, 768);
        let cached = index(IndexKind::DiskAnn, dim);
        assert_eq!(cached.diskann.search_cache_budget_ratio, 0.1);
        // 0.1 x 3072 bytes of raw vector per row over 3072 + 4 + 224 bytes a node:
        // 93,090 nodes, which hold 1 + 56 + 56^2 (3193) but not 56^3 more.
        assert_eq!(c.diskann_cached_levels(&cached, rows), 3.0);
        let (q, off) = (
            c.diskann_search(&cached, rows, &diskann_search(100)),
            c.diskann_search(&diskann(dim), rows, &diskann_search(100)),
        );
        // 100 reads in 7 hops of 16: the first 3 hops (48 reads) from memory.
        assert_eq!((q.hops, q.cached_hops), (7.0, 3.0));
        assert_eq!(q.read_bytes, 52.0 * 4096.0);
        assert!(close(q.io_ns, 4.0 * 100_000.0), "{q:?}");
        assert!(close(off.io_ns, 7.0 * 100_000.0), "{off:?}");
        assert_eq!(q.compute_ns, off.compute_ns);
        // A hundredth of the budget holds two levels; a budget past the rows holds them
        // all, and a search never has more cached hops than hops.
        let with = |ratio: f64| {
            let mut idx = cached.clone();
            idx.diskann.search_cache_budget_ratio = ratio;
            idx
        };
        assert_eq!(c.diskann_cached_levels(&with(0.001), rows), 2.0);
        assert_eq!(c.diskann_cached_levels(&with(0.0), rows), 0.0);
        let all = c.diskann_search(&with(2.0), 3_000, &diskann_search(100));
        assert_eq!(all.cached_hops, all.hops);
        assert_eq!((all.read_bytes, all.io_ns), (0.0, 0.0));
    }

    #[test]
    fn diskann_sizes_follow_the_sizing_tool() {
        // reference §4.3: memory raw / 4, disk (1 + MaxDegree / d) x raw.
        let idx = diskann(1024);
        let (rows, row_bytes) = (1_000_000u64, 8 + 4 * 1024);
        let raw = rows * 4 * 1024;
        assert_eq!(
            segment_memory_bytes(&idx, rows, row_bytes),
            raw / 4 + rows * 8
        );
        let disk = diskann_local_disk_bytes(&idx, rows);
        assert_eq!(disk as f64, (1.0 + 56.0 / 1024.0) * raw as f64);
        // What the index node uploads: the disk index and the PQ codes (raw / 8).
        assert_eq!(index_bytes(&idx, rows), disk + raw / 8);
        assert_eq!(idx.diskann.pq_bytes(1024), 512);
        assert_eq!(
            diskann_local_disk_bytes(&index(IndexKind::Hnsw, 1024), rows),
            0
        );
    }

    #[test]
    fn diskann_builds_cost_more_with_degree_list_and_rows() {
        let p = reference();
        let c = HostCost::for_host(&host(8, 2.4, Isa::Avx512, 60e9), &p);
        let idx = diskann(768);
        let base = c.segment_build_ns(&idx, 500_000, 0);
        assert!(base > 0.0);
        assert!(c.segment_build_ns(&idx, 1_000_000, 0) > 2.0 * base);
        let wider = IndexSpec {
            diskann: DiskAnnSpec {
                max_degree: 112,
                ..DiskAnnSpec::default()
            },
            ..idx.clone()
        };
        assert!(c.segment_build_ns(&wider, 500_000, 0) > base);
        let longer = IndexSpec {
            diskann: DiskAnnSpec {
                build_search_list: 200,
                ..DiskAnnSpec::default()
            },
            ..idx
        };
        assert!(c.segment_build_ns(&longer, 500_000, 0) > base);
    }

    /// On the calibration machine with one thread streaming, the HNSW time per visited
    /// node at the wide dim is what the wide searches measured there (the fetch term
    /// inverts its own derivation); a profile without them adds no fetch time, and a
    /// dim at or below the samples' pays none.
    #[test]
    fn hnsw_searches_pay_the_measured_fetch_of_wider_vectors() {
        let p = reference();
        let cal = host(
            1,
            p.machine.ghz,
            p.machine.isa,
            p.bandwidth.read_bytes_per_s[0],
        );
        let cost = HostCost::for_host(&cal, &p);
        let (rows, wide) = p.hnsw.wide_ns_per_visited_by_rows()[0];
        let wide_dim = p.hnsw.wide_dim.unwrap();
        let modelled = cost.hnsw_ns_per_visited(rows, wide_dim, 16);
        assert!(
            (modelled / wide - 1.0).abs() < 0.01,
            "{modelled} against {wide}"
        );

        let mut old = Profile::reference();
        old.hnsw.wide_dim = None;
        old.hnsw.wide_search.clear();
        let old = HostCost::for_host(&cal, &Arc::new(old));
        assert!(old.hnsw_ns_per_visited(rows, wide_dim, 16) < 0.6 * modelled);
        for dim in [64, 128] {
            assert_eq!(
                old.hnsw_ns_per_visited(rows, dim, 16),
                cost.hnsw_ns_per_visited(rows, dim, 16)
            );
        }
    }
}
