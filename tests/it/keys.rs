//! Queries and deletes by primary key: queries take the search path and pay a
//! per-segment cost; deletes travel the DML channels, are written as deltalogs, and
//! single-segment compaction rewrites the segments they thin out (reference §1.5,
//! §3.1, §3.3).

use crate::common::{
    assert_same_outputs, event_times, experiment_with, f, frame, run_to, temp_dir,
};

/// quickstart for one simulated minute with 200 queries by key per second.
fn quickstart_with_queries(extra: &[&str], name: &str) -> serde_json::Value {
    let mut sets = vec!["duration=1m", "workload.search_qps=200"];
    sets.extend_from_slice(extra);
    let out = temp_dir(name);
    // The experiment has no [workload.query]: add it through an experiment file.
    let exp = experiment_with(
        "experiments/quickstart.toml",
        &out,
        "quickstart-queries.toml",
        |t| {
            t.replace(
                "consistency = \"Bounded\"",
                "consistency = \"Bounded\"\n\n[workload.query]\nqps = 200\nids = 10",
            )
        },
    );
    let s = run_to(exp.to_str().unwrap(), &sets, &out.join("run"));
    let _ = std::fs::remove_dir_all(&out);
    s
}

#[test]
fn queries_by_key_are_answered_and_cost_a_fixed_amount_per_segment() {
    let s = quickstart_with_queries(&[], "keys-q");
    assert_eq!(f(&s, "requests.query.failed"), 0.0);
    assert!(f(&s, "requests.query.ok") > 10_000.0);
    let (q, search) = (
        f(&s, "requests.query.p50_ms"),
        f(&s, "requests.search.p50_ms"),
    );
    // A lookup by key is cheaper than an HNSW search on the same segments.
    assert!(q < search, "query p50 {q} ms, search p50 {search} ms");
    // Four times the segments (512 MB instead of 2,048 MB): every query visits each
    // of them, paying the fixed per-segment cost, so the query nodes work harder
    // (the segments are searched in parallel, so latency barely moves).
    let cpu = |s: &serde_json::Value| {
        (1..=5)
            .map(|n| f(s, &format!("hosts.query{n}.cpu_util_mean")))
            .sum::<f64>()
    };
    let only = quickstart_with_queries(&["workload.search_qps=1"], "keys-q1");
    let small = quickstart_with_queries(
        &[
            "workload.search_qps=1",
            "milvus.dataCoord.segment.maxSize=512",
        ],
        "keys-q512",
    );
    let (a, b) = (cpu(&only), cpu(&small));
    // The per-request work (measured, the same for both) stays; the per-segment
    // work grows with the segments: 58 -> 230 x ~23 us x 200 queries/s.
    assert!(b > 1.3 * a, "query-node CPU {b} on 4x the segments vs {a}");
}

#[test]
fn strong_queries_wait_for_a_time_tick_as_searches_do() {
    let bounded = quickstart_with_queries(&[], "keys-bounded");
    let strong = quickstart_with_queries(&["workload.consistency=Strong"], "keys-strong");
    let (b, s) = (
        f(&bounded, "requests.query.p50_ms"),
        f(&strong, "requests.query.p50_ms"),
    );
    // reference §3.2: Strong waits for a tick at or past its timestamp (200 ms ticks).
    assert!(s > b + 50.0, "Strong p50 {s} ms, Bounded p50 {b} ms");
    assert!(s < b + 400.0, "Strong p50 {s} ms, Bounded p50 {b} ms");
}

/// 1.2 M deletes from 60 to 300 s; the deltalogs are written one sync period
/// (600 s) after the first delete, and compaction (every 60 s) acts on them.
const SHORT_DELETES: &[&str] = &["duration=15m", "workload.delete.rows=1200000"];

