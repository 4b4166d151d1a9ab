//! Object storage behind its load balancer: in the users' stack every Milvus process
//! reaches MinIO through nginx (`minio-proxy`, 2 tasks on the managers; reference
//! §1.10), so segment loads cross a manager's NIC.

use polars::prelude::*;

use crate::common::{experiment_with, frame, run_to, temp_dir};

/// Bytes service `service` received over the run, summed over the timeseries.
fn rx_bytes(ts: &DataFrame, service: &str) -> f64 {
    let svc = ts.column("service").unwrap().str().unwrap();
    let rx = ts.column("net_rx_bytes").unwrap().u64().unwrap();
    (0..ts.height())
        .filter(|&i| svc.get(i) == Some(service))
        .map(|i| rx.get(i).unwrap_or(0) as f64)
        .sum()
}

#[test]
fn segment_reloads_after_a_node_failure_pass_through_the_minio_nginx() {
    let out = temp_dir("storage-nginx");
    let s = run_to(
        "experiments/node-failure.toml",
        &["duration=15m", "fault.0.recover_at=14m"],
        &out,
    );
    let reloaded = s["faults"][0]["bytes_reloaded"].as_f64().unwrap();
    assert!(reloaded > 1e10, "reloaded {reloaded} bytes");
    let ts = frame(&out, "timeseries.parquet");
    let _ = std::fs::remove_dir_all(&out);
    // Both nginx tasks carry the reload (round robin), every byte of it.
    for manager in ["manager1", "manager2", "manager3"] {
        let host = ts.column("host").unwrap().str().unwrap();
        let svc = ts.column("service").unwrap().str().unwrap();
        let on = (0..ts.height())
            .any(|i| host.get(i) == Some(manager) && svc.get(i) == Some("minio-proxy"));
        if on {
            let rx = ts.column("net_rx_bytes").unwrap().u64().unwrap();
            let got: u64 = (0..ts.height())
                .filter(|&i| host.get(i) == Some(manager) && svc.get(i) == Some("minio-proxy"))
                .map(|i| rx.get(i).unwrap_or(0))
                .sum();
            assert!(
                got as f64 > 0.3 * reloaded,
                "{manager}'s nginx carried {got} bytes"
            );
        }
    }
    let through = rx_bytes(&ts, "minio-proxy");
    assert!(
        through >= reloaded,
        "nginx received {through} bytes of the {reloaded} reloaded"
    );
}

#[test]
fn without_its_nginx_object_storage_is_out_of_reach_until_nginx_returns() {
    let out = temp_dir("storage-nginx-down");
    // ingest-30m shortened to 600,000 rows, with both nginx tasks killed from 5 s to
    // 65 s: inserts go on (they need Pulsar, not MinIO), but syncs and flushes wait.
    let exp = experiment_with(
        "experiments/ingest-30m.toml",
        &out,
        "nginx-down.toml",
        |t| {
            t + "\n[[fault]]\nkind = \"process_crash\"\nservice = \"minio-proxy\"\nat = \"5s\"\nrecover_at = \"65s\"\n"
        },
    );
    let s = run_to(
        exp.to_str().unwrap(),
        &["workload.insert.rows=600000", "duration=20m"],
        &out.join("run"),
    );
    let _ = std::fs::remove_dir_all(&out);
    let f = |p: &str| crate::common::f(&s, p);
    assert_eq!(f("ingest.rows_failed"), 0.0);
    assert!(f("ingest.acked_s") < 30.0, "inserts wait for nothing");
    // Nothing reaches object storage while nginx is down; every row does later.
    assert!(
        f("ingest.flushed_s") >= 65.0,
        "flushed at {}",
        f("ingest.flushed_s")
    );
    assert_eq!(f("ingest.rows_flushed"), 600_000.0);
}

#[test]
fn compaction_holds_both_copies_of_what_it_merged_until_garbage_collection() {
    let out = temp_dir("storage-gc");
    let s = run_to("experiments/ingest-30m.toml", &["duration=5h"], &out);
    let _ = std::fs::remove_dir_all(&out);
    let f = |p: &str| crate::common::f(&s, p);
    // Binlogs (30 M x 4,104 bytes) and HNSW files (30 M x (4,096 + 16 x 8) bytes).
    let one_copy = 30e6 * 4104.0 + 30e6 * (4096.0 + 128.0);
    assert!((f("storage.bytes_at_end") - one_copy).abs() < 0.01 * one_copy);
    // Compaction rewrote the small segments, three quarters of the rows (those of
    // 65,154 rows and more, half of max rows, are not small: reference §1.5): both
    // copies of those were held until the garbage collector, 3 h after the drop,
    // removed the old one.
    let merged = f("storage.gc_removed_bytes");
    assert!(
        (0.6 * one_copy..0.9 * one_copy).contains(&merged),
        "{merged}"
    );
    assert!((f("storage.peak_bytes") - (one_copy + merged)).abs() < 0.01 * one_copy);
    assert_eq!(f("storage.garbage_bytes_at_end"), 0.0);
    // 4 MinIO hosts of 1 TB, EC:4 over 8 drives: each byte takes two.
    assert!((f("storage.peak_fill") - f("storage.peak_bytes") * 2.0 / 4e12).abs() < 1e-9);
    assert!(s["storage"]["full_at_s"].is_null());
}

#[test]
fn minio_disks_too_small_for_the_index_files_stop_the_builds_with_a_clear_error() {
    let out = temp_dir("storage-full");
    let s = run_to(
        "experiments/ingest-30m.toml",
        &["topology.class.minio.disk.size=\"100GB\""],
        &out,
    );
    let _ = std::fs::remove_dir_all(&out);
    let f = |p: &str| crate::common::f(&s, p);
    // The binlogs fit (every acknowledged row is flushed) ...
    assert_eq!(f("ingest.rows_flushed"), 30e6);
    // ... the index files do not: builds cannot upload, and the summary says why.
    assert!(s["ingest"]["indexed_s"].is_null());
    assert!(f("storage.full_at_s") > 0.0);
    assert!(f("storage.peak_fill") <= 1.0);
    let error = s["storage"]["error"].as_str().unwrap();
    assert!(
        error.contains("give the MinIO hosts larger disks"),
        "{error}"
    );
}
