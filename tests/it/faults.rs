//! Fault injection and failover on the seed topology: the timelines reference §2
//! describes, checked from the summary and the events the run writes.

use polars::prelude::*;
use serde_json::Value;

use crate::common::{assert_same_outputs, event_times, run_to, temp_dir};

/// node-failure.toml shortened: query3 crashes at 3 min and returns at 8 min.
const SHORT: &[&str] = &["duration=10m", "fault.0.at=3m", "fault.0.recover_at=8m"];

fn events(dir: &std::path::Path) -> DataFrame {
    let f = std::fs::File::open(dir.join("events.parquet")).unwrap();
    ParquetReader::new(f).finish().unwrap()
}

fn fault(summary: &Value) -> &Value {
    &summary["faults"][0]
}

fn f(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number: {v}"))
}

#[test]
fn a_query_host_crash_follows_the_failover_timeline() {
    let out = temp_dir("node-failure");
    let s = run_to("experiments/node-failure.toml", SHORT, &out);
    let fl = fault(&s);
    let at = 180.0;
    // Errors start at the crash (the first search routed to query3 fails after the
    // dial timeout).
    let first = f(fl, "first_error_s");
    assert!((at..at + 1.0).contains(&first), "first error at {first}");

    let ev = events(&out);
    // reference §2.2: querycoord marks the node offline after ~10 s.
    let offline = event_times(&ev, "node_offline");
    assert_eq!(offline.len(), 1);
    assert!(
        (offline[0] - (at + 10.0)).abs() < 0.5,
        "offline at {offline:?}"
    );
    // The lease runs out within 60 s (2/3 TTL at the earliest), then handleNodeDown.
    let down = event_times(&ev, "node_down_handled");
    assert_eq!(down.len(), 1);
    assert!(
        (at + 40.0..=at + 60.0).contains(&down[0]),
        "node down at {down:?}"
    );
    // Segments are loaded elsewhere after that, and the shards become serviceable.
    let loaded = event_times(&ev, "segment_loaded");
    let loaded: Vec<f64> = loaded.into_iter().filter(|&t| t > 0.0).collect();
    assert!(!loaded.is_empty());
    assert!(loaded.iter().all(|&t| t > down[0] && t < at + 300.0));
    let serviceable = event_times(&ev, "shard_serviceable");
    let back = serviceable.iter().copied().fold(0.0, f64::max);
    // The error window ends when the last shard is serviceable again.
    let last = f(fl, "last_error_s");
    assert!(
        last > down[0],
        "errors last until the reload: {last} vs {down:?}"
    );
    assert!(
        last <= back + 0.5,
        "no errors after the shards are back: {last} vs {back}"
    );
    assert!(f(fl, "bytes_reloaded") > 0.0);

    // query3 returns at 8 min: it rejoins and the balancer moves segments back,
    // without errors.
    let joined = event_times(&ev, "node_joined");
    assert_eq!(joined.len(), 1);
    assert!(
        joined[0] > 480.0 && joined[0] < 500.0,
        "joined at {joined:?}"
    );
    assert!(!event_times(&ev, "segment_moved").is_empty());
    assert!(last < 480.0);
    assert!(f(fl, "bytes_rebalanced") > 0.0);
    // Latency is back to the pre-fault p99 (within 10 %) once it is balanced again.
    let recovered = f(fl, "recovered_at_s");
    assert!(
        recovered > joined[0] && recovered < 560.0,
        "recovered at {recovered}"
    );
    for a in s["assertions"].as_array().unwrap() {
        assert_eq!(a["passed"], true, "assertion {a}");
    }
}

#[test]
fn the_error_window_grows_with_the_bytes_on_the_dead_node() {
    let window = |rows: &str| {
        let out = temp_dir(&format!("nf-rows-{rows}"));
        let mut sets = SHORT.to_vec();
        let set = format!("collection.rows={rows}");
        sets.push(&set);
        let s = run_to("experiments/node-failure.toml", &sets, &out);
        (
            f(fault(&s), "error_window_s"),
            f(fault(&s), "bytes_reloaded"),
        )
    };
    let (small, small_bytes) = window("10000000");
    let (large, large_bytes) = window("30000000");
    assert!(large_bytes > 2.5 * small_bytes);
    // Same seed, so the same lease draw: the difference is the reload.
    assert!(
        large > small + 2.0,
        "error window {small:.1} s for 10 M rows, {large:.1} s for 30 M"
    );
}

#[test]
fn two_replicas_keep_searches_going() {
    let out = temp_dir("node-failure-2");
    let s = run_to(
        "experiments/node-failure-2-replicas.toml",
        &["duration=6m", "fault.0.at=2m", "fault.0.recover_at=4m"],
        &out,
    );
    let fl = fault(&s);
    assert!(f(fl, "error_window_s") < 3.0, "{fl}");
    assert!(f(fl, "failed_requests") < 50.0, "{fl}");
    // The lost replica's segments were still reloaded onto its other nodes.
    assert!(f(fl, "bytes_reloaded") > 0.0);
    assert!(f(&s, "availability") > 0.999);
}

#[test]
fn a_dead_proxy_stalls_time_ticks_until_its_lease_runs_out() {
    let out = temp_dir("proxy-crash");
    let s = run_to(
        "experiments/proxy-crash.toml",
        &["duration=4m", "fault.0.at=1m"],
        &out,
    );
    let ev = events(&out);
    let stalled = event_times(&ev, "timetick_stalled");
    let resumed = event_times(&ev, "timetick_resumed");
    let expired = event_times(&ev, "session_expired");
    assert_eq!(stalled.len(), 1);
    assert!((stalled[0] - 60.0).abs() < 0.5);
    assert_eq!(resumed.len(), 1);
    assert!(resumed[0] >= expired[0] && resumed[0] < expired[0] + 0.5);
    // Strong searches wait for the whole stall.
    let max_ms = f(&s["requests"]["search"], "max_ms");
    assert!(
        max_ms > (expired[0] - 60.0 - 1.0) * 1e3,
        "longest search {max_ms} ms, stall until {expired:?}"
    );
}

