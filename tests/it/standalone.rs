//! Milvus standalone (topologies/standalone.toml): every role in one process on one
//! host, storage on the local disk, RocksMQ as the log broker.

use crate::common::{f, repo, run_to, temp_dir};

#[test]
fn a_standalone_serves_searches_with_every_role_on_its_one_host() {
    let out = temp_dir("standalone-search");
    let s = run_to("experiments/standalone-search.toml", &[], &out);
    assert!(f(&s, "requests.search.ok") > 1000.0);
    assert_eq!(f(&s, "requests.search.failed"), 0.0);
    assert_eq!(s["hardware"]["hosts"], 1);
    // One process: one base footprint, held by the query node with its segments.
    let hosts = s["hosts"].as_object().unwrap();
    assert_eq!(hosts.len(), 1);
    let peak = f(&s, "peak_memory_bytes.milvus");
    assert!(
        peak < 300e6,
        "one 256 MiB process base plus 20k x 128 vectors, not one base per role: {peak}"
    );
}

#[test]
fn a_small_ingest_on_a_standalone_is_flushed_indexed_and_loaded() {
    let out = temp_dir("standalone-ingest");
    let s = run_to("experiments/standalone-ingest.toml", &[], &out);
    assert_eq!(f(&s, "ingest.rows"), 100_000.0);
    assert_eq!(f(&s, "ingest.rows_flushed"), 100_000.0);
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
    assert_eq!(f(&s, "segments.growing_at_end"), 0.0);
    assert!(f(&s, "segments.indexed") >= 1.0);
    // RocksMQ acknowledges after one local write, without an fsync: a disk whose
    // fsync takes a second changes no acknowledgement.
    let slow = run_to(
        "experiments/standalone-ingest.toml",
        &["topology.class.standalone.disk.fsync_latency=\"1s\""],
        &temp_dir("standalone-ingest-slow-fsync"),
    );
    assert_eq!(
        f(&slow, "requests.insert.p50_ms"),
        f(&s, "requests.insert.p50_ms")
    );
    assert_eq!(f(&slow, "ingest.acked_s"), f(&s, "ingest.acked_s"));
}

#[test]
fn rocksmq_writes_wait_for_the_disk_only_beyond_the_page_cache_dirty_limit() {
    // 400k x 128 rows are 208 MB, which RocksMQ writes twice (its log, then the
    // memtable flush). A disk of 5 MB/s takes over a minute for them, but a write
    // without sync returns once in the page cache: with 24 GiB of memory (dirty limit
    // 4.8 GiB) the inserts do not wait for the disk (the flush, whose binlogs go to the
    // same disk, does).
    let sets = |extra: &[&'static str]| {
        let mut v = vec!["workload.insert.rows=400000", "duration=10m"];
        v.extend_from_slice(extra);
        v
    };
    let base = run_to(
        "experiments/standalone-ingest.toml",
        &sets(&[]),
        &temp_dir("standalone-ingest-base"),
    );
    let slow_disk = run_to(
        "experiments/standalone-ingest.toml",
        &sets(&["topology.class.standalone.disk.write=\"5MB/s\""]),
        &temp_dir("standalone-ingest-slow-disk"),
    );
    assert!(f(&base, "ingest.acked_s") < 5.0);
    assert!(f(&slow_disk, "ingest.acked_s") < 5.0);
    assert!(f(&slow_disk, "ingest.flushed_s") > 60.0);
    // With 1 GiB of memory the dirty limit is 205 MiB: once the disk is that far
    // behind, each write waits for the excess, and the inserts go at the disk's pace.
    let small = run_to(
        "experiments/standalone-ingest.toml",
        &sets(&[
            "topology.class.standalone.disk.write=\"5MB/s\"",
            "topology.class.standalone.memory=\"1GiB\"",
        ]),
        &temp_dir("standalone-ingest-small-cache"),
    );
    let acked = f(&small, "ingest.acked_s");
    // (416 MB - 205 MiB) / 5 MB/s is about 40 s of waiting at least.
    assert!(acked > 40.0, "acked at {acked} s");
    assert_eq!(f(&small, "ingest.rows"), 400_000.0);
}

#[test]
fn one_crash_takes_every_role_of_the_standalone_down() {
    let dir = temp_dir("standalone-crash");
    let topology = repo("topologies/standalone.toml");
    let exp = dir.join("crash.toml");
    std::fs::write(
        &exp,
        format!(
            r#"name = "standalone-crash"
topology = {topology:?}
duration = "3m"
warmup = "2s"
[collection]
rows = 20_000
dim = 128
metric = "L2"
index = "HNSW"
index_params = {{ M = 16, efConstruction = 200 }}
[workload]
search_qps = 100
nq = 1
topk = 10
search_params = {{ ef = 64 }}
consistency = "Eventually"
[[fault]]
kind = "process_crash"
service = "standalone"
at = "30s"
"#
        ),
    )
    .unwrap();
    let s = run_to(exp.to_str().unwrap(), &[], &dir.join("out"));
    let fault = &s["faults"][0];
    let target = fault["target"].as_str().unwrap();
    for role in [
        "proxy",
        "rootcoord",
        "querynode",
        "datanode",
        "rocksmq",
        "etcd",
    ] {
        assert!(
            target.contains(&format!("standalone-{role}.1")),
            "the crash names every role: {target}"
        );
    }
    // Nothing serves from the crash until Swarm has restarted the process.
    assert!(f(fault, "first_error_s") < 31.0);
    assert!(f(fault, "failed_requests") > 1000.0);
    assert!(fault["recovered_at_s"].as_f64().is_some());
}

#[test]
fn clients_on_the_servers_host_take_its_cores() {
    // 4 closed-loop clients on the standalone's 2 cores: 2 ms of client CPU per
    // search leaves the server less than half of them.
    let alone = temp_dir("standalone-clients-apart");
    let apart = run_to("experiments/standalone-search.toml", &[], &alone);
    let shared = temp_dir("standalone-clients-on-host");
    let on_host = run_to(
        "experiments/standalone-search.toml",
        &[
            "workload.client_host=\"milvus\"",
            "workload.client_cpu=\"2ms\"",
        ],
        &shared,
    );
    let _ = std::fs::remove_dir_all(&alone);
    let _ = std::fs::remove_dir_all(&shared);
    let qps = |s: &serde_json::Value| f(s, "requests.search.qps");
    assert!(
        qps(&on_host) < 0.6 * qps(&apart),
        "{} vs {}",
        qps(&on_host),
        qps(&apart)
    );
    assert!(f(&on_host, "requests.search.p50_ms") > f(&apart, "requests.search.p50_ms"));
}
