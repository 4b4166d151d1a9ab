//! `simctl validate` and `simctl run` on broken inputs: exit code 2, a
//! `file:line:column: error:` message at the defect's line, a `hint:`, and no output
//! directory left behind.
//!
//! The fixtures live in `tests/fixtures/bad/`; each has one defect, named by its file
//! name, and the experiments among them are `control-ok.toml` with one change.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const FIXTURES: &str = "tests/fixtures/bad";

fn manifest_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs simctl in the crate root, so paths in its messages are relative to it.
fn simctl(args: &[&str]) -> Output {
    simctl_in(manifest_dir(), args)
}

fn simctl_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_simctl"))
        .args(args)
        .current_dir(dir)
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("simctl starts")
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One broken fixture and what `simctl validate` must say about it.
struct Case {
    /// File name under tests/fixtures/bad.
    file: &'static str,
    /// 1-based line the error must point at.
    line: usize,
    /// Text that line of the fixture holds: the defect itself. Checked against the
    /// file so the expected line cannot drift from the fixture.
    defect: &'static str,
    /// Substring of the error message.
    message: &'static str,
}

const CASES: &[Case] = &[
    Case {
        file: "exp-client-host-unknown.toml",
        line: 24,
        defect: "client_host = \"laptop\"",
        message: "workload.client_host \"laptop\" is not a host of the topology",
    },
    // ---- the application's DDL calls ----
    Case {
        file: "exp-ddl-with-loaded-rows.toml",
        line: 11,
        defect: "rows = 1_000_000",
        message: "with a deferred create_index or load",
    },
    Case {
        file: "exp-ddl-load-before-index.toml",
        line: 30,
        defect: "load = \"5s\"",
        message: "workload.ddl.load comes before create_index",
    },
    Case {
        file: "exp-ddl-unknown-when.toml",
        line: 26,
        defect: "create_index = \"later\"",
        message: "workload.ddl.create_index = \"later\" is not understood",
    },
    Case {
        file: "exp-nginx-without-nginx.toml",
        line: 25,
        defect: "[nginx]",
        message: "the topology runs no nginx in front of MinIO",
    },
    Case {
        file: "exp-ddl-reload-without-release.toml",
        line: 26,
        defect: "reload = \"6s\"",
        message: "workload.ddl.reload without a release",
    },
    Case {
        file: "exp-ddl-reload-before-release.toml",
        line: 27,
        defect: "reload = \"5s\"",
        message: "does not come after the release at 6.000s",
    },
    Case {
        file: "exp-ddl-release-after-end.toml",
        line: 26,
        defect: "release = \"20s\"",
        message: "workload.ddl.release at 20.000s comes after the run ends",
    },
    Case {
        file: "exp-ddl-release-before-load.toml",
        line: 31,
        defect: "release = \"5s\"",
        message: "workload.ddl.release at 5.000s does not come after the collection's load()",
    },
    Case {
        file: "exp-ddl-reload-after-drop.toml",
        line: 27,
        defect: "reload = \"7s\"",
        message: "workload.ddl.reload at 7.000s does not come before the drop at 6.000s",
    },
    Case {
        file: "exp-ddl-drop-unknown-when.toml",
        line: 26,
        defect: "drop = \"soon\"",
        message: "workload.ddl.drop = \"soon\" is not understood",
    },
    Case {
        file: "exp-ddl-drop-before-load.toml",
        line: 30,
        defect: "load = \"after_index\"",
        message: "workload.ddl.load waits for a point of the run that may come after the drop at 6.000s",
    },
    Case {
        file: "exp-ddl-create-with-rows.toml",
        line: 11,
        defect: "rows = 1_000_000",
        message: "collection.rows = 1000000 with create = \"2.000s\"",
    },
    Case {
        file: "exp-ddl-index-before-create.toml",
        line: 29,
        defect: "create_index = \"4s\"",
        message: "workload.ddl.create_index at 4.000s does not come after the create at 6.000s",
    },
    Case {
        file: "fault-load-replicas-before-load.toml",
        line: 41,
        defect: "at = \"4s\"",
        message: "targets a collection not loaded yet",
    },
    Case {
        file: "fault-load-replicas-after-drop.toml",
        line: 42,
        defect: "at = \"8s\"",
        message: "targets a collection dropped at 5.000s",
    },
    // ---- the write path ----
    Case {
        file: "exp-insert-without-write-path.toml",
        line: 27,
        defect: "rows = 100_000",
        message: "lacks: 1 datacoord (seals and flushes segments; it has 0), 1 datanode",
    },
    Case {
        file: "exp-delete-without-write-path.toml",
        line: 27,
        defect: "rows = 100_000",
        message: "[workload.delete] needs a write path",
    },
    Case {
        file: "exp-upsert-without-write-path.toml",
        line: 27,
        defect: "rows = 100_000",
        message: "[workload.upsert] needs a write path",
    },
    Case {
        file: "exp-upsert-unknown-key-flush.toml",
        line: 29,
        defect: "flush = true",
        message: "unknown field `flush`",
    },
    Case {
        file: "exp-upsert-rate-and-clients.toml",
        line: 27,
        defect: "rate = 1_000",
        message: "set either rate (rows per second) or clients (closed loop) under [workload.upsert]",
    },
    Case {
        file: "exp-upsert-empty-collection.toml",
        line: 11,
        defect: "rows = 0",
        message: "the collection has no rows (rows = 0), and [workload.upsert] replaces rows by key",
    },
    Case {
        file: "exp-delete-empty-collection.toml",
        line: 11,
        defect: "rows = 0",
        message: "the collection has no rows (rows = 0), and [workload.delete] deletes rows",
    },
    Case {
        file: "exp-delete-by-unknown.toml",
        line: 29,
        defect: "by = \"filter\"",
        message: "workload.delete.by is \"filter\"",
    },
    Case {
        file: "exp-query-without-rate.toml",
        line: 26,
        defect: "[workload.query]",
        message: "[workload.query] has neither qps nor clients",
    },
    Case {
        file: "exp-query-too-many-ids.toml",
        line: 28,
        defect: "ids = 20_000",
        message: "workload.query.ids is 20000, outside 1..=16384",
    },
    Case {
        file: "exp-insert-batch-too-large.toml",
        line: 27,
        defect: "batch_rows = 200_000",
        message: "outside 1..=129055 rows",
    },
    // ---- topologies ----
    Case {
        file: "topo-standalone-with-querynode.toml",
        line: 24,
        defect: "name = \"query1\"",
        message: "service \"query1\" is a cluster-mode querynode, but this topology runs Milvus standalone \"milvus\"",
    },
    Case {
        file: "topo-standalone-two-hosts.toml",
        line: 26,
        defect: "name = \"milvus\"",
        message: "standalone \"milvus\" could run on 2 hosts (box1, box2)",
    },
    Case {
        file: "topo-standalone-kind-typo.toml",
        line: 21,
        defect: "kind = \"standalon\"",
        message: "unknown service kind \"standalon\"",
    },
    Case {
        file: "fault-standalone-one-role.toml",
        line: 21,
        defect: "service = \"standalone-querynode\"",
        message: "is one role of Milvus standalone \"standalone\"",
    },
    Case {
        file: "topo-bad-memory-unit.toml",
        line: 9,
        defect: "memory = \"64GIB\"",
        message: "invalid size \"64GIB\"",
    },
    Case {
        file: "topo-bad-bandwidth-unit.toml",
        line: 11,
        defect: "nic = \"10G\"",
        message: "invalid bandwidth \"10G\"",
    },
    Case {
        file: "topo-class-unknown-key.toml",
        line: 7,
        defect: "threads = 16",
        message: "unknown field `threads`",
    },
    Case {
        file: "topo-disk-read-latency-zero.toml",
        line: 12,
        defect: "read_latency = \"0us\"",
        message: "class \"query\" has a disk read latency of 0 us",
    },
    Case {
        file: "topo-background-all-cores.toml",
        line: 7,
        defect: "background_cores = 4.0",
        message: "class \"query\" has 4 background cores of 4",
    },
    Case {
        file: "topo-search-server-cpu-seconds.toml",
        line: 7,
        defect: "search_server_cpu = \"1.5s\"",
        message: "class \"query\" has search_server_cpu = 1500 ms",
    },
    Case {
        file: "topo-zero-cores.toml",
        line: 6,
        defect: "cores = 0",
        message: "class \"query\" has 0 cores",
    },
    Case {
        file: "topo-malformed-toml.toml",
        line: 16,
        defect: "address = \"10.0.0.1",
        message: "invalid basic string",
    },
    Case {
        file: "topo-duplicate-host-name.toml",
        line: 22,
        defect: "name = \"query1\"",
        message: "host \"query1\" is declared twice",
    },
    Case {
        file: "topo-duplicate-address.toml",
        line: 23,
        defect: "address = \"10.0.0.1\"",
        message: "address 10.0.0.1 of host \"manager1\" is already used",
    },
    Case {
        file: "topo-bad-address.toml",
        line: 23,
        defect: "address = \"10.0.0.256\"",
        message: "not an IP address",
    },
    Case {
        file: "topo-host-unknown-class.toml",
        line: 24,
        defect: "class = \"qeury\"",
        message: "uses unknown class \"qeury\"",
    },
    Case {
        file: "topo-constraint-matches-no-host.toml",
        line: 30,
        defect: "node.labels.query3==true",
        message: "constraint node.labels.query3==true matches no host",
    },
    Case {
        file: "topo-unsupported-constraint-attribute.toml",
        line: 35,
        defect: "node.platform.os==linux",
        message: "constraint attribute \"node.platform.os\" is not supported",
    },
    Case {
        file: "topo-global-with-replicas.toml",
        line: 36,
        defect: "mode = \"global\"",
        message: "sets both replicas and mode = \"global\"",
    },
    // ---- experiments ----
    Case {
        file: "exp-malformed-toml.toml",
        line: 12,
        defect: "dim 128",
        message: "expected `=`",
    },
    Case {
        file: "exp-missing-topology.toml",
        line: 5,
        defect: "topology = \"no-such-topology.toml\"",
        message: "no-such-topology.toml: no such file",
    },
    Case {
        file: "exp-bad-duration.toml",
        line: 6,
        defect: "duration = \"10 minutes\"",
        message: "invalid duration \"10 minutes\"",
    },
    Case {
        file: "fault-unknown-host.toml",
        line: 30,
        defect: "host = \"query3\"",
        message: "there is no host \"query3\" in the topology",
    },
    Case {
        file: "fault-scale-without-replicas.toml",
        line: 28,
        defect: "kind = \"scale_service\"",
        message: "a scale_service needs `replicas`",
    },
    Case {
        file: "fault-scale-coordinator.toml",
        line: 30,
        defect: "replicas = 2",
        message:
            "this release scales querynode, indexnode, proxy services; \"rootcoord\" is a rootcoord",
    },
    Case {
        file: "fault-crash-with-replicas.toml",
        line: 30,
        defect: "replicas = 2",
        message: "a process_crash takes no `replicas`",
    },
    Case {
        file: "fault-scale-with-duration.toml",
        line: 32,
        defect: "duration = \"2s\"",
        message: "it takes no duration or recover_at",
    },
    Case {
        file: "fault-load-replicas-exceed-query-nodes.toml",
        line: 29,
        defect: "replicas = 3",
        message: "replicas = 3 is out of range: the topology has 2 query node(s)",
    },
    Case {
        file: "fault-release-first-on-crash.toml",
        line: 30,
        defect: "release_first = true",
        message: "a process_crash takes no `release_first`",
    },
    Case {
        file: "fault-load-replicas-not-more.toml",
        line: 35,
        defect: "replicas = 2",
        message: "the collection already has 2 replica(s); this release models loading more, not fewer",
    },
    Case {
        file: "fault-load-replicas-release-first-with-upserts.toml",
        line: 33,
        defect: "kind = \"load_replicas\"",
        message: "a load_replicas with release_first is not modelled together with an insert or upsert workload",
    },
    Case {
        file: "fault-load-replicas-with-host.toml",
        line: 29,
        defect: "host = \"query1\"",
        message: "a load_replicas takes no `host`",
    },
    Case {
        file: "fault-unknown-service.toml",
        line: 30,
        defect: "service = \"querynode3\"",
        message: "there is no service \"querynode3\"",
    },
    Case {
        file: "fault-crash-targets-service.toml",
        line: 30,
        defect: "service = \"querynode1\"",
        message: "a host_crash targets a host, not a service",
    },
    Case {
        file: "fault-after-end.toml",
        line: 31,
        defect: "at = \"20s\"",
        message: "comes after the run ends",
    },
    Case {
        file: "fault-partition-unknown-host.toml",
        line: 30,
        defect: "hosts = [\"query1\", \"query9\"]",
        message: "there is no host \"query9\" in the topology",
    },
    Case {
        file: "fault-partition-empty-side.toml",
        line: 31,
        defect: "other_side = []",
        message: "`other_side` is empty",
    },
    Case {
        file: "fault-partition-overlapping-sides.toml",
        line: 31,
        defect: "other_side = [\"coord1\", \"query2\"]",
        message: "\"query2\" is on both sides",
    },
    Case {
        file: "fault-degradation-bandwidth-factor-out-of-range.toml",
        line: 31,
        defect: "bandwidth_factor = 1.5",
        message: "bandwidth_factor 1.5 is out of range",
    },
    Case {
        file: "fault-degradation-loss-as-percent.toml",
        line: 32,
        defect: "loss = 5",
        message: "loss 5 is out of range",
    },
    Case {
        file: "fault-slow-disk-factor-out-of-range.toml",
        line: 31,
        defect: "factor = 0.5",
        message: "factor 0.5 is out of range",
    },
    Case {
        file: "fault-disk-full-without-writer.toml",
        line: 29,
        defect: "host = \"query1\"",
        message: "runs no bookie or MinIO server, the disks this release writes to",
    },
    Case {
        file: "fault-slow-disk-without-minio.toml",
        line: 30,
        defect: "host = \"query1\"",
        message: "runs no MinIO server",
    },
    Case {
        file: "fault-nic-down-takes-no-other-side.toml",
        line: 31,
        defect: "other_side = [\"coord1\"]",
        message: "a nic_down takes no `other_side`",
    },
    Case {
        file: "fault-unknown-kind.toml",
        line: 29,
        defect: "kind = \"host_crsh\"",
        message: "unknown fault kind \"host_crsh\"",
    },
    Case {
        file: "exp-assert-absent-section.toml",
        line: 31,
        defect: "expr = \"upserts.live_rows_at_end >= 1000000\"",
        message: "only by an experiment with a [workload.upsert] table",
    },
    Case {
        file: "fault-unknown-assert-index.toml",
        line: 34,
        defect: "expr = \"faults.1.error_window_s < 10\"",
        message: "the experiment has 1 fault(s)",
    },
    Case {
        file: "exp-warmup-not-shorter.toml",
        line: 7,
        defect: "warmup = \"10s\"",
        message: "is not shorter than the duration",
    },
    Case {
        file: "exp-unknown-key-serch-qps.toml",
        line: 20,
        defect: "serch_qps = 100",
        message: "unknown field `serch_qps`",
    },
    Case {
        file: "exp-negative-retries.toml",
        line: 21,
        defect: "retries = -1",
        message: "workload.retries = -1 is out of range",
    },
    Case {
        file: "exp-negative-search-qps.toml",
        line: 20,
        defect: "search_qps = -100",
        message: "search_qps is -100",
    },
    Case {
        file: "exp-qps-and-clients.toml",
        line: 20,
        defect: "search_qps = 100",
        message: "not both",
    },
    Case {
        file: "exp-shards-17.toml",
        line: 16,
        defect: "shards = 17",
        message: "shards is 17, outside 1..=16",
    },
    // The error for a missing ef points at the index that needs it.
    Case {
        file: "exp-hnsw-without-ef.toml",
        line: 14,
        defect: "index = \"HNSW\"",
        message: "an HNSW collection needs workload.search_params.ef",
    },
    Case {
        file: "exp-ef-below-topk.toml",
        line: 23,
        defect: "ef = 5",
        message: "ef = 5 is smaller than topk = 10",
    },
    Case {
        file: "exp-unknown-milvus-key.toml",
        line: 26,
        defect: "\"proxy.maxTaskNumber\" = 512",
        message: "Milvus key \"proxy.maxTaskNumber\" is unknown or not modelled",
    },
    Case {
        file: "exp-unparseable-assertion.toml",
        line: 29,
        defect: "requests.search.failed is zero",
        message: "cannot read assertion",
    },
    // The load-guard error points at `rows`, the size that does not fit.
    Case {
        file: "exp-collection-does-not-fit.toml",
        line: 11,
        defect: "rows = 100_000_000",
        message: "the collection cannot be loaded",
    },
    // ---- DISKANN ----
    Case {
        file: "exp-diskann-without-enable-disk.toml",
        line: 14,
        defect: "index = \"DISKANN\"",
        message: "index DISKANN needs queryNode.enableDisk = true",
    },
    Case {
        file: "exp-diskann-search-list-below-topk.toml",
        line: 22,
        defect: "search_params = { search_list = 5 }",
        message: "search_list = 5 is smaller than topk = 10",
    },
    Case {
        file: "exp-diskann-disk-too-small.toml",
        line: 11,
        defect: "rows = 200_000_000",
        message: "the DISKANN index does not fit on query host query1",
    },
];

