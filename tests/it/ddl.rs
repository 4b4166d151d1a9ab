//! The application's create_index() and load() (`[workload.ddl]`): an index created
//! after the ingest builds nothing before it, a collection loaded later serves no
//! search before, and a load() that comes before the index fails as in Milvus 2.3.
//! Its release() and load() again: searches fail only while the collection is not
//! served, the query nodes let their memory go and take it back, and inserts go on.
//! Beside a fault: the fault is charged only with what it caused, and a query node
//! querycoord cannot reach holds the release's answer (not the release) back.

use crate::common::{
    assert_same_outputs, event_times, experiment_with, f, frame, run_edited, run_to, temp_dir,
};

const SMALL: &[&str] = &["workload.insert.rows=600000", "duration=20m"];

#[test]
fn an_index_created_after_the_flush_builds_then_loads() {
    let out = temp_dir("ddl-after");
    let s = run_to("experiments/ingest-then-index.toml", SMALL, &out);
    let created = f(&s, "ddl.create_index_s");
    let load = f(&s, "ddl.load_started_s");
    let loaded = f(&s, "ddl.loaded_s");
    // create_index() once flush() returned; no build before it.
    assert!(created >= f(&s, "ingest.flushed_s"), "{}", s["ddl"]);
    let builds = event_times(&frame(&out, "events.parquet"), "index_build_started");
    assert!(!builds.is_empty());
    assert!(
        builds.iter().all(|&t| t >= created),
        "a build before create_index"
    );
    // load() once every segment is indexed, merged ones too; every row is served.
    assert!(
        load >= f(&s, "ingest.indexed_s") && loaded > load,
        "{}",
        s["ddl"]
    );
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
    assert_eq!(f(&s, "segments.loaded"), f(&s, "segments.created"));
    // Searches fail until the load, and succeed after it.
    let req = frame(&out, "requests.parquet");
    let _ = std::fs::remove_dir_all(&out);
    let kind = req.column("kind").unwrap().str().unwrap();
    let start = req.column("start_s").unwrap().f64().unwrap();
    let error = req.column("error").unwrap().str().unwrap();
    let (mut before_ok, mut after_failed, mut after) = (0, 0, 0);
    for i in 0..req.height() {
        if kind.get(i) != Some("search") {
            continue;
        }
        let t = start.get(i).unwrap();
        let failed = error.get(i).is_some_and(|e| !e.is_empty());
        if t < load {
            before_ok += usize::from(!failed);
        } else if t > loaded + 1.0 {
            after += 1;
            after_failed += usize::from(failed);
        }
    }
    assert_eq!(before_ok, 0, "a search served before load()");
    assert!(
        after > 10_000 && after_failed == 0,
        "{after_failed} of {after} failed after the load"
    );
}

#[test]
fn a_load_right_after_the_flush_waits_for_every_flushed_segment() {
    // Milvus 2.3's load job pulls the next target itself: a FLAT collection loaded a
    // second after its flush (before the target observer's 10 s tick has seen the
    // segment) loads that segment, after its shard's delegator, and load() is done only
    // once it is served.
    let out = temp_dir("ddl-load-after-flush");
    let dir = temp_dir("ddl-load-after-flush-exp");
    let exp = experiment_with(
        "experiments/standalone-ingest.toml",
        &dir,
        "exp.toml",
        |text| {
            text.replace("index = \"HNSW\"", "index = \"FLAT\"")
                .replace(
                    "index_params = { M = 16, efConstruction = 200 }",
                    "index_params = {}",
                )
                .replace("search_params = { ef = 64 }", "search_params = {}")
                + "\n[workload.ddl]\ncreate_index = \"after_flush\"\nload = \"after_index\"\n"
        },
    );
    let s = run_to(exp.to_str().unwrap(), &[], &out);
    let _ = std::fs::remove_dir_all(&dir);
    let (called, loaded) = (f(&s, "ddl.load_called_s"), f(&s, "ddl.loaded_s"));
    let ev = frame(&out, "events.parquet");
    let _ = std::fs::remove_dir_all(&out);
    let segments = event_times(&ev, "segment_loaded");
    assert_eq!(segments.len(), 1, "one flushed segment: {segments:?}");
    // The segment checker loads a shard's segments once its delegator is there
    // (Milvus 2.3: no segment load without a shard leader): after it, not beside it.
    let leaders = event_times(&ev, "shard_leader_assigned");
    assert!(
        !leaders.is_empty() && leaders.iter().all(|&l| l < segments[0]),
        "leader at {leaders:?}, segment served at {segments:?}"
    );
    assert!(
        called < f(&s, "ingest.flushed_s") + 10.0,
        "the load comes before a target tick: {}",
        s["ddl"]
    );
    assert!(
        segments[0] <= loaded && loaded < called + 10.0,
        "load() returned at {loaded} s, the segment served at {} s",
        segments[0]
    );
}

#[test]
fn a_load_after_deletes_emptied_segments_serves_searches() {
    // The oldest 600,000 rows are deleted before load(): rewrites leave empty
    // segments, whose inputs are retired; the load must still serve every shard.
    let s = run_edited(
        "experiments/ingest-then-index.toml",
        "ddl-deletes",
        SMALL,
        |text| {
            text.replace("load = \"after_index\"", "load = \"15m\"")
            + "\n[workload.delete]\nrows = 600_000\nrate = 50_000\nstart = \"30s\"\norder = \"oldest\"\n"
        },
    );
    assert!(f(&s, "deletes.compactions") > 0.0, "{}", s["deletes"]);
    assert!(f(&s, "ddl.loaded_s") >= 900.0);
    // 5 minutes at 50 searches/s after the load.
    assert!(
        f(&s, "requests.search.ok") > 10_000.0,
        "{}",
        s["requests"]["search"]
    );
}