#[test]
fn a_rootcoord_crash_fails_every_search_until_it_is_back() {
    let out = temp_dir("rootcoord-crash");
    let s = run_to(
        "experiments/rootcoord-crash.toml",
        &["duration=4m", "fault.0.at=1m"],
        &out,
    );
    let fl = fault(&s);
    let ev = events(&out);
    let started = event_times(&ev, "task_started");
    let recovered = event_times(&ev, "coordinator_recovered");
    assert_eq!(started.len(), 1);
    // Restart delay 60 s + sleep 5 s + process start, then metadata reload.
    assert!(started[0] > 60.0 + 65.0 && started[0] < 60.0 + 75.0);
    assert!(recovered[0] > started[0]);
    let last = f(fl, "last_error_s");
    assert!(last <= recovered[0] + 0.5 && last > recovered[0] - 1.0);
    assert_eq!(
        s["requests"]["search"]["errors"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        vec!["allocate timestamp failed: rootcoord unavailable"]
    );
}

#[test]
fn faults_replay_byte_identically() {
    let a = temp_dir("nf-det-a");
    let b = temp_dir("nf-det-b");
    let sets = ["duration=5m", "fault.0.at=1m", "fault.0.recover_at=3m"];
    run_to("experiments/node-failure.toml", &sets, &a);
    run_to("experiments/node-failure.toml", &sets, &b);
    assert_same_outputs(&a, &b, "node-failure");
}

/// (t_s, kind, host, service, detail) of every event after time zero.
fn rows(ev: &DataFrame) -> Vec<(f64, String, String, String, String)> {
    let col = |name: &str| ev.column(name).unwrap().str().unwrap().clone();
    let (kind, host, service, detail) = (col("kind"), col("host"), col("service"), col("detail"));
    let t = ev.column("t_s").unwrap().f64().unwrap();
    (0..ev.height())
        .map(|i| {
            (
                t.get(i).unwrap(),
                kind.get(i).unwrap().to_string(),
                host.get(i).unwrap().to_string(),
                service.get(i).unwrap().to_string(),
                detail.get(i).unwrap().to_string(),
            )
        })
        .filter(|r| r.0 > 0.0)
        .collect()
}

#[test]
fn swarm_moves_the_coordinators_of_a_dead_coord_host() {
    let out = temp_dir("coord-host");
    run_to(
        "experiments/coord-host-failure.toml",
        &["duration=4m", "fault.0.at=1m"],
        &out,
    );
    let ev = rows(&events(&out));
    // reference §2.10: declared down after 5 s x 3 + 0.5 s; the tasks that may run on
    // either coord host move to coord2 after their 60 s restart delay (+ sleep 5 and
    // process start).
    for service in ["rootcoord", "datacoord", "data1"] {
        let moved: Vec<_> = ev
            .iter()
            .filter(|r| r.1 == "task_rescheduled" && r.3 == service)
            .collect();
        assert_eq!(moved.len(), 1, "{service}: {moved:?}");
        assert!((moved[0].0 - 75.5).abs() < 1e-6, "{moved:?}");
        assert!(moved[0].4.contains("coord2"), "{moved:?}");
        let started: Vec<_> = ev
            .iter()
            .filter(|r| r.1 == "task_started" && r.3 == service)
            .collect();
        assert_eq!(started.len(), 1);
        assert_eq!(started[0].2, "coord2");
        assert!(
            (started[0].0 - (75.5 + 60.0 + 7.0)).abs() < 1e-6,
            "{started:?}"
        );
    }
    // Nothing of coord2's own moved.
    assert!(!ev
        .iter()
        .any(|r| r.1 == "task_rescheduled" && r.3 == "querycoord"));
}

#[test]
fn a_pinned_query_node_stays_pending_until_its_host_returns() {
    let out = temp_dir("nf-pending");
    run_to("experiments/node-failure.toml", SHORT, &out);
    let ev = rows(&events(&out));
    let pending: Vec<_> = ev.iter().filter(|r| r.1 == "task_pending").collect();
    assert_eq!(pending.len(), 1, "{pending:?}");
    assert_eq!(pending[0].3, "query3");
    assert!((pending[0].0 - (180.0 + 15.5)).abs() < 1e-6);
    assert!(
        pending[0]
            .4
            .contains("no eligible host: constraint node.labels.query3==true"),
        "{pending:?}"
    );
    let started: Vec<_> = ev.iter().filter(|r| r.1 == "task_started").collect();
    assert_eq!(started.len(), 1);
    assert_eq!(
        (started[0].2.as_str(), started[0].3.as_str()),
        ("query3", "query3")
    );
    assert!((started[0].0 - (480.0 + 7.0)).abs() < 1e-6);
}

#[test]
fn without_a_manager_quorum_nothing_is_rescheduled() {
    let out = temp_dir("quorum");
    let s = run_to(
        "experiments/manager-quorum-loss.toml",
        &["duration=6m"],
        &out,
    );
    let ev = rows(&events(&out));
    let proxy = |kind: &str| -> Vec<(f64, String, String)> {
        ev.iter()
            .filter(|r| r.1 == kind && r.3 == "milvus-proxy")
            .map(|r| (r.0, r.2.clone(), r.4.clone()))
            .collect()
    };
    let pending = proxy("task_pending");
    assert_eq!(pending.len(), 2, "{pending:?}");
    for p in &pending {
        assert!((p.0 - 135.5).abs() < 1e-6);
        assert!(
            p.2.contains("no manager quorum: 1 of 3 managers up"),
            "{p:?}"
        );
    }
    // manager3 returns at 5 min: quorum is back, so manager2's proxy task moves to
    // manager1 (the manager whose port 19530 is free) and manager3's starts there.
    let moved = proxy("task_rescheduled");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert!((moved[0].0 - 300.0).abs() < 1e-6 && moved[0].2.contains("manager1"));
    let mut started: Vec<String> = proxy("task_started").into_iter().map(|r| r.1).collect();
    started.sort();
    assert_eq!(started, ["manager1", "manager3"]);
    // No proxy, no searches, from the crash until a proxy is back.
    let fl = &s["faults"][1];
    assert!(f(fl, "first_error_s") < 121.0);
    assert!(f(fl, "last_error_s") > 300.0 && f(fl, "last_error_s") < 308.0);
}

#[test]
fn two_more_query_hosts_take_load_without_errors() {
    let out = temp_dir("scale-out");
    let s = run_to(
        "experiments/scale-out.toml",
        &["duration=8m", "fault.0.at=2m", "fault.1.at=2m"],
        &out,
    );
    assert_eq!(f(&s["requests"]["search"], "failed"), 0.0);
    let ev = rows(&events(&out));
    let mut joined: Vec<String> = ev
        .iter()
        .filter(|r| r.1 == "node_joined")
        .map(|r| r.2.clone())
        .collect();
    joined.sort();
    assert_eq!(joined, ["query6", "query7"]);
    // The balancer moves segments onto both new hosts.
    for host in ["query6", "query7"] {
        assert!(ev.iter().any(|r| r.1 == "segment_moved" && r.2 == host));
    }
    // Seven hosts instead of five: the p99 drops by a third or more.
    let fl = &s["faults"][1];
    assert!(
        f(fl, "p99_ms_after") < 0.67 * f(fl, "p99_ms_before"),
        "{fl}"
    );
}

#[test]
fn a_graceful_query_node_stop_drains_first_unless_sigterm_is_lost() {
    let sets = ["duration=4m", "fault.0.at=1m", "fault.0.recover_at=3m"];
    let out = temp_dir("qn-stop");
    let s = run_to("experiments/query-node-stop.toml", &sets, &out);
    // reference §2.2: segments and channels move away first; nothing fails.
    assert_eq!(f(&s["requests"]["search"], "failed"), 0.0);
    let ev = rows(&events(&out));
    let stopped = ev.iter().find(|r| r.1 == "task_stopped").unwrap().0;
    let last_move = ev
        .iter()
        .filter(|r| r.1 == "segment_moved" && r.0 <= stopped)
        .count();
    assert!(last_move > 0, "segments moved before the node exited");
    // reference §2.10: with Docker's default 10 s stop grace period the node is
    // killed mid-drain, and what had not moved fails until it is reloaded.
    let out = temp_dir("qn-stop-short-grace");
    let mut sets = sets.to_vec();
    sets.push("topology=../topologies/seed-26-hosts.toml");
    let s = run_to("experiments/query-node-stop.toml", &sets, &out);
    let fl = &s["faults"][0];
    assert!((f(fl, "first_error_s") - 70.0).abs() < 1.0, "{fl}");
    assert!(f(fl, "failed_requests") > 0.0, "{fl}");
    // In the users' stack milvus never sees the SIGTERM either: Docker kills it after
    // the 10 s stop grace period, and the stop is a crash.
    let out = temp_dir("qn-stop-kill");
    sets.push("failover.sigterm_reaches_process=false");
    let s2 = run_to("experiments/query-node-stop.toml", &sets, &out);
    let f2 = &s2["faults"][0];
    assert!((f(f2, "first_error_s") - 70.0).abs() < 1.0, "{f2}");
    assert!(
        f(f2, "failed_requests") > f(fl, "failed_requests"),
        "{f2} vs {fl}"
    );
}

#[test]
fn an_etcd_quorum_loss_stops_every_milvus_process_and_the_cluster_recovers() {
    let out = temp_dir("etcd");
    let s = run_to("experiments/etcd-quorum-loss.toml", &["duration=12m"], &out);
    let ev = rows(&events(&out));
    let lost = ev.iter().find(|r| r.1 == "etcd_quorum_lost").unwrap().0;
    assert!((lost - 300.0).abs() < 1e-6);
    // reference §2.7: every Milvus process exits about TTL + 3 x 10 s later (the
    // lease has 2/3 to all of its TTL left).
    let exits: Vec<f64> = ev
        .iter()
        .filter(|r| r.1 == "liveness_exit")
        .map(|r| r.0)
        .collect();
    let milvus_tasks = 17; // proxies, coordinators, data, index and query nodes
    assert_eq!(exits.len(), milvus_tasks, "{exits:?}");
    assert!(exits
        .iter()
        .all(|&t| t >= lost + 40.0 + 30.0 && t <= lost + 60.0 + 30.0));
    // They wait for etcd at restart and come back after it has a quorum again.
    let restored = ev.iter().find(|r| r.1 == "etcd_quorum_restored").unwrap().0;
    assert!(restored >= 480.0);
    assert!(ev
        .iter()
        .filter(|r| r.1 == "task_started")
        .all(|r| r.0 >= restored));
    // Searches fail from the first exit until the collection is loaded again.
    let fl = &s["faults"][1];
    assert!(f(fl, "first_error_s") >= exits[0] - 1.0);
    assert!(f(fl, "last_error_s") > restored);
    assert!(f(fl, "recovered_at_s") < 720.0);
    assert!(
        f(fl, "bytes_reloaded") > 100e9,
        "the whole collection is reloaded"
    );
    // The rows acknowledged before the fault were flushed, and their segments are
    // among those loaded again after the restart.
    assert_eq!(f(&s["ingest"], "rows_flushed"), 20_000.0);
    let new_segments: Vec<&str> = ev
        .iter()
        .filter(|r| r.1 == "segment_flushed")
        .map(|r| r.4.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(new_segments.len(), 2, "{new_segments:?}");
    for seg in new_segments {
        let reloaded = ev.iter().any(|r| {
            r.1 == "segment_loaded" && r.0 > restored && r.4.starts_with(&format!("segment {seg} "))
        });
        assert!(
            reloaded,
            "segment {seg} is not loaded again after the restart"
        );
    }
}

#[test]
fn a_cold_start_follows_the_users_start_order_and_then_loads_the_collection() {
    let out = temp_dir("cold");
    let s = run_to("experiments/cold-start.toml", &["duration=5m"], &out);
    let ev = rows(&events(&out));
    // reference §6.4: etcd, MinIO, ZooKeeper, bookies, broker, coordinators, workers,
    // proxies; each stage healthy before the next starts.
    let healthy = |service: &str| {
        ev.iter()
            .find(|r| r.1 == "task_healthy" && r.3 == service)
            .unwrap_or_else(|| panic!("{service} never healthy"))
            .0
    };
    let order = [
        "etcd1",
        "minio1",
        "zk1",
        "bookie1",
        "broker",
        "rootcoord",
        "query1",
        "milvus-proxy",
    ];
    for w in order.windows(2) {
        assert!(healthy(w[0]) < healthy(w[1]), "{} before {}", w[0], w[1]);
    }
    // The first search succeeds once a proxy serves and every shard is loaded.
    let first_ok = f(&s, "first_search_ok_s");
    let serviceable = times_of(&ev, "shard_serviceable");
    assert!(first_ok >= serviceable.iter().copied().fold(0.0, f64::max));
    assert!(first_ok < 360.0, "first search at {first_ok}");
    assert!(!ev.iter().any(|r| r.1 == "node_down_handled"));
}

fn times_of(ev: &[(f64, String, String, String, String)], kind: &str) -> Vec<f64> {
    ev.iter().filter(|r| r.1 == kind).map(|r| r.0).collect()
}

/// network-partition.toml: query3 cut off from everything at 180 s for 2 minutes.
#[test]
fn a_partitioned_query_host_follows_the_timeline_of_a_dead_one() {
    let out = temp_dir("net-partition");
    let s = run_to("experiments/network-partition.toml", &["duration=9m"], &out);
    let fl = fault(&s);
    let (at, heal) = (180.0, 300.0);
    let rpc = 0.2;
    // Searches touching query3 fail from the cut, after the dial timeout.
    let first = f(fl, "first_error_s");
    assert!(
        (at..=at + rpc + 0.05).contains(&first),
        "first error at {first}"
    );
    let ev = rows(&events(&out));
    let query3 = |kind: &str| -> Vec<f64> {
        ev.iter()
            .filter(|r| r.1 == kind && r.2 == "query3")
            .map(|r| r.0)
            .collect()
    };
    // reference §2.1 item 2: querycoord's pulls fail: offline after 10 s.
    assert_eq!(query3("node_offline"), vec![at + 10.0]);
    assert_eq!(f(fl, "detected_at_s"), at + 10.0);
    // reference §2.1 item 1: the keep-alives cannot reach etcd: the session goes
    // between 2/3 of the lease and the lease after the cut, and handleNodeDown runs.
    assert_eq!(query3("etcd_unreachable"), vec![at]);
    let expired = query3("session_expired");
    assert_eq!(expired.len(), 1);
    assert!((at + 40.0..=at + 60.0).contains(&expired[0]));
    assert_eq!(query3("node_down_handled"), expired);
    // reference §2.1 item 5: it stops itself 3 x 10 s later; the managers cannot hear
    // the host, so Swarm restarts it after the heal plus the restart delay (60 s) and
    // the container start (7 s).
    assert_eq!(query3("liveness_exit"), vec![expired[0] + 30.0]);
    assert_eq!(query3("task_started"), vec![heal + 60.0 + 7.0]);
    assert_eq!(query3("node_joined").len(), 1);
    // The errors end once the segments are loaded elsewhere, before the heal.
    let last = f(fl, "last_error_s");
    assert!(last > expired[0] && last < heal, "last error at {last}");
    assert!(f(fl, "bytes_reloaded") > 0.0);
    assert!(f(fl, "bytes_rebalanced") > 0.0);
    assert_eq!(fl["target"], "query3 | everything else");
    for a in s["assertions"].as_array().unwrap() {
        assert_eq!(a["passed"], true, "assertion {a}");
    }
}

#[test]
fn a_partition_shorter_than_the_lease_costs_only_the_cut() {
    let out = temp_dir("net-partition-short");
    let s = run_to(
        "experiments/network-partition.toml",
        &["duration=6m", "fault.0.duration=20s"],
        &out,
    );
    let fl = fault(&s);
    // Errors from the cut until shortly after it heals: the proxies' look-aside and
    // leader caches refresh, querycoord's next pull succeeds (bounded by the 10 s
    // shard-leader cache).
    assert!(f(fl, "first_error_s") < 180.5);
    let last = f(fl, "last_error_s");
    assert!(last < 200.0 + 11.0, "last error at {last}");
    // Nothing was reloaded: query3 kept its session and its segments.
    assert_eq!(f(fl, "bytes_reloaded"), 0.0);
    let ev = rows(&events(&out));
    assert!(times_of(&ev, "node_down_handled").is_empty());
    assert!(times_of(&ev, "liveness_exit").is_empty());
    assert_eq!(times_of(&ev, "etcd_reachable"), vec![200.0]);
    assert_eq!(times_of(&ev, "node_reachable"), vec![200.0]);
    assert!(f(fl, "recovered_at_s") < 260.0);
}

#[test]
fn a_nic_down_is_a_partition_of_its_host_from_everything() {
    let nic = temp_dir("nic-down");
    let part = temp_dir("nic-down-partition");
    let sets = ["duration=6m", "fault.0.kind=nic_down"];
    let a = run_to("experiments/network-partition.toml", &sets, &nic);
    let b = run_to(
        "experiments/network-partition.toml",
        &["duration=6m"],
        &part,
    );
    assert_eq!(fault(&a)["kind"], "nic_down");
    assert_eq!(fault(&a)["target"], "query3");
    // The same cut as a partition of query3 from everything else: the same figures.
    for key in [
        "first_error_s",
        "last_error_s",
        "detected_at_s",
        "failed_requests",
        "bytes_reloaded",
    ] {
        assert_eq!(fault(&a)[key], fault(&b)[key], "{key}");
    }
}

#[test]
fn a_partition_that_leaves_the_search_path_whole_causes_no_errors() {
    // query3 cut off from the clients and the index hosts only: nothing on the
    // search path crosses that cut.
    let out = temp_dir("net-partition-harmless");
    let s = run_to(
        "experiments/network-partition.toml",
        &[
            "duration=5m",
            "fault.0.other_side=[\"clients\", \"index1\", \"index2\"]",
        ],
        &out,
    );
    assert_eq!(f(fault(&s), "failed_requests"), 0.0);
    assert_eq!(s["requests"]["search"]["failed"], 0);
    let ev = rows(&events(&out));
    assert!(times_of(&ev, "node_offline").is_empty());
    assert!(times_of(&ev, "etcd_unreachable").is_empty());
}

#[test]
fn a_query_host_cut_from_querycoord_only_is_offline_but_keeps_its_session() {
    let out = temp_dir("net-partition-qc");
    let s = run_to(
        "experiments/network-partition.toml",
        &["duration=7m", "fault.0.other_side=[\"coord2\"]"],
        &out,
    );
    let ev = rows(&events(&out));
    // querycoord runs on coord2. reference §2.1 item 2: offline for GetShardLeaders
    // after 10 s, but segments are not moved on this signal alone: no session
    // expiry, no reload.
    assert_eq!(times_of(&ev, "node_offline"), vec![190.0]);
    assert!(times_of(&ev, "session_expired").is_empty());
    assert_eq!(f(fault(&s), "bytes_reloaded"), 0.0);
    // Its shards are reported unavailable from the offline mark until the heal.
    let first = f(fault(&s), "first_error_s");
    let last = f(fault(&s), "last_error_s");
    assert!((190.0..201.0).contains(&first), "first error at {first}");
    assert!((299.0..311.0).contains(&last), "last error at {last}");
}

#[test]
fn a_degraded_link_raises_latency_by_at_least_the_added_delay() {
    let p99 = |sets: &[&str], name: &str| {
        let out = temp_dir(name);
        let s = run_to("experiments/network-partition.toml", sets, &out);
        (
            f(fault(&s), "p99_ms_before"),
            f(fault(&s), "p99_ms_during"),
            s,
        )
    };
    let base = [
        "duration=5m",
        "fault.0.kind=link_degradation",
        "fault.0.latency=5ms",
    ];
    let (before, during, s) = p99(&base, "degraded");
    // query3 serves segments of every shard: each search crosses its link twice
    // (call and reply), each way 5 ms later.
    assert!(
        during >= before + 10.0,
        "p99 {before:.2} ms before, {during:.2} ms during"
    );
    assert_eq!(f(fault(&s), "failed_requests"), 0.0);
    assert!(fault(&s)["detected_at_s"].is_null());
    // Loss makes some messages wait for a retransmission timeout.
    let lossy = [
        "duration=5m",
        "fault.0.kind=link_degradation",
        "fault.0.loss=0.02",
    ];
    let (before, during, _) = p99(&lossy, "lossy");
    assert!(
        during >= before + 150.0,
        "p99 {before:.2} ms before, {during:.2} ms during"
    );
}

/// node-failure.toml shortened, with `extra` appended (more faults), written next to
/// the run's output with its topology path made absolute.
fn node_failure_with(extra: &str, dir: &std::path::Path) -> std::path::PathBuf {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("experiments/node-failure.toml")).unwrap();
    let topo = root.join("topologies/seed-26-hosts.toml");
    let text = text.replace(
        "\"../topologies/seed-26-hosts.toml\"",
        &format!("{:?}", topo.display().to_string()),
    );
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join("exp.toml");
    std::fs::write(&path, format!("{text}\n{extra}")).unwrap();
    path
}

#[test]
fn a_slow_minio_disk_stretches_the_reload_and_a_full_one_does_not_slow_reads() {
    let base = ["duration=5m", "fault.0.at=1m", "fault.0.recover_at=4m"];
    let run = |extra: &str, name: &str| {
        let dir = temp_dir(name);
        let exp = node_failure_with(extra, &dir.join("in"));
        run_to(exp.to_str().unwrap(), &base, &dir.join("out"))
    };
    let plain = run("", "disk-plain");
    let mut slow_faults = String::new();
    for m in ["minio1", "minio2", "minio3", "minio4"] {
        slow_faults += &format!(
            "[[fault]]\nkind = \"slow_disk\"\nhost = \"{m}\"\nfactor = 20\nat = \"30s\"\n"
        );
    }
    let slow = run(&slow_faults, "disk-slow");
    let (w0, w1) = (
        f(fault(&plain), "error_window_s"),
        f(fault(&slow), "error_window_s"),
    );
    // The same lease draw; the reload reads 20 x slower from the MinIO disks.
    assert!(
        w1 > w0 + 5.0,
        "error window {w0:.1} s, {w1:.1} s with slow disks"
    );
    assert_eq!(slow["faults"][1]["kind"], "slow_disk");

    let full = run(
        "[[fault]]\nkind = \"disk_full\"\nhost = \"minio1\"\nat = \"30s\"\n",
        "disk-full",
    );
    // A full disk refuses writes; the reload only reads: the run is the plain one.
    assert_eq!(
        fault(&full)["error_window_s"],
        fault(&plain)["error_window_s"]
    );
    assert_eq!(full["faults"][1]["kind"], "disk_full");
}

#[test]
fn link_faults_replay_byte_identically() {
    let a = temp_dir("np-det-a");
    let b = temp_dir("np-det-b");
    let sets = [
        "duration=5m",
        "fault.0.kind=link_degradation",
        "fault.0.loss=0.01",
    ];
    run_to("experiments/network-partition.toml", &sets, &a);
    run_to("experiments/network-partition.toml", &sets, &b);
    let sets = ["duration=5m"];
    let c = temp_dir("np-det-c");
    let d = temp_dir("np-det-d");
    run_to("experiments/network-partition.toml", &sets, &c);
    run_to("experiments/network-partition.toml", &sets, &d);
    assert_same_outputs(&a, &b, "link degradation");
    assert_same_outputs(&c, &d, "network partition");
}

#[test]
fn proxies_cut_off_from_a_query_node_use_the_other_replica() {
    // node-failure-2-replicas.toml with query3 cut off from the proxies' hosts only:
    // querycoord and etcd still reach it.
    let out = temp_dir("net-partition-proxies");
    let s = run_to(
        "experiments/node-failure-2-replicas.toml",
        &[
            "duration=4m",
            "fault.0.kind=network_partition",
            "fault.0.other_side=[\"manager2\", \"manager3\"]",
            "fault.0.at=1m",
            "fault.0.recover_at=3m",
        ],
        &out,
    );
    // query3 leads a shard of one replica, so the proxies do call it.
    let all = events(&out);
    let kinds = all.column("kind").unwrap().str().unwrap();
    let hosts = all.column("host").unwrap().str().unwrap();
    assert!((0..all.height()).any(|i| {
        kinds.get(i) == Some("shard_leader_assigned") && hosts.get(i) == Some("query3")
    }));
    // reference §2.2: a failed call excludes the node for the rest of the request
    // and the proxy retries on the other replica's leader; the look-aside balancer
    // stops choosing query3 after its probes fail. No search fails.
    assert_eq!(f(fault(&s), "failed_requests"), 0.0);
    let ev = rows(&events(&out));
    // Nothing else noticed: querycoord's pulls and the keep-alives go through.
    assert!(times_of(&ev, "node_offline").is_empty());
    assert!(times_of(&ev, "etcd_unreachable").is_empty());
    assert_eq!(f(fault(&s), "bytes_reloaded"), 0.0);
}

#[test]
fn a_querycoord_cut_off_from_etcd_stops_itself_and_waits_for_it() {
    // querycoord's host (coord2) loses the etcd hosts only, for 4 minutes.
    let out = temp_dir("net-partition-qc-etcd");
    let s = run_to(
        "experiments/network-partition.toml",
        &[
            "duration=9m",
            "fault.0.hosts=[\"coord2\"]",
            "fault.0.other_side=[\"zk1\", \"zk2\", \"zk3\"]",
            "fault.0.duration=4m",
        ],
        &out,
    );
    let ev = rows(&events(&out));
    let qc = |kind: &str| -> Vec<f64> {
        ev.iter()
            .filter(|r| r.1 == kind && r.3 == "querycoord")
            .map(|r| r.0)
            .collect()
    };
    let at = 180.0;
    assert_eq!(qc("etcd_unreachable"), vec![at]);
    let expired = qc("session_expired");
    assert_eq!(expired.len(), 1);
    assert!((at + 40.0..=at + 60.0).contains(&expired[0]));
    // reference §2.1 item 5: it stops itself 3 x 10 s later; the managers hear
    // coord2, so Swarm starts it again after the restart delay; it registers only
    // once etcd is reachable (at the heal).
    assert_eq!(qc("liveness_exit"), vec![expired[0] + 30.0]);
    assert_eq!(qc("task_waiting").len(), 1);
    assert!(qc("task_started").contains(&(at + 240.0)));
    // Searches fail once the proxies' shard-leader caches need querycoord.
    let fl = fault(&s);
    assert!(f(fl, "first_error_s") > expired[0] + 30.0);
    assert!(f(fl, "last_error_s") < at + 240.0 + 20.0);
}

/// (time, host, service) of events of `kind`, in order.
fn of_kind(ev: &DataFrame, kind: &str) -> Vec<(f64, String, String)> {
    rows(ev)
        .into_iter()
        .filter(|r| r.1 == kind)
        .map(|r| (r.0, r.2, r.3))
        .collect()
}

const DRAIN: &[&str] = &["duration=5m", "fault.0.at=1m", "fault.0.recover_at=4m"];

#[test]
fn draining_a_coordinator_host_moves_its_tasks_without_the_restart_delay() {
    let out = temp_dir("drain-coord");
    let s = run_to("experiments/drain-coord-host.toml", DRAIN, &out);
    let ev = events(&out);
    // reference §2.10: the stop is a SIGKILL after the 10 s grace period; the
    // replacements start on coord2 with no restart delay (a drain skips it), after
    // the container's `sleep 5` and the process start.
    let stopped = of_kind(&ev, "task_stopped");
    assert_eq!(stopped.len(), 3, "{stopped:?}");
    assert!(stopped.iter().all(|r| r.0 == 70.0 && r.1 == "coord1"));
    let started = of_kind(&ev, "task_started");
    let names: Vec<&str> = started.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(names, ["data1", "datacoord", "rootcoord"], "{started:?}");
    assert!(started.iter().all(|r| r.1 == "coord2"));
    let data1 = started[0].0;
    assert!((76.0..=78.0).contains(&data1), "data1 started at {data1}");
    // The coordinators wait for their old keys: the lease runs out 2/3 TTL to TTL
    // after the kill.
    assert!(started[2].0 >= 70.0 + 40.0 && started[2].0 <= 70.0 + 61.0);
    let fl = fault(&s);
    assert!(f(fl, "first_error_s") >= 70.0, "{fl}");
    assert!(f(fl, "last_error_s") <= started[2].0 + 6.0, "{fl}");
    // Nothing moves back when coord1 is active again.
    assert!(of_kind(&ev, "host_active").len() == 1);
    assert_eq!(of_kind(&ev, "task_started").len(), 3);

    // Where SIGTERM reaches milvus, sessions are revoked at once: the drain costs
    // only the start-up of the replacements.
    let out2 = temp_dir("drain-coord-sigterm");
    let mut sets = DRAIN.to_vec();
    sets.push("failover.sigterm_reaches_process=true");
    let s2 = run_to("experiments/drain-coord-host.toml", &sets, &out2);
    let w1 = f(fl, "error_window_s");
    let w2 = f(fault(&s2), "error_window_s");
    assert!(
        w2 < 15.0 && w2 * 3.0 < w1,
        "{w2} s with SIGTERM vs {w1} s without"
    );
}

#[test]
fn draining_a_pinned_query_host_leaves_its_node_pending_until_active() {
    let out = temp_dir("drain-query3");
    let mut sets = DRAIN.to_vec();
    sets.push("fault.0.host=query3");
    let s = run_to("experiments/drain-coord-host.toml", &sets, &out);
    let ev = events(&out);
    let pending = of_kind(&ev, "task_pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].2, "query3");
    // It starts again only on query3, once the host is active (4 min).
    let started = of_kind(&ev, "task_started");
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].1, "query3");
    assert!(started[0].0 > 240.0);
    // Meanwhile querycoord reassigned its segments after the lease (reference §2.2):
    // errors from the kill (after the grace period) to the end of the reload.
    let fl = fault(&s);
    assert!((70.0..71.0).contains(&f(fl, "first_error_s")), "{fl}");
    assert!(f(fl, "last_error_s") < 240.0, "{fl}");
    assert!(f(fl, "bytes_reloaded") > 1e10, "{fl}");
}

