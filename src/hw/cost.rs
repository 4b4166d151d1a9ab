//! Provisional analytical cost of vector search work on a host.
//!
//! PROVISIONAL: these constants are read off `reference/performance-anchors.md`
//! (measured on a 2-vCPU AVX-512 Xeon at 4.05 GHz) or are marked as guesses. The
//! calibrated kernels and `simctl calibrate` replace them; until then every figure that
//! depends on them is an estimate, and `simctl explain` says so.
//!
//! The model is roofline-like per thread: a distance costs the larger of its arithmetic
//! time (scaled by clock and ISA) and the time to stream its bytes at the bandwidth one
//! thread gets when every core of the host is busy (the pessimistic share).

use super::host::{HostSpec, Isa};

/// Index types Milvus 2.3 serves from memory.
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
}

impl IndexKind {
    pub fn name(self) -> &'static str {
        match self {
            IndexKind::Flat => "FLAT",
            IndexKind::IvfFlat => "IVF_FLAT",
            IndexKind::IvfSq8 => "IVF_SQ8",
            IndexKind::IvfPq => "IVF_PQ",
            IndexKind::Hnsw => "HNSW",
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
}

/// Search-time parameters.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSpec {
    pub nq: u32,
    pub topk: u32,
    pub nprobe: u32,
    pub ef: u32,
}

// performance-anchors.md: a 4-accumulator AVX-512 f32 dot at d=1024 in L1 takes 22.9 ns
// at the 3.76 GHz AVX-512 clock of the reference machine.
const REF_NS_PER_DIM_AVX512: f64 = 22.9 / 1024.0;
const REF_GHZ: f64 = 3.76;
// performance-anchors.md: 15.5 GB/s is what one thread streams from DRAM.
const REF_SINGLE_THREAD_BYTES_PER_S: f64 = 15.5e9;
// performance-anchors.md: HNSW distances cost ~100-130 ns each from dependent cache
// misses at 200k x 128; we take the middle.
const HNSW_MISS_NS: f64 = 115.0;
// performance-anchors.md: top-k selection by argpartition costs ~1.9 ns per element.
const SELECT_NS_PER_CANDIDATE: f64 = 1.9;
// GUESS: per segment per sub-request fixed cost (goroutine, cgo call into knowhere,
// result allocation and segcore reduce set-up). Replaced by calibration.
const SEGMENT_OVERHEAD_NS: f64 = 20_000.0;
// GUESS: merging one (id, distance) pair during a reduce.
pub const REDUCE_NS_PER_RESULT: f64 = 15.0;
// GUESS: IVF_PQ asymmetric distance, one table lookup and add per sub-quantiser.
const PQ_NS_PER_LOOKUP: f64 = 0.6;

/// Ratio of arithmetic throughput relative to AVX-512 (f32 FMA lanes; anchors give
/// 241 GFLOP/s with 512-bit and 130 with 256-bit FMA on the reference core).
fn isa_slowdown(isa: Isa) -> f64 {
    match isa {
        Isa::Avx512 => 1.0,
        Isa::Avx2 => 241.0 / 130.0,
        // GUESS: 128-bit NEON with two FMA pipes, about half of AVX2.
        Isa::Neon => 2.0 * 241.0 / 130.0,
        // GUESS: scalar code auto-vectorised poorly, 8x slower than AVX2.
        Isa::Scalar => 8.0 * 241.0 / 130.0,
    }
}

/// Per-host constants derived from its spec.
#[derive(Clone, Debug)]
pub struct HostCost {
    /// Arithmetic time of one f32 multiply-add per dimension, ns.
    pub ns_per_dim: f64,
    /// Streaming cost per byte for one thread when all cores stream, ns.
    pub ns_per_byte: f64,
}

impl HostCost {
    pub fn for_host(h: &HostSpec) -> HostCost {
        let per_thread_bw =
            (h.memory_bandwidth_bytes_per_s / h.cores as f64).min(REF_SINGLE_THREAD_BYTES_PER_S);
        HostCost {
            ns_per_dim: REF_NS_PER_DIM_AVX512 * (REF_GHZ / h.ghz) * isa_slowdown(h.isa),
            ns_per_byte: 1e9 / per_thread_bw,
        }
    }

    /// One f32 distance at `dim`, data streamed from RAM.
    fn streamed_distance_ns(&self, dim: u32) -> f64 {
        (dim as f64 * self.ns_per_dim).max(dim as f64 * 4.0 * self.ns_per_byte)
    }

    /// One f32 distance at `dim`, data in cache (centroids).
    fn cached_distance_ns(&self, dim: u32) -> f64 {
        dim as f64 * self.ns_per_dim
    }

