//! Faults on the write path's own processes and links, at awkward moments: every
//! insert gets an answer, every acknowledged row is flushed, and every flush, merge
//! and build that was under way completes once the fault is over.

use crate::common::{experiment_with, f, frame, run_edited, run_to, temp_dir};

/// Runs data-node-failure with its fault replaced by `fault` (a `[[fault]]` table).
fn data_node_failure_with(tag: &str, fault: &str) -> serde_json::Value {
    run_edited("experiments/data-node-failure.toml", tag, &[], |text| {
        let start = text.find("[[fault]]").unwrap();
        let end = text[start..].find("[[assert]]").unwrap() + start;
        format!("{}{fault}\n\n{}", &text[..start], &text[end..])
    })
}

const BROKERS: &str = "other_side = [\"broker1\", \"broker2\"]\n";

/// A `[[fault]]` cutting `host` off from `other_side` (a TOML line, or "" for
/// everything else) from 60 s for `duration`.
fn partition(host: &str, other_side: &str, duration: &str) -> String {
    format!("[[fault]]\nkind = \"network_partition\"\nhosts = [\"{host}\"]\n{other_side}at = \"60s\"\nduration = \"{duration}\"")
}

/// Every row acknowledged was flushed, every segment and merge finished.
fn assert_write_path_drained(s: &serde_json::Value, what: &str) {
    assert_eq!(f(s, "acked_rows_lost"), 0.0, "{what}");
    assert!(
        f(s, "ingest.rows_flushed") >= f(s, "ingest.rows"),
        "{what}: {} of {} acknowledged rows flushed",
        f(s, "ingest.rows_flushed"),
        f(s, "ingest.rows")
    );
    assert!(
        s["ingest"]["flushed_s"].is_number(),
        "{what}: a segment never flushed"
    );
    assert!(
        s["ingest"]["indexed_s"].is_number(),
        "{what}: a segment never indexed"
    );
    assert_eq!(f(s, "segments.growing_at_end"), 0.0, "{what}");
    if f(s, "compaction.plans") > 0.0 {
        assert!(
            s["compaction"]["finished_s"].is_number(),
            "{what}: a merge never finished"
        );
    }
}

#[test]
fn a_broker_crash_answers_every_insert_it_was_persisting() {
    // Produces waiting for their bookies when broker1's host dies fail on their
    // proxies (the producers' connections break); none is left unanswered.
    let s = data_node_failure_with(
        "wf-broker",
        "[[fault]]\nkind = \"host_crash\"\nhost = \"broker1\"\nat = \"60.3s\"\nrecover_at = \"90s\"",
    );
    assert!(f(&s, "ingest.rows_failed") > 0.0);
    assert_eq!(
        f(&s, "ingest.rows") + f(&s, "ingest.rows_failed"),
        f(&s, "ingest.rows_offered"),
        "an insert got no answer"
    );
    assert_write_path_drained(&s, "broker crash");
}

#[test]
fn a_datacoord_crash_loses_no_flush_or_merge_report() {
    // Datacoord dies just as data nodes report flushes (57.5 s) or as a merge ends
    // (57.1 s): the reports reach it once it is back.
    for at in ["57.5005s", "57.1s"] {
        let fault =
            format!("[[fault]]\nkind = \"process_crash\"\nservice = \"datacoord\"\nat = \"{at}\"");
        let s = data_node_failure_with(&format!("wf-dc-{at}"), &fault);
        assert_write_path_drained(&s, &format!("datacoord crash at {at}"));
    }
}

#[test]
fn a_data_node_cut_from_the_brokers_catches_up_when_the_cut_heals() {
    // data2's host loses the brokers for 20 s: its channel's messages wait in the
    // subscription and its reports are sent again; nothing is flushed short.
    let s = data_node_failure_with("wf-cut", &partition("coord2", BROKERS, "20s"));
    assert_eq!(f(&s, "ingest.rows_flushed"), f(&s, "ingest.rows"));
    assert_write_path_drained(&s, "data node cut from the brokers");
}