#[test]
fn scaling_the_query_service_spreads_the_load_and_scaling_down_kills_nodes() {
    let sets = ["duration=6m", "fault.0.at=1m", "fault.1.at=3m"];
    let out = temp_dir("scale-query");
    let s = run_to("experiments/scale-query-service.toml", &sets, &out);
    let ev = events(&out);
    // The two new slots start on the spare hosts and join the replica.
    let joined = of_kind(&ev, "node_joined");
    let hosts: Vec<&str> = joined.iter().map(|r| r.1.as_str()).collect();
    assert_eq!(hosts, ["query6", "query7"], "{joined:?}");
    assert!(
        joined.iter().all(|r| r.0 > 60.0 && r.0 < 75.0),
        "{joined:?}"
    );
    let up = &s["faults"][0];
    assert_eq!(f(up, "failed_requests"), 0.0, "{up}");
    assert!(f(up, "bytes_rebalanced") > 0.0);
    assert!(f(up, "p99_ms_after") < f(up, "p99_ms_before"), "{up}");
    // Scaling back to 5: the highest slots are killed after the grace period (SIGTERM
    // never reaches milvus) and their segments fail until reloaded elsewhere.
    let down = &s["faults"][1];
    let stopped = of_kind(&ev, "task_stopped");
    assert_eq!(stopped.len(), 2, "{stopped:?}");
    assert!(stopped.iter().all(|r| r.0 == 190.0));
    assert!(f(down, "failed_requests") > 0.0, "{down}");
    assert!(f(down, "first_error_s") >= 190.0, "{down}");
    // They are not restarted.
    assert_eq!(of_kind(&ev, "task_started").len(), 2);

    // An init that forwards SIGTERM lets the nodes start draining, but Docker's 10 s
    // stop grace period (reference §2.10) kills them before ~18 GB each have moved.
    let out2 = temp_dir("scale-query-sigterm");
    let mut sets2 = sets.to_vec();
    sets2.push("failover.sigterm_reaches_process=true");
    let s2 = run_to("experiments/scale-query-service.toml", &sets2, &out2);
    let down2 = &s2["faults"][1];
    assert!(f(down2, "failed_requests") > 0.0, "{down2}");
    assert!(f(down2, "bytes_rebalanced") > 0.0, "{down2}");
}

