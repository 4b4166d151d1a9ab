//! Deletes by a non-key expression (`[workload.delete] by = "expr"`): each call first
//! queries the keys its filter matches on the search path, waiting for tsafe to pass
//! its own timestamp and scanning every row, then deletes them as a delete by key
//! does. The experiment is experiments/delete-by-expr.toml: 10 M rows loaded, Strong
//! searches, inserts, and 100 deletes of 1,000 rows each.

use crate::common::{assert_same_outputs, f, run_edited, run_to, temp_dir};

const EXP: &str = "experiments/delete-by-expr.toml";

fn run(sets: &[&str], tag: &str) -> serde_json::Value {
    run_edited(EXP, tag, sets, |t| t)
}

/// Mean CPU of the five query hosts, summed (cores busy on average).
fn query_cpu(s: &serde_json::Value) -> f64 {
    (1..=5)
        .map(|n| f(s, &format!("hosts.query{n}.cpu_util_mean")))
        .sum()
}

#[test]
fn an_expression_delete_costs_a_query_that_grows_with_the_collection() {
    let key = run(&["workload.delete.by=key"], "dx-key");
    let expr = run(&[], "dx-expr");
    // The key delete goes straight to the DML channels: a few milliseconds.
    let (k, e) = (
        f(&key, "requests.delete.p50_ms"),
        f(&expr, "requests.delete.p50_ms"),
    );
    assert!(k < 20.0, "key delete p50 {k} ms");
    // The expression delete waits for a time tick past its timestamp first (ticks
    // every 200 ms) and scans the collection: its query is most of its latency.
    let q = f(&expr, "deletes.query_p50_ms");
    assert!(
        e > k + 50.0,
        "expr delete p50 {e} ms, key delete p50 {k} ms"
    );
    assert!(q > 0.8 * (e - k), "query p50 {q} ms of a {e} ms delete");
    assert!(key["deletes"].get("query_p50_ms").is_none());
    // Every call scanned every row: 100 calls x 10 M loaded rows, plus the rows
    // inserted meanwhile (growing or sealed).
    let scanned = f(&expr, "deletes.rows_scanned");
    assert!((1.0e9..1.02e9).contains(&scanned), "rows scanned {scanned}");
    // Three times the collection: three times the rows to scan, and more query-node
    // CPU for the same deletes than the deletes by key pay on it.
    let key3 = run(
        &["workload.delete.by=key", "collection.rows=30000000"],
        "dx-key3",
    );
    let expr3 = run(&["collection.rows=30000000"], "dx-expr3");
    let scanned3 = f(&expr3, "deletes.rows_scanned");
    assert!(scanned3 > 2.9 * scanned, "{scanned3} rows vs {scanned}");
    let (extra, extra3) = (
        query_cpu(&expr) - query_cpu(&key),
        query_cpu(&expr3) - query_cpu(&key3),
    );
    assert!(extra > 0.0, "expr deletes added {extra} query-node cores");
    assert!(
        extra3 > 2.0 * extra,
        "extra query-node cores: {extra3} on 30 M rows, {extra} on 10 M"
    );
    assert!(
        f(&expr3, "deletes.query_p99_ms") > f(&expr, "deletes.query_p99_ms"),
        "{} vs {}",
        expr3["deletes"],
        expr["deletes"]
    );
}

#[test]
fn an_expression_delete_removes_the_rows_a_key_delete_removes() {
    // The retention job of retention-deletes (oldest rows first) for 15 minutes:
    // deltalogs, single-segment compactions, rewrites.
    let sets = |by: &'static str| vec!["duration=15m", "workload.delete.rows=1200000", by];
    let dir = temp_dir("dx-rows");
    let key = run_to(
        "experiments/retention-deletes.toml",
        &sets("workload.delete.by=key"),
        &dir.join("key"),
    );
    let expr = run_to(
        "experiments/retention-deletes.toml",
        &sets("workload.delete.by=expr"),
        &dir.join("expr"),
    );
    let _ = std::fs::remove_dir_all(&dir);
    // Every call of the expression run queried its keys first.
    assert_eq!(f(&expr, "deletes.queries"), 1_200.0);
    assert!(f(&expr, "deletes.compactions") > 0.0);
    for s in [&key, &expr] {
        assert_eq!(f(s, "deletes.rows"), 1_200_000.0, "{}", s["deletes"]);
        assert_eq!(f(s, "deletes.rows_persisted"), 1_200_000.0);
        assert_eq!(f(s, "acked_rows_lost"), 0.0);
        assert_eq!(f(s, "requests.delete.failed"), 0.0);
    }
    // The same rows are gone: marked in segments in use, or compacted away.
    let removed =
        |s: &serde_json::Value| f(s, "deletes.rows_marked") + f(s, "deletes.rows_compacted_away");
    assert_eq!(removed(&expr), removed(&key));
    assert_eq!(
        f(&expr, "deletes.rows_unmatched"),
        f(&key, "deletes.rows_unmatched")
    );
}