#[test]
fn a_data_node_cut_off_until_its_channel_moves_loses_no_row() {
    // 90 s without the brokers: Swarm restarts data2 elsewhere and its channel moves
    // to data1; messages held back for data2 reach the channel's consumer, whoever it
    // is by then.
    let s = data_node_failure_with("wf-long-cut", &partition("coord2", BROKERS, "90s"));
    assert_eq!(f(&s, "ingest.rows_flushed"), f(&s, "ingest.rows"));
    assert_write_path_drained(&s, "data node cut off for 90 s");
}

#[test]
fn a_bookie_cut_off_from_the_brokers_is_replaced_in_the_ensembles() {
    // reference §2.8 "1 bookie lost": adds to bookie1 time out and go to another
    // bookie; no insert hangs.
    let s = data_node_failure_with("wf-bookie-cut", &partition("bookie1", BROKERS, "60s"));
    assert_eq!(
        f(&s, "ingest.rows") + f(&s, "ingest.rows_failed"),
        f(&s, "ingest.rows_offered"),
        "an insert got no answer"
    );
    assert_write_path_drained(&s, "bookie cut off from the brokers");
}

#[test]
fn a_querycoord_restarted_elsewhere_serves_the_nodes_its_predecessor_lost() {
    // coord2 is cut off from everything for good: its querycoord marks every query
    // node offline, then Swarm restarts it on coord1, where the nodes answer; every
    // segment is loaded.
    let s = data_node_failure_with("wf-querycoord-moves", &partition("coord2", "", "60m"));
    assert_eq!(
        f(&s, "segments.loaded"),
        f(&s, "segments.created"),
        "{}",
        s["segments"]
    );
    assert_write_path_drained(&s, "querycoord moved away from a cut");
}

#[test]
fn an_index_node_restarted_mid_build_ignores_its_old_incarnations_work() {
    // index3 dies at 55 s while building and is back at 63 s. The dead incarnation's
    // build must not complete on the new one (which would free memory it never
    // held): once up again it never holds less than its own base memory.
    let dir = temp_dir("wf-index");
    let exp = experiment_with(
        "experiments/index-node-failure.toml",
        &dir,
        "exp.toml",
        |text| {
            text.replace("kind = \"host_crash\"\nhost = \"index2\"\nat = \"58s\"", "kind = \"process_crash\"\nservice = \"index3\"\nat = \"55s\"\nrecover_at = \"56s\"")
        },
    );
    let out = dir.join("run");
    let s = run_to(exp.to_str().unwrap(), &[], &out);
    assert_write_path_drained(&s, "index node restart");
    let ts = frame(&out, "timeseries.parquet");
    let _ = std::fs::remove_dir_all(&dir);
    let t = ts.column("t_s").unwrap().f64().unwrap();
    let svc = ts.column("service").unwrap().str().unwrap();
    let mem = ts.column("mem_bytes").unwrap().u64().unwrap();
    let low: Vec<(f64, u64)> = (0..ts.height())
        .filter(|&i| svc.get(i) == Some("index3") && t.get(i).unwrap() >= 70.0)
        .map(|i| (t.get(i).unwrap(), mem.get(i).unwrap()))
        .filter(|&(_, m)| m < 256 << 20)
        .collect();
    assert!(
        low.is_empty(),
        "index3 below its base memory: {:?}",
        &low[..low.len().min(5)]
    );
}