#[test]
fn client_retries_turn_a_short_error_window_into_latency() {
    // coord1 drained with a SIGTERM that reaches milvus: ~12 s without rootcoord.
    let mut sets = DRAIN.to_vec();
    sets.push("failover.sigterm_reaches_process=true");
    let a = temp_dir("retry-0");
    let s0 = run_to("experiments/drain-coord-host.toml", &sets, &a);
    sets.push("workload.retries=10");
    let b = temp_dir("retry-10");
    let s10 = run_to("experiments/drain-coord-host.toml", &sets, &b);
    let (r0, r10) = (&s0["requests"]["search"], &s10["requests"]["search"]);
    assert!(f(r0, "failed") > 1000.0, "{r0}");
    assert!(
        r0.get("retries").is_none(),
        "no retry figure without a policy"
    );
    // 200 ms doubling to 3 s: ten retries wait ~21 s, longer than the outage, so
    // every search succeeds in the end, and the waits show in the tail.
    assert_eq!(f(r10, "failed"), 0.0, "{r10}");
    assert_eq!(f(r10, "count"), f(r0, "count"));
    assert!(f(r10, "retries") > f(r0, "failed"), "{r10}");
    assert!(f(r10, "max_ms") > 10_000.0, "{r10}");
    // A deadline bounds the attempts together.
    sets.push("workload.timeout=5s");
    let c = temp_dir("retry-deadline");
    let s5 = run_to("experiments/drain-coord-host.toml", &sets, &c);
    let r5 = &s5["requests"]["search"];
    assert!(f(r5, "failed") > 0.0, "{r5}");
    assert!(f(r5, "max_ms") <= 5_000.0, "{r5}");
    assert!(
        r5["errors"]
            .as_object()
            .unwrap()
            .keys()
            .all(|e| e.contains("deadline")),
        "{r5}"
    );
}