#[test]
fn a_strong_expression_delete_under_writes_completes() {
    // Strong searches and inserts hold the proxies' time ticks below every write in
    // flight; the delete's query waits for tsafe to pass its own timestamp. It must
    // not be one of the writes the ticks wait for, or it would wait for itself.
    let s = run(&[], "dx-strong");
    assert_eq!(f(&s, "deletes.queries"), 100.0);
    assert_eq!(f(&s, "requests.delete.ok"), 100.0);
    assert_eq!(f(&s, "requests.delete.incomplete"), 0.0);
    assert_eq!(f(&s, "deletes.query_failed"), 0.0);
    assert!(f(&s, "requests.delete.max_ms") < 1_000.0);
    assert_eq!(f(&s, "deletes.rows_persisted"), 100_000.0);
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
    // The searches and inserts beside it are not held up.
    assert_eq!(f(&s, "requests.search.failed"), 0.0);
    assert!(f(&s, "requests.search.p99_ms") < 1_000.0);
    assert_eq!(f(&s, "ingest.rows_failed"), 0.0);
}

#[test]
fn an_expression_delete_of_a_released_collection_fails_and_deletes_nothing() {
    // release() at 40 s, load() again at 60 s: the query of an expression delete
    // fails meanwhile, and its delete with it; a delete by key needs no loaded
    // collection.
    let ddl = |t: String| t + "\n[workload.ddl]\nrelease = \"40s\"\nreload = \"60s\"\n";
    let expr = run_edited(EXP, "dx-released", &[], ddl);
    let key = run_edited(EXP, "dx-released-key", &["workload.delete.by=key"], ddl);
    let failed = f(&expr, "requests.delete.failed");
    assert!(failed >= 20.0, "{}", expr["requests"]["delete"]);
    assert!(
        expr["requests"]["delete"]["errors"]["collection not loaded"]
            .as_u64()
            .is_some_and(|n| n > 0),
        "{}",
        expr["requests"]["delete"]
    );
    // Nothing of a failed delete is produced: only the answered ones are persisted.
    assert_eq!(f(&expr, "deletes.query_failed"), failed);
    assert_eq!(f(&expr, "deletes.rows_failed"), failed * 1_000.0);
    assert_eq!(f(&expr, "deletes.rows_persisted"), f(&expr, "deletes.rows"));
    assert_eq!(
        f(&expr, "deletes.rows") + f(&expr, "deletes.rows_failed"),
        100_000.0
    );
    assert_eq!(f(&key, "requests.delete.failed"), 0.0);
    assert_eq!(f(&key, "deletes.rows_persisted"), 100_000.0);
}

#[test]
fn the_same_expression_deletes_give_the_same_bytes() {
    let a = temp_dir("dx-det-a");
    let b = temp_dir("dx-det-b");
    let s = run_to(EXP, &[], &a);
    assert_eq!(f(&s, "deletes.queries"), 100.0);
    run_to(EXP, &[], &b);
    assert_same_outputs(&a, &b, "delete-by-expr");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

#[test]
fn an_expression_delete_waiting_at_a_release_or_a_drop_is_answered() {
    // release() at 60 s with no load() again, or drop_collection() at 60 s: a query
    // parked on a delegator for tsafe when its shard goes fails (its delegator is
    // closed) instead of waiting forever, and every later call fails at the proxy.
    for (ddl, error) in [
        ("release = \"60s\"", "collection not loaded"),
        ("drop = \"60s\"", "collection not found"),
    ] {
        let s = run_edited(EXP, "dx-gone", &[], |t| {
            format!("{t}\n[workload.ddl]\n{ddl}\n")
        });
        let d = &s["requests"]["delete"];
        assert_eq!(f(d, "count"), 100.0, "{ddl}: {d}");
        assert_eq!(f(d, "incomplete"), 0.0, "{ddl}: {d}");
        assert!(
            d["errors"][error].as_u64().is_some_and(|n| n > 30),
            "{ddl}: {d}"
        );
        assert_eq!(f(&s, "requests.search.incomplete"), 0.0, "{ddl}");
    }
}

#[test]
fn a_write_in_flight_at_the_end_has_an_incomplete_row() {
    // One delete a second from 0.9 s: the call sent at 359.9 s is still querying its
    // keys when the 6-minute run ends. Every call sent has its row.
    let out = temp_dir("dx-in-flight");
    let sets = [
        "workload.delete.start=0.9s",
        "workload.delete.rows=10000000",
        "duration=6m",
    ];
    let s = run_to(EXP, &sets, &out);
    let req = crate::common::frame(&out, "requests.parquet");
    let _ = std::fs::remove_dir_all(&out);
    let kind = req.column("kind").unwrap().str().unwrap();
    let status = req.column("status").unwrap().str().unwrap();
    let deletes: Vec<_> = (0..req.height())
        .filter(|&i| kind.get(i) == Some("delete"))
        .collect();
    assert_eq!(deletes.len(), 360);
    let open = deletes
        .iter()
        .filter(|&&i| status.get(i) == Some("incomplete"))
        .count();
    assert_eq!(open, 1);
    assert_eq!(f(&s, "requests.delete.incomplete"), 1.0);
}
