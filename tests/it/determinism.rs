//! Same inputs and seed give byte-identical outputs; another seed changes them.

use crate::common::{run_to, temp_dir};

const FILES: [&str; 5] = [
    "summary.json",
    "requests.parquet",
    "timeseries.parquet",
    "events.parquet",
    "manifest.json",
];

fn read(dir: &std::path::Path, f: &str) -> Vec<u8> {
    std::fs::read(dir.join(f)).unwrap_or_else(|e| panic!("{}: {e}", dir.join(f).display()))
}

#[test]
fn same_seed_gives_identical_files_and_another_seed_changes_requests() {
    let tmp = temp_dir("determinism");
    let sets = ["duration=40s", "warmup=5s"];
    let a = tmp.join("a");
    let b = tmp.join("b");
    let c = tmp.join("c");
    run_to("experiments/quickstart.toml", &sets, &a);
    run_to("experiments/quickstart.toml", &sets, &b);
    run_to(
        "experiments/quickstart.toml",
        &["duration=40s", "warmup=5s", "seed=2"],
        &c,
    );
    for f in FILES {
        assert!(
            read(&a, f) == read(&b, f),
            "{f} differs between two runs with the same seed"
        );
    }
    assert!(a.join("perf.json").exists());
    assert!(
        read(&a, "requests.parquet") != read(&c, "requests.parquet"),
        "a different seed left requests.parquet unchanged"
    );
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn the_output_has_every_contract_key_with_sensible_values() {
    let tmp = temp_dir("contract");
    let s = run_to(
        "experiments/quickstart.toml",
        &["duration=30s", "warmup=5s"],
        &tmp.join("out"),
    );
    let search = &s["requests"]["search"];
    for key in ["count", "ok", "failed", "qps", "p50_ms", "p95_ms", "p99_ms"] {
        assert!(
            search[key].is_number(),
            "requests.search.{key} missing: {s}"
        );
    }
    let p50 = search["p50_ms"].as_f64().unwrap();
    let p99 = search["p99_ms"].as_f64().unwrap();
    assert!(p99 > p50 && p50 > 0.0, "p50 {p50}, p99 {p99}");
    let qps = search["qps"].as_f64().unwrap();
    assert!(
        (qps - 1000.0).abs() < 50.0,
        "qps {qps} far from the offered 1000"
    );
    assert_eq!(s["acked_rows_lost"], 0);
    assert_eq!(s["peak_memory_bytes"].as_object().unwrap().len(), 26);
    assert!(s["peak_memory_bytes"]["query1"].as_u64().unwrap() > 10 << 30);
    assert!(s["events_processed"].as_u64().unwrap() > 100_000);
    assert_eq!(s["sim_seconds"], 30.0);
    let asserts = s["assertions"].as_array().unwrap();
    assert!(!asserts.is_empty());
    for a in asserts {
        assert!(
            a["expr"].is_string() && a["value"].is_number() && a["passed"] == true,
            "{a}"
        );
    }
    std::fs::remove_dir_all(&tmp).unwrap();
}