#[test]
fn a_load_before_the_index_exists_fails() {
    // load() at 5 s while the inserts (and so create_index) are still running:
    // Milvus 2.3 answers "index not found"; nothing is ever served.
    let s = run_edited(
        "experiments/ingest-then-index.toml",
        "ddl-early",
        SMALL,
        |text| text.replace("load = \"after_index\"", "load = \"5s\""),
    );
    let error = s["ddl"]["error"].as_str().unwrap_or_default();
    assert!(error.contains("index not found"), "{}", s["ddl"]);
    assert!(s["ddl"]["load_started_s"].is_null());
    assert!(f(&s, "ddl.create_index_s") > 5.0);
    assert_eq!(f(&s, "requests.search.ok"), 0.0);
}

/// release-reload.toml, shorter and lighter: 100 searches/s, 300,000 rows inserted
/// from 200 s at 2,000 rows/s (so 120,000 of them while the collection is released,
/// 300-360 s), flushed; release() at 5 min, load() again at 6 min.
const RELEASE: &[&str] = &[
    "duration=9m",
    "workload.search_qps=100",
    "workload.insert.rows=300000",
    "workload.insert.start=200s",
];

#[test]
fn searches_fail_only_while_released_and_every_row_is_served_again() {
    let out = temp_dir("ddl-release");
    let s = run_to("experiments/release-reload.toml", RELEASE, &out);
    let (release, reloaded) = (f(&s, "ddl.release_s"), f(&s, "ddl.reloaded_s"));
    let released = f(&s, "ddl.released_s");
    // The call pays its path (milliseconds to a second), the reload its loads.
    assert!(
        released > release && released < release + 1.0,
        "{}",
        s["ddl"]
    );
    assert!(f(&s, "ddl.reload_started_s") >= 360.0, "{}", s["ddl"]);
    assert!(reloaded > 360.0 && reloaded < 480.0, "{}", s["ddl"]);
    // Failures only between the release and the reload's end; none before or after.
    let req = frame(&out, "requests.parquet");
    let ts = frame(&out, "timeseries.parquet");
    let _ = std::fs::remove_dir_all(&out);
    let kind = req.column("kind").unwrap().str().unwrap();
    let start = req.column("start_s").unwrap().f64().unwrap();
    let error = req.column("error").unwrap().str().unwrap();
    let (mut failed, mut outside, mut not_loaded) = (0, 0, 0);
    for i in 0..req.height() {
        let Some(e) = error.get(i).filter(|e| !e.is_empty()) else {
            continue;
        };
        assert_eq!(
            kind.get(i),
            Some("search"),
            "a {:?} failed: {e}",
            kind.get(i)
        );
        let t = start.get(i).unwrap();
        failed += 1;
        not_loaded += usize::from(e == "collection not loaded");
        if t < release || t > reloaded + 1.0 {
            outside += 1;
        }
    }
    assert_eq!(outside, 0, "searches failed outside the release window");
    // 100/s over the 60 s released, then the reload: several thousand.
    assert!(
        failed > 5_000 && not_loaded > 5_000,
        "{failed} failed, {not_loaded} not loaded"
    );
    // Query-node memory: the collection's ~50 GB before, their bases while released,
    // all of it back after the reload.
    let t = ts.column("t_s").unwrap().f64().unwrap();
    let service = ts.column("service").unwrap().str().unwrap();
    let mem = ts.column("mem_bytes").unwrap().u64().unwrap();
    let query_mem = |at: f64| -> f64 {
        (0..ts.height())
            .filter(|&i| {
                t.get(i) == Some(at)
                    && service
                        .get(i)
                        .is_some_and(|s| s.starts_with("query") && s != "querycoord")
            })
            .map(|i| mem.get(i).unwrap() as f64)
            .sum()
    };
    let (before, during, after) = (query_mem(290.0), query_mem(330.0), query_mem(470.0));
    assert!(
        before > 40e9,
        "query nodes held {before} bytes before the release"
    );
    assert!(
        during < 0.05 * before,
        "{during} bytes held while released, {before} before"
    );
    assert!(
        after > 0.95 * before,
        "{after} bytes held after the reload, {before} before"
    );
    // Inserts go on and nothing acknowledged is lost; the rows inserted while the
    // collection was released are served sealed after the reload.
    assert_eq!(f(&s, "ingest.rows_failed"), 0.0);
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
    assert_eq!(f(&s, "ingest.rows"), 300_000.0);
    let served = f(&s, "ingest.loaded_s");
    assert!(
        served > f(&s, "ddl.reload_started_s") && served <= reloaded,
        "{} {}",
        s["ingest"],
        s["ddl"]
    );
    assert_eq!(f(&s, "segments.loaded"), f(&s, "segments.created"));
    assert_eq!(f(&s, "segments.growing_at_end"), 0.0);
}

#[test]
fn a_load_again_after_release_follows_it_at_once() {
    let s = run_edited(
        "experiments/release-reload.toml",
        "ddl-after-release",
        &[
            "duration=7m",
            "workload.search_qps=50",
            "workload.insert.rows=100000",
        ],
        |text| text.replace("reload = \"6m\"", "reload = \"after_release\""),
    );
    assert_eq!(
        f(&s, "ddl.reload_s"),
        f(&s, "ddl.released_s"),
        "{}",
        s["ddl"]
    );
    let window = f(&s, "ddl.unloaded_s");
    assert!(window > 1.0 && window < 60.0, "{}", s["ddl"]);
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
}