#[test]
fn a_restarted_datacoord_waits_for_the_builds_it_had_assigned() {
    // index-node-failure's builds, with datacoord's process dying at 58 s instead
    // of index2 and back at 60 s: its build table is meta it reloads from etcd
    // (reference §2.5), so every segment is built once, by the index node it was
    // first given to, and every report sent meanwhile arrives.
    let dir = temp_dir("wf-datacoord-builds");
    let exp = experiment_with(
        "experiments/index-node-failure.toml",
        &dir,
        "exp.toml",
        |text| {
            text.replace(
                "kind = \"host_crash\"\nhost = \"index2\"\nat = \"58s\"",
                "kind = \"process_crash\"\nservice = \"datacoord\"\nat = \"58s\"\nrecover_at = \"60s\"",
            )
        },
    );
    let out = dir.join("run");
    let s = run_to(exp.to_str().unwrap(), &[], &out);
    assert_write_path_drained(&s, "datacoord restart mid-build");
    let ev = frame(&out, "events.parquet");
    let _ = std::fs::remove_dir_all(&dir);
    let kinds = ev.column("kind").unwrap().str().unwrap();
    let t = ev.column("t_s").unwrap().f64().unwrap();
    let detail = ev.column("detail").unwrap().str().unwrap();
    let started: Vec<(f64, &str)> = (0..ev.height())
        .filter(|&i| kinds.get(i) == Some("index_build_started"))
        .map(|i| (t.get(i).unwrap(), detail.get(i).unwrap()))
        .collect();
    let running_at_crash = started.iter().filter(|(at, _)| *at < 58.0).count();
    assert!(running_at_crash > 0, "no build ran when datacoord died");
    let segment = |d: &str| d.split(' ').nth(1).unwrap().to_string();
    let mut segments: Vec<String> = started.iter().map(|(_, d)| segment(d)).collect();
    segments.sort();
    let all = segments.len();
    segments.dedup();
    assert_eq!(
        segments.len(),
        all,
        "a build was started twice: {started:?}"
    );
    assert_eq!(f(&s, "index.builds"), all as f64);
}

#[test]
fn a_data_node_dying_while_it_replays_a_channel_loses_no_row() {
    // data1 dies at 60 s; data2 takes its channel at 120 s and is still replaying the
    // broker's backlog when it dies too (122 s): the backlog stays in the subscription
    // for the next consumer, and every acknowledged row is flushed (before, 635,000
    // of 3,000,000 never were).
    let s = run_edited(
        "experiments/data-node-failure.toml",
        "wf-replay-crash",
        &["duration=12m"],
        |text| {
            text.replacen(
                "\n[[assert]]",
                "\n[[fault]]\nkind = \"process_crash\"\nservice = \"data2\"\nat = \"122s\"\n\n[[assert]]",
                1,
            )
        },
    );
    assert_eq!(f(&s, "ingest.rows_flushed"), f(&s, "ingest.rows"));
    assert_write_path_drained(&s, "a data node dying mid-replay");
}

#[test]
fn a_data_node_holds_the_rows_it_has_received_until_it_hands_them_on() {
    // etcd-quorum-loss-ingest: the data nodes' memory (base, rows waiting for their
    // channel's time tick, buffers, syncs) is back to the process base once every
    // row is flushed: nothing held is left over, nothing went below the base.
    let dir = temp_dir("wf-datanode-memory");
    let s = run_to("experiments/etcd-quorum-loss-ingest.toml", &[], &dir);
    assert_write_path_drained(&s, "etcd quorum loss");
    let ts = frame(&dir, "timeseries.parquet");
    let _ = std::fs::remove_dir_all(&dir);
    let t = ts.column("t_s").unwrap().f64().unwrap();
    let svc = ts.column("service").unwrap().str().unwrap();
    let mem = ts.column("mem_bytes").unwrap().u64().unwrap();
    for node in ["data1", "data2"] {
        let series: Vec<(f64, u64)> = (0..ts.height())
            .filter(|&i| svc.get(i) == Some(node))
            .map(|i| (t.get(i).unwrap(), mem.get(i).unwrap()))
            .collect();
        let base = series.iter().map(|x| x.1).filter(|&m| m > 0).min().unwrap();
        let peak = series.iter().map(|x| x.1).max().unwrap();
        let last = series.last().unwrap().1;
        assert!(peak > base, "{node} never held a row");
        assert!(
            last == base || last == 0,
            "{node} ends holding {} bytes over its base",
            last - base
        );
    }
}
