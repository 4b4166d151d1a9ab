//! `simctl calibrate`: measures this machine with the real kernels and writes a profile
//! the cost model reads (DESIGN.md "Hardware cost model").
//!
//! What is measured, per ISA the CPU runs (AVX-512, AVX2+FMA, scalar):
//! * f32 squared L2 and inner product at dims 128..1536, in cache and streamed from RAM;
//! * SQ8 code distances in cache;
//!
//! on an AVX-512 CPU, flat top-k searches of many queries on the transposed kernels
//! (`kernels::topk::flat_search` from `TILED_MIN_QUERIES` queries) at the same dims, in
//! cache and streamed;
//!
//! and on the best ISA only (the kernels dispatch to it; the cost model carries other ISAs
//! over by the distance ratio): the clock, read bandwidth with 1..N threads, top-k, PQ
//! lookups, k-means, and HNSW build and search on low-rank data, with the laws of
//! [`profile::HnswCost`] fitted to the HNSW samples.

pub mod drift;
pub mod fit;
pub mod measure;
pub mod profile;

use crate::kernels::data::LowRank;
use crate::kernels::distance::{self, Metric};
use crate::kernels::topk;
use profile::{
    Bandwidth, DistanceCost, Dtype, HnswBuildSample, HnswCost, HnswSearchSample, IvfCost, Machine,
    Profile, Sq8Cost, TiledCost, TopkCost,
};

/// The dims of the distance table: SIFT's 128 (reference §5.1), the users' 1024
/// (reference §1.13), and common embedding sizes between and above; other dims are
/// interpolated.
pub const DIMS: [u32; 6] = [128, 256, 512, 768, 1024, 1536];

/// How much to measure.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Smaller data and shorter rounds: under a minute on two cores.
    pub quick: bool,
    /// Most threads of the bandwidth measurement.
    pub threads: usize,
    /// Whole calibrations to run; each figure keeps its fastest run (see [`fastest_of`]).
    pub runs: usize,
}

/// Sizes of one calibration run.
struct Plan {
    round_secs: f64,
    stream_bytes: usize,
    stream_passes: usize,
    hnsw_rows: Vec<usize>,
    hnsw_m: Vec<usize>,
    /// Extra builds at other efConstruction values, (rows index, M, efConstruction).
    hnsw_extra: Vec<(usize, usize, usize)>,
    hnsw_queries: usize,
    /// Rows of the graph searched at [`HNSW_WIDE_DIM`].
    hnsw_wide_rows: usize,
    kmeans_rows: usize,
}

/// Search beam widths of the visited-node law.
const HNSW_EFS: [usize; 3] = [16, 64, 128];
/// Build beam width of the main builds: the anchors' efConstruction.
const HNSW_EF_CONSTRUCTION: usize = 40;
/// Dim of the HNSW, k-means and PQ measurements: the anchors' ANN data set.
const ANN_DIM: usize = 128;
/// Dim of the second HNSW graph, whose searches give the time a search spends fetching a
/// wider vector: the fidelity harness's wider dim (the users' own is 1024).
const HNSW_WIDE_DIM: usize = 768;
/// Links of the wide graph: the harness's and Milvus users' usual M.
const HNSW_WIDE_M: usize = 16;
/// Top-k of the heap measurement: the anchors' top-10 (performance-anchors.md).
const TOPK_K: usize = 10;
/// k-means clusters and PQ sub-quantisers measured.
const KMEANS_K: usize = 256;
const PQ_M: usize = 16;

impl Plan {
    fn new(quick: bool) -> Plan {
        if quick {
            Plan {
                round_secs: 0.001,
                stream_bytes: 256 << 20,
                stream_passes: 1,
                // Up to 100k rows: the graph sizes of examples/predict's HNSW build.
                hnsw_rows: vec![10_000, 100_000],
                hnsw_m: vec![8, 16],
                hnsw_extra: vec![(0, 16, 100)],
                hnsw_queries: 100,
                // 61 MB of vectors: past the last-level cache of the machines seen.
                hnsw_wide_rows: 20_000,
                kmeans_rows: 10_000,
            }
        } else {
            Plan {
                round_secs: 0.006,
                stream_bytes: 512 << 20,
                stream_passes: 2,
                hnsw_rows: vec![20_000, 60_000, 180_000],
                hnsw_m: vec![8, 16, 32],
                hnsw_extra: vec![(1, 16, 100), (1, 16, 200)],
                hnsw_queries: 300,
                hnsw_wide_rows: 60_000,
                kmeans_rows: 40_000,
            }
        }
    }
}