#[test]
fn swarm_gives_up_once_the_restart_policy_is_used_up() {
    // The small test cluster, with one restart allowed per window for querynode1.
    let dir = temp_dir("restart-policy");
    let topo = std::fs::read_to_string(crate::common::repo("tests/fixtures/bad/small-topology.toml"))
        .unwrap()
        .replace(
            "constraints = [\"node.labels.query1==true\"]",
            "constraints = [\"node.labels.query1==true\"]\nrestart_policy = { condition = \"on-failure\", delay = \"5s\", max_attempts = 1, window = \"WINDOW\" }",
        );
    let exp = std::fs::read_to_string(crate::common::repo("tests/fixtures/bad/control-ok.toml"))
        .unwrap()
        .replace("duration = \"10s\"", "duration = \"90s\"")
        + "\n[[fault]]\nkind = \"process_crash\"\ntask = \"querynode1.1\"\nat = \"5s\"\n\n[[fault]]\nkind = \"process_crash\"\ntask = \"querynode1.1\"\nat = \"50s\"\n";
    std::fs::write(dir.join("control-ok.toml"), exp).unwrap();
    let mut starts = Vec::new();
    for window in ["10m", "30s"] {
        std::fs::write(
            dir.join("small-topology.toml"),
            topo.replace("WINDOW", window),
        )
        .unwrap();
        let out = dir.join(format!("out-{window}"));
        let s = dir.join("control-ok.toml");
        run_to(s.to_str().unwrap(), &[], &out);
        let ev = events(&out);
        let pending = of_kind(&ev, "task_pending");
        starts.push((of_kind(&ev, "task_started").len(), pending.len()));
    }
    // One restart in 10 minutes: the second crash leaves the task down. With a 30 s
    // window the first restart (at ~10 s) has left it by the second crash at 50 s.
    assert_eq!(starts, [(1, 1), (2, 0)]);
}

