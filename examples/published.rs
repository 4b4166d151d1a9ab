//! The Milvus 2.2.0 benchmark (reference §5.1) predicted, beside its published figures.
//!
//! ```text
//! cargo run --release --example published [-- --out DIR] [--jobs N]
//! ```
//!
//! Runs `experiments/fidelity/milvus-2.2-benchmark.toml` through the sweep machinery at
//! the four published points (query node cores and client concurrency in pairs, which a
//! grid cannot express), writes them as a sweep dataset (`DIR/points.parquet`, readable
//! by `simctl compare`), and prints predicted and published QPS, p50 and p99.

use std::path::{Path, PathBuf};

use clap::Parser;
use simctl::calibrate::profile::ProfileChoice;
use simctl::report::summary::lookup;
use simctl::sweep::{run_points, write_index, Point};

#[derive(Parser)]
struct Args {
    /// Where the sweep dataset goes.
    #[arg(long, default_value = "runs/milvus-2.2-benchmark")]
    out: PathBuf,
    /// Points run in parallel.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
}

/// reference §5.1, scale-up table: (query node cores, concurrency, QPS, p99 ms, p50 ms).
const PUBLISHED: [(u32, u32, f64, f64, f64); 4] = [
    (8, 500, 7153.0, 127.0, 83.0),
    (12, 300, 10248.0, 63.0, 24.0),
    (16, 600, 14135.0, 85.0, 42.0),
    (32, 600, 20281.0, 63.0, 28.0),
];

const EXPERIMENT: &str = "experiments/fidelity/milvus-2.2-benchmark.toml";

fn main() {
    let args = Args::parse();
    let points: Vec<Point> = PUBLISHED
        .iter()
        .enumerate()
        .map(|(index, (cores, clients, ..))| Point {
            index,
            values: vec![
                ("topology.class.query.cores".into(), cores.to_string()),
                ("workload.clients".into(), clients.to_string()),
            ],
        })
        .collect();
    let failures = run_points(
        Path::new(EXPERIMENT),
        &[],
        &ProfileChoice::reference(),
        &points,
        &args.out,
        args.jobs,
        &|_| {},
    );
    for (p, e) in &failures {
        eprintln!("point {:?} failed: {e}", p.values);
    }
    if !failures.is_empty() {
        std::process::exit(2);
    }
    if let Err(e) = write_index(std::slice::from_ref(&args.out), &args.out) {
        eprintln!("cannot write points.parquet: {e}");
        std::process::exit(2);
    }
    println!("Milvus 2.2.0 benchmark (reference §5.1): 1M x 128 HNSW M 8, ef 64, nq 1, topk 1; predicted / published");
    println!(
        "{:>5} {:>7} | {:>9} {:>9} {:>6} | {:>7} {:>7} {:>6} | {:>7} {:>7} {:>6}",
        "cores",
        "clients",
        "qps pred",
        "qps pub",
        "ratio",
        "p50 pr",
        "p50 pub",
        "ratio",
        "p99 pr",
        "p99 pub",
        "ratio"
    );
    for (p, (cores, clients, qps, p99, p50)) in points.iter().zip(PUBLISHED) {
        let path = args.out.join(p.dir()).join("summary.json");
        let text = std::fs::read_to_string(&path).expect("the point wrote its summary");
        let s: serde_json::Value = serde_json::from_str(&text).expect("summary.json is JSON");
        let get = |k: &str| lookup(&s, k).unwrap_or(f64::NAN);
        let (pq, p5, p9) = (
            get("requests.search.qps"),
            get("requests.search.p50_ms"),
            get("requests.search.p99_ms"),
        );
        println!(
            "{cores:>5} {clients:>7} | {pq:>9.0} {qps:>9.0} {:>6.2} | {p5:>7.1} {p50:>7.1} {:>6.2} | {p9:>7.1} {p99:>7.1} {:>6.2}",
            pq / qps,
            p5 / p50,
            p9 / p99
        );
    }
}
