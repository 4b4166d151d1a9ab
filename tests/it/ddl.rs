//! The application's create_index() and load() (`[workload.ddl]`): an index created
//! after the ingest builds nothing before it, a collection loaded later serves no
//! search before, and a load() that comes before the index fails as in Milvus 2.3.

use crate::common::{event_times, f, frame, run_edited, run_to, temp_dir};

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