#[test]
fn scale_drain_disk_and_retry_runs_replay_byte_identically() {
    let cases: [(&str, &[&str]); 3] = [
        (
            "experiments/scale-query-service.toml",
            &["duration=6m", "fault.0.at=1m", "fault.1.at=3m"],
        ),
        (
            "experiments/drain-coord-host.toml",
            &[
                "duration=5m",
                "fault.0.at=1m",
                "fault.0.recover_at=4m",
                "failover.sigterm_reaches_process=true",
                "workload.retries=5",
            ],
        ),
        ("experiments/disk-full.toml", &["duration=6m"]),
    ];
    for (k, (exp, sets)) in cases.iter().enumerate() {
        let a = temp_dir(&format!("det-new-{k}-a"));
        let b = temp_dir(&format!("det-new-{k}-b"));
        run_to(exp, sets, &a);
        run_to(exp, sets, &b);
        assert_same_outputs(&a, &b, exp);
    }
}

#[test]
fn a_second_replica_needs_a_release_and_a_reload_in_milvus_2_3() {
    let sets = ["duration=5m", "fault.0.at=1m"];
    let out = temp_dir("load-replicas");
    let s = run_to("experiments/load-second-replica.toml", &sets, &out);
    let ev = events(&out);
    // Released at 60 s: searches fail until the first replica serves every shard.
    let fl = fault(&s);
    assert!((60.0..60.5).contains(&f(fl, "first_error_s")), "{fl}");
    let serviceable = of_kind(&ev, "shard_serviceable");
    assert_eq!(
        serviceable.len(),
        4,
        "2 replicas x 2 shards: {serviceable:?}"
    );
    let first_replica_done = serviceable[1].0;
    assert!(f(fl, "last_error_s") <= first_replica_done + 0.5, "{fl}");
    let loaded = of_kind(&ev, "collection_loaded");
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].0 >= serviceable[3].0);
    // Both replicas came from MinIO: twice the collection.
    assert!(f(fl, "bytes_reloaded") > 80e9, "{fl}");

    // Without the release, 2.3 refuses and nothing changes.
    let out2 = temp_dir("load-replicas-refused");
    let mut sets2 = sets.to_vec();
    sets2.push("fault.0.release_first=false");
    let s2 = run_to("experiments/load-second-replica.toml", &sets2, &out2);
    assert_eq!(f(&s2["requests"]["search"], "failed"), 0.0);
    let ev2 = events(&out2);
    assert_eq!(of_kind(&ev2, "replica_change_refused").len(), 1);
    assert!(of_kind(&ev2, "segment_loaded").iter().all(|r| r.0 == 0.0));

    // 30 M rows: the second replica does not fit its two nodes; its loads fail the
    // load guard and are retried, and the load never completes.
    let out3 = temp_dir("load-replicas-oom");
    let mut sets3 = sets.to_vec();
    sets3.push("collection.rows=30_000_000");
    run_to("experiments/load-second-replica.toml", &sets3, &out3);
    let ev3 = events(&out3);
    assert!(!of_kind(&ev3, "segment_load_failed").is_empty());
    assert!(of_kind(&ev3, "collection_loaded").is_empty());
}