#[test]
fn every_acknowledged_delete_is_persisted_and_reaches_a_deltalog() {
    let out = temp_dir("keys-deletes");
    let s = run_to("experiments/retention-deletes.toml", SHORT_DELETES, &out);
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(f(&s, "deletes.rows"), 1_200_000.0);
    assert_eq!(f(&s, "deletes.rows_failed"), 0.0);
    assert_eq!(f(&s, "deletes.rows_persisted"), 1_200_000.0);
    // Persisted deletes are either in deltalogs or still buffered (and in Pulsar).
    assert_eq!(
        f(&s, "deletes.rows_in_deltalogs") + f(&s, "deletes.rows_buffered_at_end"),
        1_200_000.0
    );
    assert_eq!(f(&s, "requests.delete.failed"), 0.0);
    assert_eq!(f(&s, "requests.search.failed"), 0.0);
    assert_eq!(f(&s, "requests.query.failed"), 0.0);
    assert_deletes_accounted(&s);
}

/// Every persisted delete is in exactly one place: it matched no row, it marks a row
/// of a segment in use, or compaction removed the row.
fn assert_deletes_accounted(s: &serde_json::Value) {
    assert_eq!(
        f(s, "deletes.rows_persisted"),
        f(s, "deletes.rows_unmatched")
            + f(s, "deletes.rows_marked")
            + f(s, "deletes.rows_compacted_away"),
        "{}",
        s["deletes"]
    );
}

#[test]
fn deletes_are_accounted_through_rewrites_and_a_datacoord_restart() {
    // 3 M deletes over 40 minutes with small delete buffers: many deltalogs and
    // rewrites while deletes keep coming, for the oldest rows and spread evenly;
    // then datacoord crashes at 100 s and returns at 110 s.
    let base = [
        "duration=40m",
        "milvus.dataNode.segment.deleteBufBytes=1048576",
    ];
    for order in ["oldest", "uniform"] {
        let mut sets = base.to_vec();
        let o = format!("workload.delete.order={order}");
        sets.push(&o);
        let out = temp_dir(&format!("keys-acct-{order}"));
        let s = run_to("experiments/retention-deletes.toml", &sets, &out);
        let _ = std::fs::remove_dir_all(&out);
        assert!(f(&s, "deletes.compactions") > 0.0);
        assert_deletes_accounted(&s);
    }
    // The delete-only workload's loops come back with a restarted datacoord.
    let out = temp_dir("keys-acct-crash");
    let exp = experiment_with(
        "experiments/retention-deletes.toml",
        &out,
        "crash.toml",
        |t| {
            t + "\n[[fault]]\nkind = \"process_crash\"\nservice = \"datacoord\"\nat = \"100s\"\nrecover_at = \"110s\"\n"
        },
    );
    let s = run_to(exp.to_str().unwrap(), &base, &out.join("run"));
    let _ = std::fs::remove_dir_all(&out);
    assert!(f(&s, "deletes.compactions") > 0.0);
    assert_deletes_accounted(&s);
}

#[test]
fn deleting_the_oldest_rows_compacts_whole_segments_and_spread_deletes_do_not() {
    let out = temp_dir("keys-oldest");
    let oldest = run_to("experiments/retention-deletes.toml", SHORT_DELETES, &out);
    // 1.2 M of 10 M rows: the oldest segments lose every row and are rewritten,
    // once their deletes are in deltalogs.
    assert_eq!(f(&oldest, "deletes.rows_in_deltalogs"), 1_200_000.0);
    assert!(f(&oldest, "deletes.compactions") >= 8.0);
    assert!(f(&oldest, "deletes.rows_compacted_away") >= 1_000_000.0);
    let mut sets = SHORT_DELETES.to_vec();
    sets.push("workload.delete.order=uniform");
    let uniform = run_to("experiments/retention-deletes.toml", &sets, &out);
    let _ = std::fs::remove_dir_all(&out);
    // 12 % of each segment, below the 20 % (or 2 MiB of deletes) that triggers a
    // single-segment compaction (reference §1.5).
    assert_eq!(f(&uniform, "deletes.compactions"), 0.0);
    assert_eq!(f(&uniform, "deletes.rows_persisted"), 1_200_000.0);
    // ... unless the threshold is lowered.
    sets.push("milvus.dataCoord.compaction.single.ratio.threshold=0.1");
    let out = temp_dir("keys-uniform-low");
    let low = run_to("experiments/retention-deletes.toml", &sets, &out);
    let _ = std::fs::remove_dir_all(&out);
    // (At most 2 rewrites per data node at a time, planned every 60 s.)
    assert!(f(&low, "deletes.compactions") >= 10.0);
}