/// Measures this machine `opts.runs` times and keeps the fastest of each figure. `step`
/// is called with a description before each measurement: [`steps`] times in all.
pub fn calibrate(opts: Options, step: &mut dyn FnMut(&str)) -> Profile {
    let runs: Vec<Profile> = (0..opts.runs.max(1))
        .map(|_| calibrate_once(opts, step))
        .collect();
    let mut profile = fastest_of(runs);
    profile.round_figures();
    profile
}

/// Combines whole calibrations of one machine figure by figure: the smallest time, the
/// largest bandwidth and clock. Another process on a shared machine only ever slows a
/// measurement (it takes cores, cache and memory bandwidth), so the fastest run of each
/// is the closest to the machine itself. The HNSW laws are fitted again to the
/// combined samples (their visited and evaluation counts are the same in every run:
/// same data, same seeds).
pub fn fastest_of(runs: Vec<Profile>) -> Profile {
    let mut runs = runs.into_iter();
    let mut best = runs.next().expect("at least one run");
    let min = |a: &mut f64, b: f64| *a = a.min(b);
    for p in runs {
        best.machine.ghz = best.machine.ghz.max(p.machine.ghz);
        for (a, b) in best
            .bandwidth
            .read_bytes_per_s
            .iter_mut()
            .zip(&p.bandwidth.read_bytes_per_s)
        {
            *a = a.max(*b);
        }
        min(&mut best.topk.ns_per_candidate, p.topk.ns_per_candidate);
        min(&mut best.ivf.kmeans_ns_per_eval, p.ivf.kmeans_ns_per_eval);
        min(&mut best.ivf.pq_ns_per_lookup, p.ivf.pq_ns_per_lookup);
        for (a, b) in best.distance.iter_mut().zip(&p.distance) {
            min(&mut a.cache_ns, b.cache_ns);
            min(&mut a.stream_ns, b.stream_ns);
        }
        for (a, b) in best.sq8.iter_mut().zip(&p.sq8) {
            min(&mut a.cache_ns, b.cache_ns);
        }
        for (a, b) in best.tiled.iter_mut().zip(&p.tiled) {
            min(&mut a.cache_ns, b.cache_ns);
            min(&mut a.stream_ns, b.stream_ns);
        }
        for (a, b) in best.hnsw.search.iter_mut().zip(&p.hnsw.search) {
            min(&mut a.ns_per_query, b.ns_per_query);
        }
        for (a, b) in best.hnsw.build.iter_mut().zip(&p.hnsw.build) {
            min(&mut a.ns_per_insert, b.ns_per_insert);
        }
        for (a, b) in best.hnsw.wide_search.iter_mut().zip(&p.hnsw.wide_search) {
            min(&mut a.ns_per_query, b.ns_per_query);
        }
    }
    let HnswCost {
        search,
        build,
        wide_search,
        ..
    } = best.hnsw;
    best.hnsw = hnsw_cost(search, build, wide_search);
    best
}

