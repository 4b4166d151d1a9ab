//! Upserts: each replaces the rows of its keys, in one proxy task with one
//! timestamp (the delete of the keys and the insert of the new rows), so the
//! collection keeps its size, acknowledged rows are never lost, and the old rows'
//! deletes thin the segments out as deletes by key do.

use crate::common::{assert_same_outputs, f, run_edited, run_to, temp_dir};

/// 1 M upserts from 60 to 260 s, the run ending at 8 minutes.
const SHORT: &[&str] = &["duration=8m", "workload.upsert.rows=1000000"];

fn upsert(sets: &[&str], tag: &str) -> serde_json::Value {
    let out = temp_dir(tag);
    let s = run_to("experiments/upsert.toml", sets, &out);
    let _ = std::fs::remove_dir_all(&out);
    s
}

#[test]
fn upserts_keep_the_row_count_and_lose_no_acknowledged_row() {
    let s = upsert(SHORT, "upsert-count");
    assert_eq!(f(&s, "upserts.rows"), 1_000_000.0);
    assert_eq!(f(&s, "upserts.rows_failed"), 0.0);
    assert_eq!(f(&s, "requests.upsert.ok"), 1_000.0);
    assert_eq!(f(&s, "requests.upsert.failed"), 0.0);
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
    // Every upserted key replaced one row of the 10 M loaded.
    assert_eq!(f(&s, "upserts.live_rows_at_end"), 10_000_000.0);
    // Its rows went the insert's way and its keys the delete's.
    assert_eq!(f(&s, "ingest.rows"), 1_000_000.0);
    assert_eq!(f(&s, "deletes.rows_persisted"), 1_000_000.0);
    assert_eq!(f(&s, "deletes.rows_unmatched"), 0.0);
    assert_eq!(f(&s, "requests.search.failed"), 0.0);
}

#[test]
fn an_upsert_costs_about_what_inserting_its_rows_costs() {
    // One task, one timestamp: the keys' delete messages (16 bytes a key) go out
    // beside the rows (4 KiB each), not in a second round trip.
    let upserts = upsert(SHORT, "upsert-vs-insert-u");
    let inserts = run_edited(
        "experiments/upsert.toml",
        "upsert-vs-insert-i",
        &["duration=8m", "workload.insert.rows=1000000"],
        |t| {
            let t = t.replace("[workload.upsert]", "[workload.insert]\nflush = false");
            // The assertions are about upserts.
            t[..t.find("[[assert]]").unwrap()].to_string()
        },
    );
    let (u, i) = (
        f(&upserts, "requests.upsert.p50_ms"),
        f(&inserts, "requests.insert.p50_ms"),
    );
    assert!(
        u >= i && u < 1.05 * i,
        "upsert p50 {u} ms, insert p50 {i} ms"
    );
    // The same rows written; the inserts grow the collection, the upserts do not.
    assert_eq!(f(&inserts, "ingest.rows"), f(&upserts, "ingest.rows"));
}

#[test]
fn strong_searches_are_served_while_upserts_run() {
    // Each upsert holds its proxy's time tick until it is answered (reference §1.1):
    // a tick never passes its messages, and never stalls once it is answered.
    let mut sets = SHORT.to_vec();
    sets.push("workload.consistency=Strong");
    let s = upsert(&sets, "upsert-strong");
    assert_eq!(f(&s, "requests.search.failed"), 0.0);
    // At most the searches of the last tick or two are still waiting at the end.
    let waiting = f(&s, "requests.search.incomplete");
    assert!(waiting <= 100.0, "{waiting} searches incomplete at the end");
    // reference §3.2: Strong waits for a tick, 0-400 ms.
    let p99 = f(&s, "requests.search.p99_ms");
    assert!(p99 < 450.0, "Strong search p99 {p99} ms under upserts");
}

#[test]
fn upserts_thin_old_segments_and_compaction_rewrites_them() {
    // 2 M upserts spread evenly over 10 M rows: about 17 % of each segment's rows
    // are replaced, below the 20 % that triggers a single-segment compaction
    // (reference §1.5) ... unless the threshold is lowered.
    let mut sets = vec![
        "duration=20m",
        "milvus.dataCoord.compaction.single.ratio.threshold=0.1",
    ];
    let s = upsert(&sets, "upsert-compact");
    assert!(f(&s, "deletes.compactions") >= 10.0, "{}", s["deletes"]);
    assert!(f(&s, "deletes.rows_compacted_away") > 500_000.0);
    // Every persisted key is counted once, and the collection keeps its size.
    assert_eq!(
        f(&s, "deletes.rows_persisted"),
        f(&s, "deletes.rows_unmatched")
            + f(&s, "deletes.rows_marked")
            + f(&s, "deletes.rows_compacted_away"),
    );
    assert_eq!(f(&s, "upserts.live_rows_at_end"), 10_000_000.0);
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
    sets.pop();
    let default = upsert(&sets, "upsert-compact-default");
    assert_eq!(f(&default, "deletes.compactions"), 0.0);
}

#[test]
fn the_same_upserts_give_the_same_bytes() {
    let a = temp_dir("upsert-det-a");
    let b = temp_dir("upsert-det-b");
    let sets = &["duration=3m", "workload.upsert.rows=300000"];
    run_to("experiments/upsert.toml", sets, &a);
    run_to("experiments/upsert.toml", sets, &b);
    assert_same_outputs(&a, &b, "upsert");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}