#[test]
fn many_deltalog_files_compact_a_segment_and_delete_buffers_take_memory() {
    // Uniform deletes at 12 % stay below the ratio and size triggers; with 1 MiB
    // delete buffers each segment gets a deltalog file per buffer written.
    let mut sets = SHORT_DELETES.to_vec();
    sets.push("workload.delete.order=uniform");
    sets.push("milvus.dataNode.segment.deleteBufBytes=1048576");
    let out = temp_dir("keys-files");
    let default = run_to("experiments/retention-deletes.toml", &sets, &out.join("a"));
    assert_eq!(f(&default, "deletes.compactions"), 0.0);
    assert!(f(&default, "deletes.deltalogs") >= 10.0);
    // reference §1.5: past dataCoord.compaction.single.deltalog.maxnum files a
    // segment is rewritten on its own; rewrites still running at the end hold their
    // inputs' rows and deletes, so each delete is counted once.
    sets.push("milvus.dataCoord.compaction.single.deltalog.maxnum=5");
    let few = run_to("experiments/retention-deletes.toml", &sets, &out.join("b"));
    assert!(f(&few, "deletes.compactions") >= 10.0);
    assert_deletes_accounted(&few);
    // The data nodes hold their channels' buffered deletes (16 bytes each): with
    // 64 MiB buffers the 1.2 M deletes (19.2 MB) stay buffered until the sync
    // period, with 1 MiB buffers at most about 1 MiB a channel is.
    let mut sets = SHORT_DELETES.to_vec();
    sets.push("workload.delete.order=uniform");
    let big = run_to("experiments/retention-deletes.toml", &sets, &out.join("c"));
    let _ = std::fs::remove_dir_all(&out);
    let peak = |s: &serde_json::Value| -> f64 {
        let hosts = s["peak_memory_bytes"]
            .as_object()
            .expect("peak memory per host");
        hosts.values().map(|v| v.as_f64().unwrap()).sum()
    };
    let grown = peak(&big) - peak(&default);
    assert_deletes_accounted(&big);
    assert!(
        (14e6..=20e6).contains(&grown),
        "data nodes' peak memory grew by {grown} bytes"
    );
}

#[test]
fn the_same_deletes_give_the_same_bytes() {
    let a = temp_dir("keys-det-a");
    let b = temp_dir("keys-det-b");
    let sets = &["duration=4m", "workload.delete.rows=600000"];
    run_to("experiments/retention-deletes.toml", sets, &a);
    run_to("experiments/retention-deletes.toml", sets, &b);
    assert_same_outputs(&a, &b, "retention-deletes");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn a_restarted_querycoord_still_loads_what_deletes_rewrite() {
    // The delete-only workload of retention-deletes, with querycoord dying at 100 s
    // and back at 110 s: its target loop must come back too, so the segments
    // single-segment compaction rewrites afterwards are handed to the query nodes as
    // in the run without the crash.
    let out = temp_dir("keys-qc-crash");
    let handoffs = |exp: &str, name: &str| {
        let run = out.join(name);
        let s = run_to(exp, SHORT_DELETES, &run);
        assert!(f(&s, "deletes.compactions") >= 8.0);
        event_times(&frame(&run, "events.parquet"), "segment_handed_off")
    };
    let calm = handoffs("experiments/retention-deletes.toml", "calm");
    let exp = experiment_with(
        "experiments/retention-deletes.toml",
        &out,
        "qc-crash.toml",
        |t| {
            t + "\n[[fault]]\nkind = \"process_crash\"\nservice = \"querycoord\"\nat = \"100s\"\nrecover_at = \"110s\"\n"
        },
    );
    let crashed = handoffs(exp.to_str().unwrap(), "crashed");
    let _ = std::fs::remove_dir_all(&out);
    assert!(!calm.is_empty());
    assert_eq!(
        crashed.iter().filter(|&&t| t > 110.0).count(),
        calm.len(),
        "handed off after the restart: {crashed:?}, without the crash: {calm:?}"
    );
}