#[test]
fn swarm_moves_the_movable_tasks_of_a_host_cut_off_from_its_managers() {
    // coord1 cut off from everything at 3 min for 2 min.
    let out = temp_dir("cut-coord1");
    let s = run_to(
        "experiments/network-partition.toml",
        &["duration=6m", "fault.0.hosts=[\"coord1\"]"],
        &out,
    );
    let ev = events(&out);
    // reference §2.10: no heartbeats for the grace period (15.5 s): declared down.
    let down = of_kind(&ev, "swarm_node_down");
    assert_eq!(down.len(), 1);
    assert_eq!((down[0].0, down[0].1.as_str()), (195.5, "coord1"));
    // Its coordinators and data node start on coord2 after the 60 s restart delay
    // and the container start, while the originals are stopped.
    let started = of_kind(&ev, "task_started");
    let names: Vec<&str> = started.iter().map(|r| r.2.as_str()).collect();
    assert_eq!(names, ["rootcoord", "datacoord", "data1"], "{started:?}");
    assert!(started
        .iter()
        .all(|r| r.1 == "coord2" && r.0 == 195.5 + 67.0));
    // The originals' leases ran from the cut, not from the declaration.
    let expired = of_kind(&ev, "session_expired");
    assert!(
        expired
            .iter()
            .all(|r| r.0 >= 180.0 + 40.0 && r.0 <= 180.0 + 60.0),
        "{expired:?}"
    );
    // Searches fail from the cut (no timestamps) until rootcoord serves on coord2.
    let fl = fault(&s);
    assert!(f(fl, "last_error_s") < 195.5 + 67.0 + 10.0, "{fl}");
    // Nothing moves back when the cut heals.
    assert_eq!(of_kind(&ev, "swarm_node_ready").len(), 1);

    // query3 is pinned: declared down, but its node runs on behind the cut.
    let out2 = temp_dir("cut-query3");
    run_to(
        "experiments/network-partition.toml",
        &["duration=6m"],
        &out2,
    );
    let ev2 = events(&out2);
    assert_eq!(of_kind(&ev2, "swarm_node_down").len(), 1);
    assert!(of_kind(&ev2, "task_rescheduled").is_empty());
}
