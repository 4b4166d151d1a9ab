//! Behaviour of the search path that users rely on.

use crate::common::{repo, run_to, temp_dir};

fn search(s: &serde_json::Value, fig: &str) -> f64 {
    s["requests"]["search"][fig]
        .as_f64()
        .unwrap_or_else(|| panic!("no {fig} in {s}"))
}

#[test]
fn strong_consistency_waits_for_the_next_time_tick() {
    // reference §3.2 / real-milvus.md: Strong adds about one time-tick interval
    // (200 ms), Bounded adds nothing in steady state.
    let tmp = temp_dir("consistency");
    let base = ["duration=40s", "warmup=5s", "workload.search_qps=100"];
    let bounded = run_to(
        "experiments/quickstart.toml",
        &[&base[..], &["workload.consistency=\"Bounded\""]].concat(),
        &tmp.join("b"),
    );
    let strong = run_to(
        "experiments/quickstart.toml",
        &[&base[..], &["workload.consistency=\"Strong\""]].concat(),
        &tmp.join("s"),
    );
    let extra = search(&strong, "p50_ms") - search(&bounded, "p50_ms");
    assert!(
        (50.0..250.0).contains(&extra),
        "Strong should add about half to one tick interval at the median, added {extra} ms"
    );
    assert!(search(&strong, "max_ms") < search(&bounded, "max_ms") + 260.0);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn an_overloaded_proxy_refuses_tasks_past_its_limit() {
    // reference §1.4 proxy.maxTaskNum bounds the proxy's task queue.
    let tmp = temp_dir("maxtask");
    let s = run_to(
        "experiments/quickstart.toml",
        &[
            "duration=20s",
            "warmup=0s",
            "workload.search_qps=4000",
            "milvus.proxy.maxTaskNum=64",
        ],
        &tmp.join("o"),
    );
    assert!(search(&s, "failed") > 0.0, "{s}");
    assert!(
        s["requests"]["search"]["errors"]["proxy task queue is full"]
            .as_u64()
            .unwrap()
            > 0
    );
    assert!(s["availability"].as_f64().unwrap() < 1.0);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_second_replica_spreads_load_and_doubles_memory() {
    let tmp = temp_dir("replicas");
    // 30 M rows do not fit twice on five 64 GiB hosts (the replica on two hosts would
    // pass the 90 % load guard), so use 20 M.
    let sets = [
        "duration=30s",
        "warmup=10s",
        "workload.search_qps=1500",
        "collection.rows=20000000",
    ];
    let one = run_to("experiments/quickstart.toml", &sets, &tmp.join("r1"));
    let two = run_to(
        "experiments/quickstart.toml",
        &[&sets[..], &["collection.replicas=2"]].concat(),
        &tmp.join("r2"),
    );
    let mem = |s: &serde_json::Value| -> u64 {
        (1..=5)
            .map(|i| {
                s["peak_memory_bytes"][format!("query{i}")]
                    .as_u64()
                    .unwrap()
            })
            .sum()
    };
    let ratio = mem(&two) as f64 / mem(&one) as f64;
    assert!((1.9..2.05).contains(&ratio), "memory ratio {ratio}");
    // With two replicas each search touches half the query nodes, and the work per
    // search is the same, so throughput holds and the tail does not get worse.
    assert!(search(&two, "qps") > 0.95 * 1500.0, "{two}");
    assert!(search(&two, "p99_ms") < 2.0 * search(&one, "p99_ms"));
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn events_record_the_loaded_collection() {
    let tmp = temp_dir("events");
    let out = tmp.join("e");
    run_to(
        "experiments/quickstart.toml",
        &["duration=5s", "warmup=0s"],
        &out,
    );
    let (exp, layout) = simctl::run::prepare(&repo("experiments/quickstart.toml"), &[]).unwrap();
    let bytes = std::fs::read(out.join("events.parquet")).unwrap();
    assert!(bytes.starts_with(b"PAR1"));
    assert_eq!(layout.segments.len(), 58);
    assert_eq!(exp.placement.tasks.len(), 36);
    std::fs::remove_dir_all(&tmp).unwrap();
}

#[test]
fn a_diskann_collection_is_cut_into_segments_by_disk_segment_max_size() {
    // reference §1.5: dataCoord.segment.diskSegmentMaxSize (2048 MB) replaces maxSize.
    let layout_with = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let (_, layout) = simctl::run::prepare(&repo("experiments/diskann.toml"), &sets)
            .unwrap_or_else(|e| panic!("{e}"));
        layout.max_rows_per_segment
    };
    let default = layout_with(&[]);
    let small = layout_with(&["milvus.dataCoord.segment.diskSegmentMaxSize=512"]);
    let other_key = layout_with(&["milvus.dataCoord.segment.maxSize=512"]);
    assert!(default.abs_diff(4 * small) < 4, "{default} vs {small}");
    assert_eq!(
        other_key, default,
        "maxSize does not size a DISKANN collection"
    );
}

#[test]
fn a_query_class_disk_read_latency_reaches_the_diskann_cost() {
    // The topology's optional disk read_latency (default 100us, a GUESS) is what a
    // DISKANN hop waits for: on one thread the disk wait is (hops - cached) * latency.
    let query_host = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let (exp, _) = simctl::run::prepare(&repo("experiments/diskann.toml"), &sets)
            .unwrap_or_else(|e| panic!("{e}"));
        let h = exp
            .topology
            .hosts
            .iter()
            .find(|h| h.class == "query")
            .expect("a query host")
            .clone();
        (exp, h)
    };
    let (exp, default) = query_host(&[]);
    assert_eq!(default.disk.read_latency.as_nanos(), 100_000);
    let (_, slow) = query_host(&["topology.class.query.disk.read_latency=\"300us\""]);
    assert_eq!(slow.disk.read_latency.as_nanos(), 300_000);
    let fast_disk = |mut h: simctl::hw::HostSpec| {
        // Plenty of IOPS and bandwidth, so the hops' latency is what the IO waits for.
        h.disk.iops = 1e9;
        h.disk.read_bytes_per_s = 1e12;
        h
    };
    let wait = |h: simctl::hw::HostSpec| {
        let cost = simctl::hw::HostCost::with_threads(&fast_disk(h), &exp.profile.profile, 1);
        cost.diskann_search(&exp.collection.index, 500_000, &exp.workload.search)
    };
    let (a, b) = (wait(default), wait(slow));
    assert!(a.hops > a.cached_hops, "{a:?}");
    let per_hop = |q: &simctl::hw::cost::DiskAnnSearch| q.io_ns / (q.hops - q.cached_hops);
    assert!((per_hop(&a) - 100_000.0).abs() < 1e-6, "{a:?}");
    assert!((b.io_ns / a.io_ns - 3.0).abs() < 1e-9, "{a:?} {b:?}");
}

#[test]
fn a_late_rootcoord_tick_loop_makes_strong_searches_wait_a_second_tick() {
    // Milvus's timetickSync sends a tick once every session, rootcoord's own included,
    // has reported; it carries the proxies' timestamp. With rootcoord's loop just
    // after the proxies' reports a closed-loop Strong search waits one interval; late
    // in the interval, the tick is too old for the search that follows and it waits
    // two (reference real-milvus.md: "~200 ms, sometimes ~400 ms"; the fidelity runs'
    // restarted server: whole server lifetimes at 400 ms).
    let tmp = temp_dir("tick-phase");
    let at = |phase: &str| {
        run_to(
            "experiments/standalone-search.toml",
            &[
                "duration=12s",
                "workload.consistency=\"Strong\"",
                "workload.clients=1",
                &format!("tick_phase=\"{phase}\""),
            ],
            &tmp.join(phase),
        )
    };
    let (early, middle, late) = (at("0ms"), at("100ms"), at("195ms"));
    for (s, ticks) in [(&early, 1.0), (&middle, 1.0), (&late, 2.0)] {
        let p50 = search(s, "p50_ms");
        assert!(
            (p50 - 200.0 * ticks).abs() < 15.0,
            "expected {ticks} tick(s) of 200 ms, p50 {p50} ms"
        );
    }
    let rate = |s: &serde_json::Value| search(s, "ok");
    assert!(
        rate(&late) < 0.6 * rate(&early),
        "two ticks halve a closed-loop client's rate"
    );
}

#[test]
fn stale_ticks_make_that_share_of_strong_searches_wait_one_tick_more_and_never_two() {
    // The real server's tick probes (experiments/fidelity, measure.py tick_age) find
    // stretches where many ticks carry a timestamp about one interval old: a Strong
    // search issued after the last tick then waits for the next one, never longer.
    let tmp = temp_dir("stale-ticks");
    let at = |share: &str| {
        run_to(
            "experiments/standalone-search.toml",
            &[
                "duration=62s",
                "workload.consistency=\"Strong\"",
                "workload.clients=1",
                &format!("stale_ticks={share}"),
            ],
            &tmp.join(share),
        )
    };
    let (fresh, half, all) = (at("0"), at("0.5"), at("1"));
    assert!((search(&fresh, "mean_ms") - 200.0).abs() < 5.0);
    let mean = search(&half, "mean_ms");
    assert!(
        (270.0..330.0).contains(&mean),
        "half the ticks stale: mean {mean} ms"
    );
    for s in [&half, &all] {
        let max = search(s, "max_ms");
        assert!(
            max < 420.0,
            "a stale tick costs one tick more, never two: max {max} ms"
        );
    }
    assert!((search(&all, "p50_ms") - 400.0).abs() < 10.0);
}

/// Runs standalone-search.toml with `lines` added after its seed, as a file of the
/// user's; returns simctl's error and the line number of the first line added, after
/// checking that it exits non-zero and leaves no output behind.
fn refused(lines: &str) -> (String, usize) {
    let tmp = temp_dir("refused");
    let exp = tmp.join("bad.toml");
    let original = std::fs::read_to_string(repo("experiments/standalone-search.toml")).unwrap();
    let first = original.lines().position(|l| l == "seed = 1").unwrap() + 2;
    let text = original
        .replace("seed = 1\n", &format!("seed = 1\n{lines}"))
        .replace(
            "../topologies/",
            &format!("{}/", repo("topologies").display()),
        );
    std::fs::write(&exp, text).unwrap();
    let out = tmp.join("out");
    let (code, _, err) =
        crate::common::simctl(&["run", exp.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_ne!(code, 0, "{err}");
    assert!(!out.exists(), "no partial output");
    (err, first)
}

#[test]
fn bad_time_tick_settings_are_refused_with_their_lines() {
    let (err, line) = refused("tick_phase = \"250ms\"\n");
    assert!(err.contains(&format!("bad.toml:{line}:")), "{err}");
    assert!(
        err.contains("tick_phase") && err.contains("proxy.timeTickInterval"),
        "{err}"
    );
    let (err, line) = refused("stale_ticks = 1.5\n");
    assert!(err.contains(&format!("bad.toml:{line}:")), "{err}");
    assert!(err.contains("stale_ticks 1.5"), "{err}");
    let (err, line) = refused("cold_start = true\ntick_phase = \"50ms\"\n");
    assert!(err.contains(&format!("bad.toml:{}:", line + 1)), "{err}");
    assert!(err.contains("cold start"), "{err}");
}