    /// Core-nanoseconds to search one segment of `rows` for `s.nq` queries.
    pub fn segment_search_ns(&self, idx: &IndexSpec, rows: u64, s: &SearchSpec) -> f64 {
        let n = rows as f64;
        let d = idx.dim;
        let per_query = match idx.kind {
            // reference §3.1 cost drivers: FLAT scans N x d.
            IndexKind::Flat => n * (self.streamed_distance_ns(d) + SELECT_NS_PER_CANDIDATE),
            // nlist x d for the coarse step plus nprobe lists of N/nlist vectors.
            IndexKind::IvfFlat | IndexKind::IvfSq8 | IndexKind::IvfPq => {
                let nlist = idx.nlist.max(1) as f64;
                let scanned = n * (s.nprobe as f64).min(nlist) / nlist;
                let coarse = nlist * self.cached_distance_ns(d);
                let per_vector = match idx.kind {
                    IndexKind::IvfFlat => self.streamed_distance_ns(d),
                    // SQ8 reads 1 byte per dimension and decodes it (GUESS: decode
                    // doubles the arithmetic).
                    IndexKind::IvfSq8 => {
                        (2.0 * d as f64 * self.ns_per_dim).max(d as f64 * self.ns_per_byte)
                    }
                    _ => {
                        let code_bytes = (idx.pq_m * idx.pq_nbits).div_ceil(8) as f64;
                        (idx.pq_m as f64 * PQ_NS_PER_LOOKUP).max(code_bytes * self.ns_per_byte)
                    }
                };
                let lut = if idx.kind == IndexKind::IvfPq {
                    // One table of 2^nbits centroids per sub-quantiser, d/m dims each.
                    (1u64 << idx.pq_nbits.min(16)) as f64 * d as f64 * self.ns_per_dim
                } else {
                    0.0
                };
                coarse + lut + scanned * (per_vector + SELECT_NS_PER_CANDIDATE)
            }
            // reference §3.1: HNSW costs about ef x M distance evaluations; the descent
            // through the upper layers adds about M per level (log2 N levels at most).
            IndexKind::Hnsw => {
                let ef = s.ef.max(s.topk) as f64;
                let m = idx.hnsw_m as f64;
                let distances = ef * m + m * (n.max(2.0)).log2();
                let per_distance = HNSW_MISS_NS.max(d as f64 * 4.0 * self.ns_per_byte)
                    + self.cached_distance_ns(d);
                distances.min(n) * per_distance
            }
        };
        SEGMENT_OVERHEAD_NS + s.nq as f64 * per_query
    }
}

/// Bytes a segment occupies in query-node memory: raw data plus index
/// (reference §4.1 "theory" sizes and §4.3 for IVF_PQ).
pub fn segment_memory_bytes(idx: &IndexSpec, rows: u64, row_bytes: u64) -> u64 {
    let n = rows;
    let d = idx.dim as u64;
    let raw = n * row_bytes;
    let index = match idx.kind {
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
    };
    // The IVF and HNSW indexes in knowhere hold their own copy of the vectors, so the
    // raw field data is released after the index is loaded except for the primary
    // keys (reference §4.1: HNSW theory size nb*d*4 + nb*M*8 already counts them).
    match idx.kind {
        IndexKind::Flat => raw,
        _ => index + n * (row_bytes - d * 4),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::SimDuration;
    use crate::hw::host::{DiskSpec, SwarmRole};

    fn host(ghz: f64, isa: Isa, bw: f64) -> HostSpec {
        HostSpec {
            name: "h".into(),
            address: "10.0.0.1".into(),
            class: "c".into(),
            cores: 16,
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
            },
            nic_bytes_per_s: 1.25e9,
            labels: Default::default(),
            role: SwarmRole::Worker,
        }
    }

    fn flat(dim: u32) -> IndexSpec {
        IndexSpec {
            kind: IndexKind::Flat,
            dim,
            nlist: 0,
            pq_m: 0,
            pq_nbits: 8,
            hnsw_m: 16,
        }
    }

    fn search(nq: u32) -> SearchSpec {
        SearchSpec {
            nq,
            topk: 10,
            nprobe: 16,
            ef: 64,
        }
    }

    #[test]
    fn flat_cost_grows_linearly_with_rows_and_nq() {
        let c = HostCost::for_host(&host(3.0, Isa::Avx512, 100e9));
        let base = c.segment_search_ns(&flat(128), 100_000, &search(1)) - SEGMENT_OVERHEAD_NS;
        let rows2 = c.segment_search_ns(&flat(128), 200_000, &search(1)) - SEGMENT_OVERHEAD_NS;
        let nq4 = c.segment_search_ns(&flat(128), 100_000, &search(4)) - SEGMENT_OVERHEAD_NS;
        assert!((rows2 / base - 2.0).abs() < 1e-9);
        assert!((nq4 / base - 4.0).abs() < 1e-9);
    }

    #[test]
    fn a_bandwidth_bound_scan_ignores_the_clock_but_a_compute_bound_one_does_not() {
        // Plenty of bandwidth: compute bound, so doubling the clock halves the time.
        let fast_mem_slow = HostCost::for_host(&host(2.0, Isa::Scalar, 1e15));
        let fast_mem_fast = HostCost::for_host(&host(4.0, Isa::Scalar, 1e15));
        let a = fast_mem_slow.streamed_distance_ns(1024);
        let b = fast_mem_fast.streamed_distance_ns(1024);
        assert!((a / b - 2.0).abs() < 1e-9);
        // Scarce bandwidth: memory bound, the clock does not matter.
        let slow_mem_slow = HostCost::for_host(&host(2.0, Isa::Avx512, 16e9));
        let slow_mem_fast = HostCost::for_host(&host(4.0, Isa::Avx512, 16e9));
        assert_eq!(
            slow_mem_slow.streamed_distance_ns(1024),
            slow_mem_fast.streamed_distance_ns(1024)
        );
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
        };
        let bytes = segment_memory_bytes(&idx, 30_000_000, 4104);
        let theory = 30_000_000u64 * 1024 * 4 + 30_000_000 * 34 * 8;
        assert_eq!(bytes, theory + 30_000_000 * 8);
    }
}