fn calibrate_once(opts: Options, step: &mut dyn FnMut(&str)) -> Profile {
    let plan = Plan::new(opts.quick);
    let isas = distance::available();
    let best = distance::best();

    step("clock");
    let ghz = measure::clock_ghz(0.001);

    step("read bandwidth");
    let big = measure::Floats::new(plan.stream_bytes / 4);
    let read_bytes_per_s = (1..=opts.threads.max(1))
        .map(|t| measure::read_bandwidth(big.get(), t, plan.stream_passes + 1))
        .collect();

    let mut distance = Vec::new();
    let mut sq8 = Vec::new();
    for &isa in &isas {
        for metric in [Metric::L2, Metric::Ip] {
            for dim in DIMS {
                step(&format!("{} {metric:?} distance, dim {dim}", isa.name()));
                let d = dim as usize;
                distance.push(DistanceCost {
                    isa,
                    metric: metric.into(),
                    dtype: Dtype::F32,
                    dim,
                    cache_ns: measure::distance_cache_ns(isa, metric, d, plan.round_secs),
                    stream_ns: measure::distance_stream_ns(
                        isa,
                        metric,
                        d,
                        big.get(),
                        plan.stream_passes,
                    ),
                });
            }
        }
        for dim in DIMS {
            step(&format!("{} SQ8 distance, dim {dim}", isa.name()));
            sq8.push(Sq8Cost {
                isa,
                dim,
                cache_ns: measure::sq8_cache_ns(isa, dim as usize, plan.round_secs),
            });
        }
    }
    let mut tiled = Vec::new();
    if topk::tiled_supported() {
        let data = &big.get()[..(measure::TILED_STREAM_BYTES / 4).min(big.get().len())];
        for metric in [Metric::L2, Metric::Ip] {
            for dim in DIMS {
                step(&format!("transposed {metric:?} flat search, dim {dim}"));
                let d = dim as usize;
                tiled.push(TiledCost {
                    isa: crate::hw::Isa::Avx512,
                    metric: metric.into(),
                    dtype: Dtype::F32,
                    dim,
                    queries: topk::TILED_MIN_QUERIES as u32,
                    k: TOPK_K as u32,
                    cache_ns: measure::tiled_cache_ns(metric, d, TOPK_K, plan.round_secs),
                    stream_ns: measure::tiled_stream_ns(
                        metric,
                        d,
                        TOPK_K,
                        data,
                        plan.stream_passes,
                    ),
                });
            }
        }
    }
    drop(big);

    step("top-k");
    let topk = TopkCost {
        k: TOPK_K as u32,
        ns_per_candidate: measure::topk_ns(TOPK_K, plan.round_secs),
    };

    let max_rows = *plan.hnsw_rows.iter().max().expect("rows planned");
    let low_rank = LowRank::new(ANN_DIM, 1);
    let data = low_rank.sample(max_rows, 2);
    let queries = low_rank.sample(plan.hnsw_queries, 3);

    step("k-means");
    let kmeans_ns_per_eval =
        measure::kmeans_ns_per_eval(&data[..plan.kmeans_rows * ANN_DIM], ANN_DIM, KMEANS_K, 4);
    step("PQ lookups");
    let pq_ns_per_lookup = measure::pq_ns_per_lookup(
        &data[..plan.kmeans_rows * ANN_DIM],
        ANN_DIM,
        PQ_M,
        plan.round_secs,
    );

    let mut search = Vec::new();
    let mut build = Vec::new();
    for &rows in &plan.hnsw_rows {
        for &m in &plan.hnsw_m {
            step(&format!("HNSW build and search, {rows} rows, M {m}"));
            let (index, ns_per_insert, evals_per_insert) =
                measure::hnsw_build(&data[..rows * ANN_DIM], ANN_DIM, m, HNSW_EF_CONSTRUCTION);
            build.push(HnswBuildSample {
                rows: rows as u64,
                m: m as u32,
                ef_construction: HNSW_EF_CONSTRUCTION as u32,
                evals_per_insert,
                ns_per_insert,
            });
            for ef in HNSW_EFS {
                let (visited, ns_per_query) = measure::hnsw_search(&index, &queries, ANN_DIM, ef);
                search.push(HnswSearchSample {
                    rows: rows as u64,
                    m: m as u32,
                    ef: ef as u32,
                    visited,
                    ns_per_query,
                });
            }
        }
    }
    for &(r, m, efc) in &plan.hnsw_extra {
        let rows = plan.hnsw_rows[r];
        step(&format!(
            "HNSW build, {rows} rows, M {m}, efConstruction {efc}"
        ));
        let (_, ns_per_insert, evals_per_insert) =
            measure::hnsw_build(&data[..rows * ANN_DIM], ANN_DIM, m, efc);
        build.push(HnswBuildSample {
            rows: rows as u64,
            m: m as u32,
            ef_construction: efc as u32,
            evals_per_insert,
            ns_per_insert,
        });
    }

    step(&format!(
        "HNSW search at dim {HNSW_WIDE_DIM}, {} rows, M {HNSW_WIDE_M}",
        plan.hnsw_wide_rows
    ));
    let wide_search = hnsw_wide_search(&plan);

    Profile {
        machine: Machine {
            cpu_model: cpu_model(),
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()) as u32,
            isa_flags: isa_flags(),
            isa: best,
            ghz,
            simctl_version: env!("CARGO_PKG_VERSION").to_string(),
            quick: opts.quick,
        },
        bandwidth: Bandwidth { read_bytes_per_s },
        topk,
        hnsw: hnsw_cost(search, build, wide_search),
        ivf: IvfCost {
            dim: ANN_DIM as u32,
            kmeans_ns_per_eval,
            pq_ns_per_lookup,
            pq_m: PQ_M as u32,
        },
        distance,
        sq8,
        tiled,
    }
}

/// Number of `step` calls [`calibrate`] makes.
pub fn steps(opts: Options) -> u64 {
    let plan = Plan::new(opts.quick);
    let isas = distance::available().len();
    let tiled = if topk::tiled_supported() {
        2 * DIMS.len()
    } else {
        0
    };
    let per_run = 2
        + isas * DIMS.len() * 3
        + tiled
        + 3
        + plan.hnsw_rows.len() * plan.hnsw_m.len()
        + plan.hnsw_extra.len()
        + 1;
    (opts.runs.max(1) * per_run) as u64
}

