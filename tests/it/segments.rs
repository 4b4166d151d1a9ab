//! Sealed-segment sizes at steady insert rates, against the real Milvus 2.3.5
//! standalone (experiments/fidelity/results-segments.json, `segments.py`): each
//! insert goes whole into one segment, a segment is sealed once the data node has
//! consumed sealProportion x max rows of it, and it overshoots that point by what
//! arrives meanwhile, never past max rows.

use std::path::Path;

use polars::prelude::*;

use crate::common::{frame, repo, temp_dir};

const MEASURED: &str = "experiments/fidelity/results-segments.json";
/// How far the simulated median may lie from the measured one.
const TOLERANCE: f64 = 0.15;

/// The measured case of `rows_per_s` rows/s from one client at maxSize `max_size_mb`.
fn measured_case(doc: &serde_json::Value, max_size_mb: u64, rows_per_s: u64) -> serde_json::Value {
    let server = doc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["max_size_mb"].as_u64() == Some(max_size_mb))
        .unwrap_or_else(|| panic!("no server with maxSize {max_size_mb} MB in {MEASURED}"));
    server["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| {
            c["target_rows_per_s"].as_u64() == Some(rows_per_s) && c["clients"].as_u64() == Some(1)
        })
        .unwrap_or_else(|| panic!("no {rows_per_s} rows/s case at {max_size_mb} MB"))
        .clone()
}

/// The experiment segments_predict.py runs: the standalone topology, an empty
/// dim-128 collection, `rows` inserted at `rate` rows/s in batches of `batch`, then
/// flush().
fn experiment(dir: &Path, max_size_mb: u64, rate: u64, batch: u64, rows: u64) -> String {
    let standalone = "topologies/standalone.toml";
    experiment_on(standalone, dir, max_size_mb, rate, batch, rows, "")
}

/// As [`experiment`], on `topology` (relative to the repository), with more
/// `[milvus]` lines.
fn experiment_on(
    topology: &str,
    dir: &Path,
    max_size_mb: u64,
    rate: u64,
    batch: u64,
    rows: u64,
    milvus: &str,
) -> String {
    let topology = repo(topology);
    let text = format!(
        r#"name = "segments-{rate}"
topology = {topology:?}
duration = "30m"
seed = 1

[collection]
rows = 0
dim = 128
metric = "L2"
index = "FLAT"

[workload]
search_params = {{}}

[workload.insert]
rows = {rows}
rate = {rate}
batch_rows = {batch}
flush = true

[milvus]
"dataCoord.segment.maxSize" = {max_size_mb}
{milvus}"#
    );
    let path = dir.join(format!("segments-{rate}.toml"));
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

/// Rows and seal reason of every segment_sealed event.
fn sealed_segments(ev: &DataFrame) -> Vec<(u64, String)> {
    let kinds = ev.column("kind").unwrap().str().unwrap();
    let detail = ev.column("detail").unwrap().str().unwrap();
    (0..ev.height())
        .filter(|&i| kinds.get(i) == Some("segment_sealed"))
        .map(|i| {
            // "segment ID shard S rows N: sealed (WHY)"
            let d = detail.get(i).unwrap();
            let rows = d.split(" rows ").nth(1).unwrap().split(':').next().unwrap();
            let why = d.rsplit('(').next().unwrap().trim_end_matches(')');
            (rows.parse().unwrap(), why.to_string())
        })
        .collect()
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

#[test]
fn sealed_segments_overshoot_the_seal_point_as_measured_without_splitting_a_request() {
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(repo(MEASURED)).unwrap()).unwrap();
    let dir = temp_dir("segments");
    let max_size_mb = 64;
    for (rate, batch) in [(2_000, 200), (10_000, 1_000), (20_000, 2_000)] {
        let case = measured_case(&doc, max_size_mb, rate);
        assert_eq!(case["batch_rows"].as_u64(), Some(batch));
        let segments = case["segments"].as_array().unwrap();
        let measured_max_rows = segments[0]["max_rows"].as_u64().unwrap();
        let measured_median = case["sealed_rows_summary"]["median"].as_f64().unwrap();

        // Enough rows for about 14 sealed segments, as segments_predict.py inserts.
        let seal_rows = segments[0]["seal_rows"].as_u64().unwrap();
        let rows = 14 * seal_rows.div_ceil(batch) * batch * 2;
        let exp = experiment(&dir, max_size_mb, rate, batch, rows);
        let (e, layout) = simctl::run::prepare(Path::new(&exp), &[]).unwrap();
        // datacoord's max rows: the system fields counted, as the server logged it.
        let max_rows = e.segment_max_rows();
        assert_eq!(max_rows, measured_max_rows, "max rows at {max_size_mb} MB");
        let result = simctl::run::simulate(&e, layout, &mut |_| {});
        let out = dir.join(format!("run-{rate}"));
        simctl::run::write_outputs(&e, &result, &out).unwrap();

        let sealed = sealed_segments(&frame(&out, "events.parquet"));
        assert_eq!(
            sealed.iter().map(|s| s.0).sum::<u64>(),
            rows,
            "{rate} rows/s: every row is in a sealed segment"
        );
        for &(n, _) in &sealed {
            // A request is never split across segments, and none passes max rows.
            assert_eq!(n % batch, 0, "{rate} rows/s: a segment of {n} rows");
            assert!(
                n <= max_rows,
                "{rate} rows/s: {n} rows > max rows {max_rows}"
            );
        }
        let full: Vec<f64> = sealed
            .iter()
            .filter(|s| s.1 == "full")
            .map(|s| s.0 as f64)
            .collect();
        assert!(
            full.len() >= 10,
            "{rate} rows/s: {} sealed when full",
            full.len()
        );
        // Every full segment holds at least the seal point (the data node's count
        // reached it).
        assert!(full.iter().all(|&n| n >= seal_rows as f64));
        let simulated = median(full);
        let off = (simulated - measured_median).abs() / measured_median;
        assert!(
            off <= TOLERANCE,
            "{rate} rows/s: simulated median {simulated} rows, measured {measured_median} ({:.1} % off)",
            off * 100.0
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// reference §3.3 step 6: a sealed segment is flushed once its allocations have
/// expired; the data node counts an insert's rows once a time tick past it closes
/// its pack. A tick never passes an insert still being produced (each proxy
/// reports below its oldest pending one), so even when allocations expire almost at
/// once the counts seen when sealing are complete and no segment passes max rows.
#[test]
fn short_assignment_expiration_never_overfills_a_segment() {
    let dir = temp_dir("segments-expiry");
    let (rate, batch) = (20_000, 2_000);
    let rows = 400_000;
    // The seed cluster: Pulsar's produce takes milliseconds, so ticks race inserts.
    let exp = experiment_on(
        "topologies/seed-26-hosts.toml",
        &dir,
        16,
        rate,
        batch,
        rows,
        "\"dataCoord.segment.assignmentExpiration\" = 20\n",
    );
    let (e, layout) = simctl::run::prepare(Path::new(&exp), &[]).unwrap();
    let max_rows = e.segment_max_rows();
    let result = simctl::run::simulate(&e, layout, &mut |_| {});
    let out = dir.join("run");
    simctl::run::write_outputs(&e, &result, &out).unwrap();
    let sealed = sealed_segments(&frame(&out, "events.parquet"));
    assert!(sealed.len() >= 10, "{} segments sealed", sealed.len());
    assert_eq!(sealed.iter().map(|s| s.0).sum::<u64>(), rows);
    for &(n, _) in &sealed {
        assert!(n <= max_rows, "a segment of {n} rows > max rows {max_rows}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