#[test]
fn release_and_reload_are_deterministic() {
    let sets = &[
        "duration=380s",
        "workload.search_qps=50",
        "workload.insert.rows=100000",
    ];
    let (a, b) = (temp_dir("ddl-det-a"), temp_dir("ddl-det-b"));
    run_to("experiments/release-reload.toml", sets, &a);
    run_to("experiments/release-reload.toml", sets, &b);
    assert_same_outputs(&a, &b, "release-reload");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

/// A process crash of `service` at `at` (a `[[fault]]` table).
fn crash(service: &str, at: f64) -> String {
    format!("\n[[fault]]\nkind = \"process_crash\"\nservice = \"{service}\"\nat = \"{at}s\"\n")
}

#[test]
fn a_create_index_or_load_whose_coordinator_goes_down_is_called_again() {
    // The coordinator dies a millisecond after the call reached it, before its
    // etcd write: the application's call fails and it calls again once the
    // coordinator is back; the collection is indexed and served in the end.
    let base = run_to(
        "experiments/ingest-then-index.toml",
        SMALL,
        &temp_dir("ddl-lost-base"),
    );
    for (service, called, event) in [
        (
            "datacoord",
            "ddl.create_index_called_s",
            "create_index_failed",
        ),
        ("querycoord", "ddl.load_called_s", "load_failed"),
    ] {
        let at = f(&base, called) + 0.001;
        let out = temp_dir(&format!("ddl-lost-{service}"));
        let exp = crate::common::experiment_with(
            "experiments/ingest-then-index.toml",
            &out,
            "exp.toml",
            |text| {
                text.replacen(
                    "\n[[assert]]",
                    &format!("{}\n[[assert]]", crash(service, at)),
                    1,
                )
            },
        );
        let s = run_to(exp.to_str().unwrap(), SMALL, &out.join("run"));
        let ev = frame(&out.join("run"), "events.parquet");
        assert_eq!(event_times(&ev, event).len(), 1, "{service}: {}", s["ddl"]);
        assert!(
            f(&s, called) > at + 1.0,
            "{service}: called again later: {}",
            s["ddl"]
        );
        assert!(s["ddl"]["loaded_s"].is_number(), "{service}: {}", s["ddl"]);
        assert!(s["ddl"]["error"].is_null(), "{service}: {}", s["ddl"]);
    }
}

#[test]
fn a_release_through_a_querycoord_that_goes_down_is_answered() {
    // querycoord down when release() is called: it fails and the collection stays
    // loaded. querycoord dying just after the release took effect: the answer never
    // comes; the release is in force, and the load() again at 6 min either loads or
    // fails with a reason, never silently.
    let with = |tag: &str, at: f64| {
        run_edited("experiments/release-reload.toml", tag, RELEASE, |text| {
            text.replacen(
                "\n[[assert]]",
                &format!("{}\n[[assert]]", crash("querycoord", at)),
                1,
            )
        })
    };
    let s = with("ddl-release-down", 299.0);
    let error = s["ddl"]["release_error"].as_str().unwrap_or_default();
    assert!(error.contains("unavailable"), "{}", s["ddl"]);
    assert!(s["ddl"]["released_s"].is_null() && s["ddl"]["unloaded_s"].is_null());
    let s = with("ddl-release-answer-lost", 300.1);
    let error = s["ddl"]["release_error"].as_str().unwrap_or_default();
    assert!(error.contains("no answer"), "{}", s["ddl"]);
    assert!(
        s["ddl"]["reloaded_s"].is_number() || s["ddl"]["reload_error"].is_string(),
        "{}",
        s["ddl"]
    );
}

#[test]
fn a_load_again_called_before_release_returns_counts_from_its_call() {
    let s = run_edited(
        "experiments/release-reload.toml",
        "ddl-reload-early",
        RELEASE,
        |text| text.replace("reload = \"6m\"", "reload = \"300.2s\""),
    );
    assert_eq!(f(&s, "ddl.reload_s"), 300.2, "{}", s["ddl"]);
    let waited = (f(&s, "ddl.released_s") - 300.2) * 1e3;
    assert!(f(&s, "ddl.reload_ms") > waited, "{}", s["ddl"]);
}

/// Searches of a requests table that failed, answered in [from, to).
fn failed_between(req: &polars::prelude::DataFrame, from: f64, to: f64) -> usize {
    let end = req.column("end_s").unwrap().f64().unwrap();
    let error = req.column("error").unwrap().str().unwrap();
    (0..req.height())
        .filter(|&i| error.get(i).is_some_and(|e| !e.is_empty()))
        .filter(|&i| end.get(i).is_some_and(|t| t >= from && t < to))
        .count()
}

#[test]
fn a_fault_overlapping_a_release_is_charged_only_with_what_it_caused() {
    // query3's host crashes at 270 s, 30 s before release(). Alone, the crash fails
    // searches until its segments are reloaded elsewhere and reloads them. With the
    // release, what fails from the release on (collection not loaded, then channel
    // not available while load() again places everything) and the bytes load() again
    // moves are the application's: the fault keeps exactly the failures answered
    // before the release, and reloads nothing.
    let fault = "\n[[fault]]\nkind = \"host_crash\"\nhost = \"query3\"\nat = \"270s\"\n";
    let run = |tag: &str, release: bool| {
        let out = temp_dir(tag);
        let exp = experiment_with("experiments/release-reload.toml", &out, "exp.toml", |t| {
            let t = t.replacen("\n[[assert]]", &format!("{fault}\n[[assert]]"), 1);
            match release {
                true => t,
                // Without the release its assertions name figures the run will not
                // write, which the experiment may not do: they go too.
                false => {
                    let asserts = t.find("\n[[assert]]").unwrap();
                    t[..asserts].replace("release = \"5m\"\nreload = \"6m\"\n", "")
                }
            }
        });
        let s = run_to(exp.to_str().unwrap(), RELEASE, &out.join("run"));
        let req = frame(&out.join("run"), "requests.parquet");
        let _ = std::fs::remove_dir_all(&out);
        (s, req)
    };
    let (alone, alone_req) = run("ddl-fault-alone", false);
    let (with, with_req) = run("ddl-fault-release", true);
    let (a, w) = (&alone["faults"][0], &with["faults"][0]);
    let release = f(&with, "ddl.release_s");
    // The fault alone: errors past the release time, and a reload of its segments.
    assert!(f(a, "last_error_s") > release + 10.0, "{a}");
    assert!(f(a, "bytes_reloaded") > 1e9, "{a}");
    // With the release: the same failures up to the release, none after it.
    let before = failed_between(&alone_req, 270.0, release);
    assert!(before > 1_000, "{before} failures before the release");
    assert_eq!(f(w, "failed_requests"), before as f64, "{w}");
    assert_eq!(f(w, "first_error_s"), f(a, "first_error_s"), "{w}");
    assert!(f(w, "last_error_s") < release, "{w}");
    // The release's and the reload's failures happened, but are not the fault's.
    let released = failed_between(&with_req, release, f(&with, "ddl.reloaded_s") + 1.0);
    assert!(released > 5_000, "{released} failures while released");
    // load() again moved the whole collection; none of it is the fault's reload.
    assert_eq!(f(w, "bytes_reloaded"), 0.0, "{w}");
    // Recovered only once the collection is served again.
    assert!(
        f(w, "recovered_at_s") >= f(&with, "ddl.reload_started_s"),
        "{w}"
    );
}

/// Memory service `service` held at `at` seconds, by a timeseries table.
fn memory_of(ts: &polars::prelude::DataFrame, service: &str, at: f64) -> f64 {
    let t = ts.column("t_s").unwrap().f64().unwrap();
    let svc = ts.column("service").unwrap().str().unwrap();
    let mem = ts.column("mem_bytes").unwrap().u64().unwrap();
    (0..ts.height())
        .filter(|&i| t.get(i) == Some(at) && svc.get(i) == Some(service))
        .map(|i| mem.get(i).unwrap() as f64)
        .sum()
}

/// release-reload (`RELEASE`) with `fault` added; the summary, timeseries and events.
fn release_beside(
    tag: &str,
    fault: &str,
) -> (
    serde_json::Value,
    polars::prelude::DataFrame,
    polars::prelude::DataFrame,
) {
    let out = temp_dir(tag);
    let exp = experiment_with("experiments/release-reload.toml", &out, "exp.toml", |t| {
        t.replacen("\n[[assert]]", &format!("{fault}\n[[assert]]"), 1)
    });
    let s = run_to(exp.to_str().unwrap(), RELEASE, &out.join("run"));
    let ts = frame(&out.join("run"), "timeseries.parquet");
    let ev = frame(&out.join("run"), "events.parquet");
    let _ = std::fs::remove_dir_all(&out);
    (s, ts, ev)
}

/// A network partition of `hosts` from `other_side` (every other host and the
/// clients when empty) at 290 s for `secs` seconds.
fn partition(hosts: &str, other_side: &str, secs: u32) -> String {
    let other = match other_side {
        "" => String::new(),
        o => format!("other_side = [{o}]\n"),
    };
    format!("\n[[fault]]\nkind = \"network_partition\"\nhosts = [{hosts}]\n{other}at = \"290s\"\nduration = \"{secs}s\"\n")
}

#[test]
fn a_release_waits_for_a_query_node_querycoord_cannot_reach() {
    // query3 cut off from everything at 290 s for 20 s; release() at 300 s. The
    // release is in force at once and every other node lets go, but the call
    // returns only once querycoord reaches query3 again (310 s) and its next pull
    // shows it empty; query3 keeps its memory until then.
    let (s, ts, _) = release_beside("ddl-cut-short", &partition("\"query3\"", "", 20));
    assert!(s["ddl"]["release_error"].is_null(), "{}", s["ddl"]);
    let released = f(&s, "ddl.released_s");
    assert!(released > 310.0 && released < 311.5, "{}", s["ddl"]);
    assert!(memory_of(&ts, "query3", 305.0) > 5e9);
    assert!(memory_of(&ts, "query3", 315.0) < 1e9);
    assert!(memory_of(&ts, "query1", 305.0) < 1e9);
    assert!(f(&s, "ddl.reloaded_s") < 480.0, "{}", s["ddl"]);
    // Cut off from the coordinators only, for 2 minutes: its session stays, so the
    // call waits for the cut to heal (410 s), and load() again at 6 min waits for it.
    let coords = "\"coord1\", \"coord2\"";
    let (s, ts, _) = release_beside("ddl-cut-qc", &partition("\"query3\"", coords, 120));
    let released = f(&s, "ddl.released_s");
    assert!(released > 410.0 && released < 411.5, "{}", s["ddl"]);
    assert!(memory_of(&ts, "query3", 400.0) > 5e9);
    assert_eq!(f(&s, "ddl.reload_s"), 360.0, "{}", s["ddl"]);
    assert!(f(&s, "ddl.reload_started_s") >= released, "{}", s["ddl"]);
    assert!(s["ddl"]["reloaded_s"].is_number(), "{}", s["ddl"]);
    // Cut off from everything for 2 minutes: the call returns when its lease runs
    // out (handleNodeDown clears its distribution); the node stops itself 30 s
    // later, and its memory goes with it.
    let (s, ts, ev) = release_beside("ddl-cut-long", &partition("\"query3\"", "", 120));
    let expired = event_times(&ev, "session_expired");
    assert_eq!(expired.len(), 1, "{expired:?}");
    let released = f(&s, "ddl.released_s");
    assert!(
        released >= expired[0] && released < expired[0] + 0.1,
        "{} {expired:?}",
        s["ddl"]
    );
    assert!(memory_of(&ts, "query3", expired[0].floor()) > 5e9);
    assert!(memory_of(&ts, "query3", expired[0].ceil() + 31.0) < 1e9);
    // querycoord dies while its release waits for the node cut off from it: no
    // answer comes; the restarted querycoord has the node let go once the cut heals.
    let crash = "\n[[fault]]\nkind = \"process_crash\"\nservice = \"querycoord\"\nat = \"330s\"\n";
    let faults = partition("\"query3\"", coords, 120) + crash;
    let (s, ts, _) = release_beside("ddl-cut-qc-crash", &faults);
    let error = s["ddl"]["release_error"].as_str().unwrap_or_default();
    assert!(error.contains("no answer"), "{}", s["ddl"]);
    assert!(s["ddl"]["released_s"].is_null(), "{}", s["ddl"]);
    assert!(memory_of(&ts, "query3", 405.0) > 5e9);
    assert!(memory_of(&ts, "query3", 415.0) < 1e9);
}

#[test]
fn a_release_waits_for_the_session_of_a_query_node_that_just_died() {
    // query3's host dies a second before release(): querycoord has not noticed yet
    // (nothing is offline before 10 s, nothing cleared before the lease runs out),
    // so the call returns once handleNodeDown cleared the node's distribution.
    let crash = "\n[[fault]]\nkind = \"host_crash\"\nhost = \"query3\"\nat = \"299s\"\n";
    let (s, _, ev) = release_beside("ddl-release-crash", crash);
    let handled = event_times(&ev, "node_down_handled");
    assert_eq!(handled.len(), 1, "{handled:?}");
    assert!(
        handled[0] > 299.0 + 39.0 && handled[0] < 360.0,
        "{handled:?}"
    );
    let released = f(&s, "ddl.released_s");
    assert!(
        released >= handled[0] && released < handled[0] + 0.1,
        "{} {handled:?}",
        s["ddl"]
    );
    assert!(s["ddl"]["release_error"].is_null(), "{}", s["ddl"]);
    assert!(f(&s, "ddl.reloaded_s") < 480.0, "{}", s["ddl"]);
}

/// drop-collection.toml, shorter, with garbage collection every 60 s keeping the
/// files of dropped segments 180 s: drop_collection() at 5 min.
const DROP: &[&str] = &[
    "duration=10m",
    "milvus.dataCoord.gc.interval=60",
    "milvus.dataCoord.gc.dropTolerance=180",
];

/// The query nodes' memory together at `at` seconds, by a timeseries table.
fn query_nodes_memory(ts: &polars::prelude::DataFrame, at: f64) -> f64 {
    (1..=5)
        .map(|n| memory_of(ts, &format!("query{n}"), at))
        .sum()
}

#[test]
fn after_a_drop_every_search_and_insert_fails_with_collection_not_found() {
    let out = temp_dir("ddl-drop");
    let s = run_to("experiments/drop-collection.toml", DROP, &out);
    let (drop, dropped) = (f(&s, "ddl.drop_s"), f(&s, "ddl.dropped_s"));
    assert!(s["ddl"]["drop_error"].is_null(), "{}", s["ddl"]);
    // The call pays its path: the proxy, a timestamp, the meta cache expiry on every
    // proxy and one etcd write; milliseconds.
    let ms = f(&s, "ddl.drop_ms");
    assert!(ms > 0.5 && ms < 50.0, "{}", s["ddl"]);
    assert!(dropped > drop && dropped < drop + 0.05, "{}", s["ddl"]);
    let req = frame(&out, "requests.parquet");
    let _ = std::fs::remove_dir_all(&out);
    let kind = req.column("kind").unwrap().str().unwrap();
    let start = req.column("start_s").unwrap().f64().unwrap();
    let error = req.column("error").unwrap().str().unwrap();
    let (mut searches, mut inserts) = (0, 0);
    for i in 0..req.height() {
        let t = start.get(i).unwrap();
        let e = error.get(i).filter(|e| !e.is_empty());
        if t < drop {
            assert_eq!(e, None, "a {:?} failed before the drop", kind.get(i));
        } else if t > dropped + 0.01 {
            assert_eq!(e, Some("collection not found"), "{:?}", kind.get(i));
            match kind.get(i) {
                Some("search") => searches += 1,
                Some("insert") => inserts += 1,
                k => panic!("a {k:?} request"),
            }
        }
    }
    // 100 searches/s and an insert every 5 s over the 5 minutes after the drop.
    assert!(searches > 25_000 && inserts > 50, "{searches} {inserts}");
    // Nothing acknowledged before the drop is reported lost.
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
}

#[test]
fn a_drop_frees_the_query_nodes_at_once_and_object_storage_after_drop_tolerance() {
    let out = temp_dir("ddl-drop-free");
    let s = run_to("experiments/drop-collection.toml", DROP, &out);
    let ts = frame(&out, "timeseries.parquet");
    let ev = frame(&out, "events.parquet");
    let _ = std::fs::remove_dir_all(&out);
    // Query nodes: the collection's gigabytes before, their base within seconds of
    // the drop, and nothing comes back.
    let before = query_nodes_memory(&ts, 290.0);
    let after = query_nodes_memory(&ts, 305.0);
    assert!(before > 5e9, "{before} bytes before the drop");
    assert!(
        after < 0.15 * before,
        "{after} bytes after, {before} before"
    );
    assert_eq!(after, query_nodes_memory(&ts, 599.0));
    assert!(f(&s, "ddl.drop_released_s") < f(&s, "ddl.dropped_s") + 1.0);
    // Object storage: the segments are marked dropped within a second; their files
    // stay until the first GC pass (every 60 s) at least dropTolerance (180 s) later.
    let marked = f(&s, "ddl.drop_segments_dropped_s");
    assert!(marked > f(&s, "ddl.dropped_s") && marked < f(&s, "ddl.dropped_s") + 1.0);
    let freed = f(&s, "ddl.storage_freed_s");
    assert!(
        freed >= marked + 180.0 && freed < marked + 240.0,
        "{}",
        s["ddl"]
    );
    assert_eq!(freed % 60.0, 0.0, "freed between GC passes: {freed}");
    assert_eq!(event_times(&ev, "collection_files_removed"), vec![freed]);
    // Every byte the collection had: the loaded segments and what the ingest added.
    assert!(f(&s, "ddl.drop_bytes") > f(&s, "storage.bytes_at_start"));
    assert_eq!(f(&s, "storage.bytes_at_end"), 0.0);
    // Then rootcoord removes the collection's meta.
    assert!(f(&s, "ddl.meta_removed_s") > freed, "{}", s["ddl"]);

    // With the defaults (a pass every hour, files kept three hours) the files are
    // still there when the run ends.
    let kept = run_to(
        "experiments/drop-collection.toml",
        &[
            "duration=10m",
            "milvus.dataCoord.gc.interval=3600",
            "milvus.dataCoord.gc.dropTolerance=10800",
        ],
        &temp_dir("ddl-drop-kept"),
    );
    assert!(kept["ddl"]["storage_freed_s"].is_null(), "{}", kept["ddl"]);
    assert!(kept["ddl"]["meta_removed_s"].is_null(), "{}", kept["ddl"]);
    // The collection's files, and the merged-away files compaction left before.
    assert!(f(&kept, "storage.garbage_bytes_at_end") >= f(&kept, "ddl.drop_bytes"));
    assert!(f(&kept, "ddl.drop_bytes") > f(&kept, "storage.bytes_at_start"));
    assert_eq!(
        f(&kept, "storage.bytes_at_end"),
        f(&kept, "storage.garbage_bytes_at_end")
    );
}

#[test]
fn a_fault_beside_a_drop_is_charged_only_with_what_it_caused() {
    // query3's host crashes at 290 s, 10 s before the drop: it fails searches until
    // the drop; from the drop on every search and insert fails, by the application.
    let fault = "\n[[fault]]\nkind = \"host_crash\"\nhost = \"query3\"\nat = \"290s\"\n";
    let out = temp_dir("ddl-drop-fault");
    let exp = experiment_with("experiments/drop-collection.toml", &out, "exp.toml", |t| {
        t.replacen("\n[[assert]]", &format!("{fault}\n[[assert]]"), 1)
    });
    let s = run_to(exp.to_str().unwrap(), DROP, &out.join("run"));
    let req = frame(&out.join("run"), "requests.parquet");
    let _ = std::fs::remove_dir_all(&out);
    let w = &s["faults"][0];
    let dropped = f(&s, "ddl.dropped_s");
    let before = failed_between(&req, 290.0, dropped);
    assert!(before > 100, "{before} failures before the drop");
    assert_eq!(f(w, "failed_requests"), before as f64, "{w}");
    assert!(f(w, "last_error_s") < dropped, "{w}");
    assert_eq!(f(w, "failed_inserts"), 0.0, "{w}");
    assert!(failed_between(&req, dropped, 600.0) > 25_000);
}

#[test]
fn a_drop_takes_longer_when_the_etcd_disks_are_slow() {
    let slow: String = ["zk1", "zk2", "zk3"]
        .iter()
        .map(|h| {
            format!(
                "\n[[fault]]\nkind = \"slow_disk\"\nhost = \"{h}\"\nfactor = 100\nat = \"60s\"\n"
            )
        })
        .collect();
    let sets = &["duration=320s"];
    let plain = run_edited(
        "experiments/drop-collection.toml",
        "ddl-drop-plain",
        sets,
        |t| t,
    );
    let slowed = run_edited(
        "experiments/drop-collection.toml",
        "ddl-drop-slow",
        sets,
        |t| t.replacen("\n[[assert]]", &format!("{slow}\n[[assert]]"), 1),
    );
    // One etcd write on the call's path: its fsyncs, 1 ms on these disks, take 100.
    let (a, b) = (f(&plain, "ddl.drop_ms"), f(&slowed, "ddl.drop_ms"));
    assert!(
        b > a + 90.0 && b < a + 110.0,
        "{a} ms, {b} ms with slow etcd disks"
    );
    // The slow disks cause no failure of their own.
    for w in slowed["faults"].as_array().unwrap() {
        assert_eq!(f(w, "failed_requests"), 0.0, "{w}");
        assert_eq!(f(w, "failed_inserts"), 0.0, "{w}");
    }
}

#[test]
fn a_drop_is_deterministic() {
    let sets = &[
        "duration=360s",
        "milvus.dataCoord.gc.interval=20",
        "milvus.dataCoord.gc.dropTolerance=30",
    ];
    let (a, b) = (temp_dir("ddl-drop-det-a"), temp_dir("ddl-drop-det-b"));
    run_to("experiments/drop-collection.toml", sets, &a);
    run_to("experiments/drop-collection.toml", sets, &b);
    assert_same_outputs(&a, &b, "drop-collection");
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}

/// ingest-then-index (`SMALL`) whose collection the application creates at 30 s;
/// inserts from `insert_start`.
fn created_at_30s(
    tag: &str,
    insert_start: &str,
) -> (serde_json::Value, polars::prelude::DataFrame) {
    let out = temp_dir(tag);
    let exp = experiment_with(
        "experiments/ingest-then-index.toml",
        &out,
        "exp.toml",
        |t| {
            t.replace(
                "load = \"after_index\"",
                "load = \"after_index\"\ncreate = \"30s\"",
            )
        },
    );
    let start = format!("workload.insert.start={insert_start}");
    let sets: Vec<&str> = SMALL.iter().copied().chain([start.as_str()]).collect();
    let s = run_to(exp.to_str().unwrap(), &sets, &out.join("run"));
    let req = frame(&out.join("run"), "requests.parquet");
    let _ = std::fs::remove_dir_all(&out);
    (s, req)
}

#[test]
fn a_collection_created_during_the_run_is_not_found_before_and_ingests_after() {
    let (s, req) = created_at_30s("ddl-create", "40s");
    assert!(s["ddl"]["create_error"].is_null(), "{}", s["ddl"]);
    let (create, created) = (f(&s, "ddl.create_s"), f(&s, "ddl.created_s"));
    assert_eq!(create, 30.0);
    // Three etcd writes (meta, datacoord's channel watch, state) and the hops: ms.
    let ms = f(&s, "ddl.create_ms");
    assert!(ms > 1.0 && ms < 50.0, "{}", s["ddl"]);
    assert!(created > create && created < create + 0.05, "{}", s["ddl"]);
    // Searches fail with "collection not found" until the create, then "not loaded"
    // until the load; every row inserted after the create is acknowledged, indexed
    // and loaded.
    let kind = req.column("kind").unwrap().str().unwrap();
    let start = req.column("start_s").unwrap().f64().unwrap();
    let error = req.column("error").unwrap().str().unwrap();
    let mut not_found = 0;
    for i in 0..req.height() {
        let e = error.get(i).filter(|e| !e.is_empty());
        let t = start.get(i).unwrap();
        if e == Some("collection not found") {
            assert_eq!(kind.get(i), Some("search"));
            assert!(t < created, "not found at {t}");
            not_found += 1;
        } else if t < create {
            panic!("a {:?} at {t} before the create: {e:?}", kind.get(i));
        }
    }
    assert!(not_found > 1_000, "{not_found}");
    assert!(f(&s, "ddl.create_index_called_s") > created);
    assert!(f(&s, "ddl.load_started_s") > created);
    assert_eq!(f(&s, "ingest.rows_failed"), 0.0);
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
    assert_eq!(f(&s, "segments.loaded"), f(&s, "segments.created"));

    // Inserts before the create fail, as the application's doing.
    let (early, req) = created_at_30s("ddl-create-early", "10s");
    let error = req.column("error").unwrap().str().unwrap();
    let kind = req.column("kind").unwrap().str().unwrap();
    let failed_inserts = (0..req.height())
        .filter(|&i| kind.get(i) == Some("insert") && error.get(i) == Some("collection not found"))
        .count();
    assert!(failed_inserts > 0, "{}", early["requests"]);
    assert!(f(&early, "ingest.rows_failed") > 0.0);
}

/// A seed-cluster run whose collection the application creates at 30 s, indexes at
/// 45 s and loads at `load`, inserting 5,000 rows/s from 31 s, with `ddl` added to
/// `[workload.ddl]` and `rest` appended. Returns the summary and the events.
fn created_then(
    tag: &str,
    load: &str,
    ddl: &str,
    rest: &str,
) -> (serde_json::Value, polars::prelude::DataFrame) {
    let topology = crate::common::repo("topologies/seed-26-hosts.toml");
    let text = format!(
        r#"name = "create-then"
topology = "{}"
duration = "5m"
seed = 1

[collection]
rows = 0
dim = 1024
metric = "L2"
index = "HNSW"
index_params = {{ M = 16, efConstruction = 200 }}
shards = 2
replicas = 1

[workload]
search_qps = 20
nq = 1
topk = 10
search_params = {{ ef = 64 }}

[workload.insert]
rows = 600_000
rate = 5_000
batch_rows = 10_000
start = "31s"

[workload.ddl]
create = "30s"
create_index = "45s"
load = "{load}"
{ddl}

[milvus]
"dataCoord.gc.interval" = 60
"dataCoord.gc.dropTolerance" = 60
{rest}"#,
        topology.display()
    );
    let out = temp_dir(tag);
    let exp = out.join("exp.toml");
    std::fs::write(&exp, text).unwrap();
    let s = run_to(exp.to_str().unwrap(), &[], &out.join("run"));
    let ev = frame(&out.join("run"), "events.parquet");
    let _ = std::fs::remove_dir_all(&out);
    (s, ev)
}

#[test]
fn a_create_a_fault_made_fail_is_the_faults_and_a_drop_then_does_nothing() {
    // rootcoord is killed a second before create_collection(): the create fails, so
    // what fails for want of the collection is the fault's, not the application's.
    let crash = "\n[[fault]]\nkind = \"process_crash\"\nservice = \"rootcoord\"\nat = \"29s\"\n";
    let (s, ev) = created_then("ddl-create-fails", "60s", "drop = \"120s\"", crash);
    assert!(s["ddl"]["create_error"].is_string(), "{}", s["ddl"]);
    let w = &s["faults"][0];
    assert!(f(w, "failed_requests") > 100.0, "{w}");
    assert!(f(w, "failed_inserts") > 10.0, "{w}");
    // Milvus 2.3 answers a drop of a collection it does not find with success and
    // runs no step: nothing is released, dropped or collected.
    for step in [
        "dropped_s",
        "drop_segments_dropped_s",
        "storage_freed_s",
        "meta_removed_s",
    ] {
        assert!(s["ddl"][step].is_null(), "{step}: {}", s["ddl"]);
    }
    assert!(event_times(&ev, "segments_dropped").is_empty());
}

#[test]
fn a_load_under_way_at_a_drop_ends_with_it_unserved() {
    // load() at 60 s, drop_collection() half a second later, while load() still
    // places copies: the load never completes.
    let (s, _) = created_then("ddl-load-dropped", "60s", "drop = \"60.5s\"", "");
    let d = &s["ddl"];
    assert!(f(&s, "ddl.dropped_s") < 61.0, "{d}");
    assert!(d["loaded_s"].is_null(), "{d}");
    let error = d["error"].as_str().unwrap_or_default();
    assert!(error.contains("dropped"), "{d}");
    // Writes in flight at the drop get no new segment, and the channels' delete
    // buffers go with the data nodes' watch.
    assert_eq!(f(&s, "segments.growing_at_end"), 0.0, "{}", s["segments"]);
}

#[test]
fn the_background_steps_of_a_drop_wait_for_an_etcd_quorum() {
    // Two of the three etcd members die just after the drop took effect (300.0017 s)
    // and come back at 400 s: the index drop and the segments' dropped mark are etcd
    // writes, so they wait for the quorum.
    let faults = "\n[[fault]]\nkind = \"process_crash\"\nservice = \"etcd1\"\nat = \"300.0018s\"\nrecover_at = \"400s\"\n\n[[fault]]\nkind = \"process_crash\"\nservice = \"etcd2\"\nat = \"300.0018s\"\nrecover_at = \"400s\"\n";
    let out = temp_dir("ddl-drop-etcd");
    let exp = experiment_with("experiments/drop-collection.toml", &out, "exp.toml", |t| {
        t + faults
    });
    run_to(exp.to_str().unwrap(), DROP, &out.join("run"));
    let ev = frame(&out.join("run"), "events.parquet");
    let _ = std::fs::remove_dir_all(&out);
    let restored = event_times(&ev, "etcd_quorum_restored");
    assert!(!restored.is_empty());
    for step in ["index_dropped", "segments_dropped"] {
        let at = event_times(&ev, step);
        assert!(
            at.len() == 1 && at[0] > restored[0],
            "{step} at {at:?}, quorum back at {restored:?}"
        );
    }
}

#[test]
fn a_drop_leaves_no_delete_buffered() {
    let deletes =
        "\n[workload.delete]\nrows = 500_000\nrate = 1_000\nbatch_rows = 1_000\nstart = \"60s\"\n";
    let out = temp_dir("ddl-drop-deletes");
    let exp = experiment_with("experiments/drop-collection.toml", &out, "exp.toml", |t| {
        t + deletes
    });
    let s = run_to(exp.to_str().unwrap(), DROP, &out.join("run"));
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(
        f(&s, "deletes.rows_buffered_at_end"),
        0.0,
        "{}",
        s["deletes"]
    );
    assert!(f(&s, "requests.delete.failed") > 100.0);
}

#[test]
fn failures_before_the_create_are_not_charged_to_a_fault_beside_it() {
    // query5's host crashes at 10 s, 20 s before create_collection(): every search
    // before the create fails with "collection not found", by the application; the
    // fault is charged only from the create on.
    let crash = "\n[[fault]]\nkind = \"host_crash\"\nhost = \"query5\"\nat = \"10s\"\n";
    let (s, _) = created_then("ddl-create-beside-fault", "60s", "", crash);
    assert!(s["ddl"]["create_error"].is_null(), "{}", s["ddl"]);
    let created = f(&s, "ddl.created_s");
    let w = &s["faults"][0];
    assert!(
        w["first_error_s"].as_f64().is_none_or(|t| t >= created),
        "the fault was charged before the create: {w}"
    );
    assert!(
        f(&s, "requests.search.failed") > 300.0,
        "{}",
        s["requests"]["search"]
    );
}
