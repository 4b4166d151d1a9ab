//! Prediction check of the cost model against the kernels, on this machine.
//!
//! ```text
//! cargo run --release --example predict [-- --profile FILE] [--threads 2]
//! ```
//!
//! Calibrates (quick) unless given a profile, describes this machine as a target host
//! (its clock, ISA, and the read bandwidth measured with `--threads` threads), predicts
//! the wall time of
//!
//! * (a) a brute-force top-10 search of 200k x 768 with nq = 10, the rows split between
//!   the threads, and
//! * (b) an HNSW build (M 16, efConstruction 40) of 100k x 128 low-rank rows on the threads,
//!
//! then runs both with the kernels and prints predicted / measured, against the wall
//! clock and against CPU time per thread: the model's target is 0.8 to 1.25. A timing on
//! a shared machine, so an example and not a test.

use std::time::Instant;

use clap::Parser;
use simctl::calibrate::profile::{Profile, ProfileChoice};
use simctl::calibrate::{self, Options};
use simctl::engine::SimDuration;
use simctl::hw::{DiskSpec, HostCost, HostSpec, IndexKind, IndexSpec, SearchSpec, SwarmRole};
use simctl::kernels::data::LowRank;
use simctl::kernels::distance::Metric;
use simctl::kernels::hnsw::{Hnsw, HnswParams};
use simctl::kernels::topk::{flat_search, Neighbor};

#[derive(Parser)]
struct Args {
    /// Use this profile instead of calibrating now (`--profile reference` for the
    /// built-in one).
    #[arg(long)]
    profile: Option<String>,
    /// Threads of both runs.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Timed runs of each case; the fastest is kept, as calibration keeps its fastest
    /// rounds (other processes only ever slow a run down).
    #[arg(long, default_value_t = 3)]
    repeats: usize,
}

const FLAT_ROWS: usize = 200_000;
const FLAT_DIM: usize = 768;
const FLAT_NQ: usize = 10;
const TOPK: usize = 10;
const HNSW_ROWS: usize = 100_000;
const HNSW_DIM: usize = 128;
const HNSW_PARAMS: HnswParams = HnswParams {
    m: 16,
    ef_construction: 40,
    seed: 42,
};

fn main() {
    let args = Args::parse();
    let threads = args.threads.max(1);
    let profile: Profile = match args.profile.as_deref() {
        Some("reference") => (*ProfileChoice::reference().profile).clone(),
        Some(path) => match ProfileChoice::load(std::path::Path::new(path)) {
            Ok(c) => (*c.profile).clone(),
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        },
        None => {
            let t = Instant::now();
            eprintln!("calibrating (quick) ...");
            let p = calibrate::calibrate(
                Options {
                    quick: true,
                    threads,
                    runs: 1,
                },
                &mut |_| {},
            );
            eprintln!("calibrated in {:.1} s", t.elapsed().as_secs_f64());
            p
        }
    };
    let bw = &profile.bandwidth.read_bytes_per_s;
    let machine = HostSpec {
        name: "this machine".into(),
        address: "127.0.0.1".into(),
        class: "calibration".into(),
        cores: threads as u32,
        background_cores: 0.0,
        ghz: profile.machine.ghz,
        isa: profile.machine.isa,
        memory_bytes: 0,
        memory_bandwidth_bytes_per_s: bw[(threads - 1).min(bw.len() - 1)],
        disk: DiskSpec {
            size_bytes: 0,
            read_bytes_per_s: 1.0,
            write_bytes_per_s: 1.0,
            iops: 1.0,
            fsync_latency: SimDuration::from_millis(1),
            read_latency: simctl::hw::host::DEFAULT_DISK_READ_LATENCY,
        },
        nic_bytes_per_s: 1.0,
        search_server: Default::default(),
        labels: Default::default(),
        role: SwarmRole::Worker,
    };
    let profile = std::sync::Arc::new(profile);
    let cost = HostCost::with_threads(&machine, &profile, threads as u32);
    println!(
        "target: {} threads at {:.2} GHz, {}, {:.1} GB/s read bandwidth ({})",
        threads,
        machine.ghz,
        machine.isa.name(),
        machine.memory_bandwidth_bytes_per_s / 1e9,
        if profile.machine.quick {
            "quick profile"
        } else {
            "full profile"
        }
    );

    // (a) Each thread scans its share of the rows for all queries.
    let share = FLAT_ROWS.div_ceil(threads);
    let flat = IndexSpec {
        kind: IndexKind::Flat,
        dim: FLAT_DIM as u32,
        nlist: 0,
        pq_m: 0,
        pq_nbits: 8,
        hnsw_m: 0,
        diskann: Default::default(),
    };
    let search = SearchSpec {
        nq: FLAT_NQ as u32,
        topk: TOPK as u32,
        nprobe: 1,
        ef: 0,
        search_list: 0,
    };
    let predicted_a = cost.segment_search_work_ns(&flat, share as u64, &search) / 1e9;
    let data = hashed(FLAT_ROWS * FLAT_DIM, 1);
    let queries = hashed(FLAT_NQ * FLAT_DIM, 2);
    let measured_a = timed(args.repeats * 10, threads, || {
        std::hint::black_box(parallel_flat(&queries, &data, threads));
    });
    drop(data);

    // (b) The parallel HNSW build.
    let hnsw = IndexSpec {
        kind: IndexKind::Hnsw,
        dim: HNSW_DIM as u32,
        nlist: 0,
        pq_m: 0,
        pq_nbits: 8,
        hnsw_m: HNSW_PARAMS.m as u32,
        diskann: Default::default(),
    };
    let predicted_b =
        cost.segment_build_ns(&hnsw, HNSW_ROWS as u64, HNSW_PARAMS.ef_construction as u32)
            / threads as f64
            / 1e9;
    let rows = LowRank::new(HNSW_DIM, 1).sample(HNSW_ROWS, 2);
    let mut evals_per_insert = 0.0;
    let measured_b = timed(args.repeats, threads, || {
        let index = Hnsw::build_parallel(&rows, HNSW_DIM, Metric::L2, HNSW_PARAMS, threads);
        assert_eq!(index.len(), HNSW_ROWS);
        evals_per_insert = index.build_stats().distance_evals as f64 / HNSW_ROWS as f64;
    });

    println!(
        "{:<48} {:>9} {:>9} {:>6} {:>9} {:>6}",
        "case", "predicted", "wall", "ratio", "cpu/thr", "ratio"
    );
    for (name, p, (wall, cpu)) in [
        (
            format!("(a) flat top-{TOPK}, {FLAT_ROWS} x {FLAT_DIM}, nq={FLAT_NQ}"),
            predicted_a,
            measured_a,
        ),
        (
            format!("(b) HNSW build, {HNSW_ROWS} x {HNSW_DIM}, M 16 efC 40"),
            predicted_b,
            measured_b,
        ),
    ] {
        let cpu = cpu.map_or("-".to_string(), |c| format!("{c:.3} s {:>6.2}", p / c));
        println!(
            "{name:<48} {p:>7.3} s {wall:>7.3} s {:>6.2} {cpu:>16}",
            p / wall
        );
    }
    println!(
        "(b) distance evaluations per insert: predicted {:.0}, counted {evals_per_insert:.0}",
        cost.hnsw_build_evals_per_insert(
            HNSW_ROWS as u64,
            HNSW_PARAMS.m as u32,
            HNSW_PARAMS.ef_construction as u32
        )
    );
    println!(
        "wall: the fastest run; cpu/thr: the process's CPU time per run over the threads, \
         what the run would take with the cores to itself (a shared machine slows the wall \
         clock, not this)"
    );
}

