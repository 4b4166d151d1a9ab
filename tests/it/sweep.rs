//! Sweeps: sharded runs merge into the same index as one unsharded run; compare reads
//! runs and sweeps.

use std::path::Path;
use std::process::Command;

use crate::common::{repo, temp_dir};

fn simctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_simctl"))
        .args(args)
        .current_dir(repo(""))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn sweep(out: &Path, extra: &[&str]) {
    let out = out.to_str().unwrap();
    let mut args = vec![
        "sweep",
        "experiments/compare-topologies.toml",
        "--set",
        "duration=8s",
        "--set",
        "warmup=2s",
        "--jobs",
        "2",
        "-q",
        "--out",
        out,
    ];
    args.extend_from_slice(extra);
    let (code, stdout, stderr) = simctl(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
}

#[test]
fn three_shards_merged_equal_one_unsharded_sweep() {
    let tmp = temp_dir("sweep-shards");
    let whole = tmp.join("whole");
    let sharded = tmp.join("sharded");
    sweep(&whole, &[]);
    for s in ["1/3", "2/3", "3/3"] {
        sweep(&sharded, &["--shard", s]);
    }
    assert!(
        !sharded.join("points.parquet").exists(),
        "a shard must not write the index"
    );
    let (code, out, err) = simctl(&["sweep", "--merge", sharded.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let a = std::fs::read(whole.join("points.parquet")).unwrap();
    let b = std::fs::read(sharded.join("points.parquet")).unwrap();
    assert!(a == b, "merged shards differ from the unsharded sweep");

    // One row per point, with the varied keys and the summary figures as columns.
    let bytes = std::fs::File::open(whole.join("points.parquet")).unwrap();
    use polars::prelude::*;
    let df = ParquetReader::new(bytes).finish().unwrap();
    assert_eq!(df.height(), 12);
    for c in [
        "point",
        "dir",
        "topology",
        "workload_search_qps",
        "requests.search.p99_ms",
    ] {
        assert!(
            df.column(c).is_ok(),
            "points.parquet lacks {c}: {:?}",
            df.get_column_names()
        );
    }

    // compare reads a sweep and runs; JSON parses and names the best value.
    let (code, json, _) = simctl(&["compare", whole.to_str().unwrap(), "--format", "json"]);
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["runs"].as_array().unwrap().len(), 12);
    let qps = v["figures"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["figure"] == "search qps")
        .unwrap();
    assert!(!qps["best"].as_array().unwrap().is_empty());
    let (code, table, _) = simctl(&[
        "compare",
        whole
            .join("topology=seed-26-hosts/workload_search_qps=500")
            .to_str()
            .unwrap(),
        whole
            .join("topology=seed-plus-2-query/workload_search_qps=2000")
            .to_str()
            .unwrap(),
    ]);
    assert_eq!(code, 0);
    assert!(
        table.contains("search p99 (ms)") && table.contains('*'),
        "{table}"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn bad_sweeps_fail_before_running() {
    let tmp = temp_dir("sweep-bad");
    let out = tmp.join("o");
    let (code, _, err) = simctl(&[
        "sweep",
        "experiments/quickstart.toml",
        "--vary",
        "workload.search_qps=100,-5",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("search_qps"), "{err}");
    assert!(!out.exists(), "nothing may be written for a bad sweep");
    let (code, _, err) = simctl(&["sweep", "experiments/quickstart.toml", "--shard", "4/3"]);
    assert_eq!(code, 2, "{err}");
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn sweeping_the_number_of_query_hosts_adds_hosts_and_lowers_p99() {
    let out = temp_dir("sweep-count");
    let o = out.to_str().unwrap();
    let (code, stdout, stderr) = simctl(&[
        "sweep",
        "experiments/quickstart.toml",
        "--vary",
        "topology.class.query.count=4,5,7",
        "--set",
        "duration=20s",
        "--jobs",
        "2",
        "-q",
        "--out",
        o,
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    use polars::prelude::SerReader;
    let f = std::fs::File::open(out.join("points.parquet")).unwrap();
    let points = polars::prelude::ParquetReader::new(f).finish().unwrap();
    let col = |name: &str| -> Vec<f64> {
        points
            .column(name)
            .unwrap()
            .f64()
            .unwrap()
            .into_no_null_iter()
            .collect()
    };
    assert_eq!(col("hardware.classes.query.hosts"), [4.0, 5.0, 7.0]);
    // Copied hosts run copied, pinned query-node services.
    let p99 = col("requests.search.p99_ms");
    assert!(
        p99[0] > p99[1] && p99[1] > p99[2],
        "p99 by host count: {p99:?}"
    );
    // A count of zero is bad input, reported before anything is written.
    let bad = out.join("bad");
    let (code, _, stderr) = simctl(&[
        "run",
        "experiments/quickstart.toml",
        "--set",
        "topology.class.query.count=0",
        "--out",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(code, 2);
    assert!(stderr.contains("give between 1 and"), "{stderr}");
    assert!(!bad.exists());
}