/// Searches of one graph of the same low-rank data at [`HNSW_WIDE_DIM`] (built at the
/// main builds' efConstruction), at the main beam widths.
fn hnsw_wide_search(plan: &Plan) -> Vec<HnswSearchSample> {
    let source = LowRank::new(HNSW_WIDE_DIM, 1);
    let data = source.sample(plan.hnsw_wide_rows, 2);
    let queries = source.sample(plan.hnsw_queries, 3);
    let (index, _, _) =
        measure::hnsw_build(&data, HNSW_WIDE_DIM, HNSW_WIDE_M, HNSW_EF_CONSTRUCTION);
    HNSW_EFS
        .iter()
        .map(|&ef| {
            let (visited, ns_per_query) = measure::hnsw_search(&index, &queries, HNSW_WIDE_DIM, ef);
            HnswSearchSample {
                rows: plan.hnsw_wide_rows as u64,
                m: HNSW_WIDE_M as u32,
                ef: ef as u32,
                visited,
                ns_per_query,
            }
        })
        .collect()
}

/// Fits the HNSW laws and per-node times to the samples.
fn hnsw_cost(
    search: Vec<HnswSearchSample>,
    build: Vec<HnswBuildSample>,
    wide_search: Vec<HnswSearchSample>,
) -> HnswCost {
    let (visited_a, v) = fit::power_law(
        &search
            .iter()
            .map(|s| {
                (
                    vec![s.ef as f64, s.m as f64, (s.rows as f64).ln()],
                    s.visited,
                )
            })
            .collect::<Vec<_>>(),
    );
    let (build_a, b) = fit::power_law(
        &build
            .iter()
            .map(|s| {
                (
                    vec![s.ef_construction as f64, s.m as f64, (s.rows as f64).ln()],
                    s.evals_per_insert,
                )
            })
            .collect::<Vec<_>>(),
    );
    HnswCost {
        dim: ANN_DIM as u32,
        visited_a,
        visited_ef_exp: v[0],
        visited_m_exp: v[1],
        visited_ln_n_exp: v[2],
        build_a,
        build_ef_exp: b[0],
        build_m_exp: b[1],
        build_ln_n_exp: b[2],
        search,
        build,
        wide_dim: Some(HNSW_WIDE_DIM as u32),
        wide_search,
    }
}

fn cpuinfo() -> String {
    std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()
}

fn cpu_model() -> String {
    cpuinfo()
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// The SIMD flags the kernels care about, as the CPU reports them.
fn isa_flags() -> Vec<String> {
    const WANTED: [&str; 8] = [
        "sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "asimd",
    ];
    let info = cpuinfo();
    let flags: Vec<&str> = info
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            matches!(k.trim(), "flags" | "Features").then_some(v)
        })
        .map(|v| v.split_whitespace().collect())
        .unwrap_or_default();
    WANTED
        .iter()
        .filter(|w| flags.contains(w))
        .map(|w| w.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fastest_of_keeps_each_figures_fastest_run() {
        let fast = Profile::reference();
        let mut slow = fast.clone();
        slow.machine.ghz /= 2.0;
        slow.bandwidth
            .read_bytes_per_s
            .iter_mut()
            .for_each(|b| *b /= 2.0);
        slow.distance.iter_mut().for_each(|d| d.cache_ns *= 2.0);
        slow.hnsw
            .search
            .iter_mut()
            .for_each(|s| s.ns_per_query *= 2.0);
        slow.hnsw
            .build
            .iter_mut()
            .for_each(|b| b.ns_per_insert *= 2.0);
        slow.topk.ns_per_candidate *= 2.0;
        slow.tiled.iter_mut().for_each(|t| t.stream_ns *= 2.0);
        let mut merged = fastest_of(vec![slow.clone(), fast.clone()]);
        merged.round_figures();
        assert_eq!(merged.machine.ghz, fast.machine.ghz);
        assert_eq!(merged.bandwidth, fast.bandwidth);
        assert_eq!(merged.distance, fast.distance);
        assert_eq!(merged.topk, fast.topk);
        assert!(!fast.tiled.is_empty());
        assert_eq!(merged.tiled, fast.tiled);
        assert_eq!(merged.hnsw.search, fast.hnsw.search);
        assert!((merged.hnsw.visited_a / fast.hnsw.visited_a - 1.0).abs() < 1e-3);
    }
}