/// Asserts that `out` is a failed validation with exactly one error, at `file:line`,
/// whose message holds `message`, followed by a hint.
fn assert_rejected(what: &str, out: &Output, file: &str, line: usize, message: &str) {
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{what}: exit status {:?}, expected 2\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(
        !stdout.contains("ok:"),
        "{what}: reported ok on stdout:\n{stdout}"
    );
    assert!(
        !stderr.contains("panicked"),
        "{what}: simctl panicked:\n{stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    let errors: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].contains(": error: "))
        .collect();
    assert_eq!(
        errors.len(),
        1,
        "{what}: expected exactly one error (the fixture has one defect), got:\n{stderr}"
    );
    let err = lines[errors[0]];
    let prefix = format!("{file}:{line}:");
    assert!(
        err.starts_with(&prefix),
        "{what}: error should start with {prefix:?}, got:\n{err}"
    );
    // file:line:column: error: message, with a numeric column.
    let column = err[prefix.len()..]
        .split_once(": error: ")
        .map(|(c, _)| c)
        .unwrap_or("");
    assert!(
        !column.is_empty() && column.chars().all(|c| c.is_ascii_digit()),
        "{what}: no column in {err:?}"
    );
    assert!(
        err.contains(message),
        "{what}: message should contain {message:?}, got:\n{err}"
    );
    let hint = lines.get(errors[0] + 1).copied().unwrap_or("");
    assert!(
        hint.starts_with("  hint: ") && hint.len() > "  hint: ".len(),
        "{what}: the error should be followed by a hint line, got:\n{stderr}"
    );
}

#[test]
fn fixtures_name_their_defect_on_the_expected_line() {
    for case in CASES {
        let path = manifest_dir().join(FIXTURES).join(case.file);
        let source = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let at = source.lines().nth(case.line - 1).unwrap_or("");
        assert!(
            at.contains(case.defect),
            "{}: line {} is {at:?}, expected it to hold the defect {:?}",
            case.file,
            case.line,
            case.defect
        );
    }
    assert!(CASES.len() >= 14);
}

#[test]
fn validate_rejects_each_broken_fixture_at_its_line() {
    let mut failures = Vec::new();
    for case in CASES {
        let file = fixture(case.file);
        let out = simctl(&["validate", &file]);
        let result = std::panic::catch_unwind(|| {
            assert_rejected(case.file, &out, &file, case.line, case.message)
        });
        if let Err(e) = result {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures failed:\n\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n\n")
    );
}

#[test]
fn an_experiment_over_a_broken_topology_points_into_the_topology() {
    let out = simctl(&["validate", &fixture("exp-topology-broken.toml")]);
    assert_rejected(
        "exp-topology-broken.toml",
        &out,
        &fixture("topo-duplicate-host-name.toml"),
        22,
        "host \"query1\" is declared twice",
    );
}

#[test]
fn the_control_topology_and_experiment_validate() {
    let out = simctl(&[
        "validate",
        &fixture("small-topology.toml"),
        &fixture("control-ok.toml"),
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{stdout}\nstderr:\n{}",
        text(&out.stderr)
    );
    assert!(stdout.contains(&format!("ok: {}", fixture("small-topology.toml"))));
    assert!(stdout.contains(&format!("ok: {}", fixture("control-ok.toml"))));
}

#[test]
fn validate_checks_every_file_and_fails_if_any_is_bad() {
    let out = simctl(&[
        "validate",
        &fixture("control-ok.toml"),
        &fixture("exp-shards-17.toml"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains(&format!("ok: {}", fixture("control-ok.toml"))));
    assert!(text(&out.stderr).contains(&format!("{}:16:", fixture("exp-shards-17.toml"))));
}

/// What a folder holds.
fn entries(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("read temp dir")
        .map(|e| e.expect("dir entry").path())
        .collect()
}

#[test]
fn run_on_a_bad_experiment_exits_2_and_writes_nothing() {
    // One fails while loading, the other only when the collection is laid out.
    for (name, line) in [
        ("exp-shards-17.toml", 16),
        ("exp-collection-does-not-fit.toml", 11),
    ] {
        let tmp = crate::common::temp_dir("run-bad");
        let out_dir = tmp.join("out");
        let file = fixture(name);
        let out = simctl(&[
            "run",
            &file,
            "--out",
            out_dir.to_str().expect("utf-8 temp path"),
            "--quiet",
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: stderr:\n{stderr}");
        assert!(
            stderr.contains(&format!("{file}:{line}:")) && stderr.contains("\n  hint: "),
            "{name}: stderr:\n{stderr}"
        );
        assert!(!out_dir.exists(), "{name}: created {}", out_dir.display());
        assert!(
            entries(&tmp).is_empty(),
            "{name}: left files behind: {:?}",
            entries(&tmp)
        );
    }
}

#[test]
fn run_on_a_bad_experiment_without_out_creates_no_runs_folder() {
    // Without --out the default is runs/<name> under the working directory.
    let tmp = crate::common::temp_dir("run-default");
    let file = manifest_dir().join(FIXTURES).join("exp-shards-17.toml");
    let out = simctl_in(
        &tmp,
        &["run", file.to_str().expect("utf-8 path"), "--quiet"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        entries(&tmp).is_empty(),
        "left files behind: {:?}",
        entries(&tmp)
    );
}

#[test]
fn the_seed_topology_as_written_misses_etcd2() {
    let out = simctl(&["validate", "topologies/seed-26-hosts-as-written.toml"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    let i = lines
        .iter()
        .position(|l| l.contains(": error: "))
        .unwrap_or_else(|| panic!("no error line:\n{stderr}"));
    assert!(
        lines[i].starts_with("topologies/seed-26-hosts-as-written.toml:")
            && lines[i].contains("service \"etcd2\""),
        "{stderr}"
    );
    // The error points at the etcd2 constraint.
    let line: usize = lines[i].split(':').nth(1).unwrap().parse().unwrap();
    let source =
        std::fs::read_to_string(manifest_dir().join("topologies/seed-26-hosts-as-written.toml"))
            .unwrap();
    assert!(
        source
            .lines()
            .nth(line - 1)
            .unwrap_or("")
            .contains("node.labels.etcd2==true"),
        "line {line} is not the etcd2 constraint"
    );
    let hint = lines.get(i + 1).copied().unwrap_or("");
    assert!(
        hint.starts_with("  hint: ") && hint.contains("etcd3"),
        "the hint should point at the etcd3 label: {stderr}"
    );
}

#[test]
fn the_seed_topology_and_quickstart_validate() {
    let out = simctl(&[
        "validate",
        "topologies/seed-26-hosts.toml",
        "experiments/quickstart.toml",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
}

// ---- Known library bugs: what validate should do, ignored until fixed. ----

#[test]

fn too_many_replicas_point_at_replicas() {
    let file = fixture("exp-replicas-exceed-query-nodes.toml");
    let out = simctl(&["validate", &file]);
    assert_rejected(
        &file,
        &out,
        &file,
        17,
        "3 replicas need at least 3 query nodes",
    );
}

#[test]

fn an_experiment_with_no_proxy_task_is_rejected() {
    let file = fixture("exp-no-proxy-task.toml");
    let out = simctl(&["validate", &file]);
    assert_rejected(&file, &out, &file, 5, "proxy");
}

#[test]

fn a_zero_segment_size_is_rejected() {
    let file = fixture("exp-segment-maxsize-zero.toml");
    let out = simctl(&["validate", &file]);
    assert_rejected(&file, &out, &file, 26, "dataCoord.segment.maxSize");
}

#[test]

fn a_malformed_experiment_is_called_an_experiment() {
    let out = simctl(&["validate", &fixture("exp-malformed-toml.toml")]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("  hint: ") && stderr.contains("experiment file"),
        "{stderr}"
    );
}