/// Seconds of the fastest of `repeats` runs of `f`, and the process's CPU seconds per
/// run over `threads` (where Linux reports them).
fn timed(repeats: usize, threads: usize, mut f: impl FnMut()) -> (f64, Option<f64>) {
    let repeats = repeats.max(1);
    let cpu_start = process_cpu_secs();
    let fastest = (0..repeats)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    let cpu = cpu_start
        .zip(process_cpu_secs())
        .map(|(a, b)| (b - a) / (repeats * threads) as f64);
    (fastest, cpu)
}

/// User plus system CPU time of this process, every thread's, from /proc/self/stat
/// (fields 14 and 15, in clock ticks of 1/100 s, Linux's USER_HZ on x86_64 and aarch64).
fn process_cpu_secs() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// `len` floats in [0, 1) from a multiplicative hash: brute force does not care what
/// the values are, and this fills 600 MB quickly.
fn hashed(len: usize, salt: u32) -> Vec<f32> {
    (0..len as u32)
        .map(|i| (i ^ salt.rotate_left(16)).wrapping_mul(2_654_435_761) as f32 / 4_294_967_296.0)
        .collect()
}

/// Brute force on `threads` threads, each over its own share of the rows, merged.
fn parallel_flat(queries: &[f32], data: &[f32], threads: usize) -> Vec<Vec<Neighbor>> {
    let share = (data.len() / FLAT_DIM).div_ceil(threads) * FLAT_DIM;
    let parts: Vec<Vec<Vec<Neighbor>>> = std::thread::scope(|s| {
        let handles: Vec<_> = data
            .chunks(share)
            .enumerate()
            .map(|(i, part)| {
                s.spawn(move || {
                    let mut found = flat_search(Metric::L2, queries, part, FLAT_DIM, TOPK);
                    let first = (i * share / FLAT_DIM) as u64;
                    found.iter_mut().flatten().for_each(|n| n.id += first);
                    found
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a search thread panicked"))
            .collect()
    });
    (0..queries.len() / FLAT_DIM)
        .map(|q| {
            let mut all: Vec<Neighbor> = parts.iter().flat_map(|p| p[q].iter().copied()).collect();
            all.sort_by(|a, b| a.distance.total_cmp(&b.distance).then(a.id.cmp(&b.id)));
            all.truncate(TOPK);
            all
        })
        .collect()
}
