//! The users' nginx in front of MinIO (reference §1.10, §2.9): `least_conn` per
//! worker, passive failure detection (`max_fails`, `fail_timeout`), connects to a
//! dead host that wait, and its CPU on the managers.

use polars::prelude::*;

use crate::common::{assert_same_outputs, experiment_with, f, frame, run_to, temp_dir};

/// minio-node-failure with only its first fault (minio1's host dies at 60 s and stays
/// down), or that fault turned into `kill` of the MinIO process.
fn one_minio_down(dir: &std::path::Path, process_only: bool) -> std::path::PathBuf {
    experiment_with(
        "experiments/minio-node-failure.toml",
        dir,
        "one-minio-down.toml",
        |t| {
            let i = t
                .find("[[fault]]\nkind = \"host_crash\"\nhost = \"minio2\"")
                .unwrap();
            let j = t.find("# Inserts never fail").unwrap();
            let t = format!("{}{}", &t[..i], &t[j..]).replace(
                "expr = \"ingest.flushed_s > 240\"",
                "expr = \"ingest.flushed_s > 0\"",
            );
            if process_only {
                t.replace(
                    "kind = \"host_crash\"\nhost = \"minio1\"",
                    "kind = \"process_crash\"\nservice = \"minio1\"",
                )
            } else {
                t
            }
        },
    )
}

fn run_one_down(tag: &str, process_only: bool, sets: &[&str]) -> serde_json::Value {
    let dir = temp_dir(tag);
    let exp = one_minio_down(&dir, process_only);
    let mut all = vec!["duration=20m"];
    all.extend_from_slice(sets);
    let s = run_to(exp.to_str().unwrap(), &all, &dir.join("run"));
    let _ = std::fs::remove_dir_all(&dir);
    s
}

#[test]
fn with_one_minio_host_crashed_builds_and_loads_complete_and_the_wait_is_bounded() {
    let s = run_one_down("nginx-crash", false, &[]);
    // reference §2.9: 6 of 8 drives remain, above both quorums: every segment is
    // flushed, indexed and loaded.
    let created = f(&s, "segments.created");
    assert_eq!(f(&s, "ingest.rows_flushed"), 2_600_000.0);
    assert_eq!(f(&s, "segments.indexed"), created);
    assert_eq!(f(&s, "segments.loaded"), created);
    assert_eq!(f(&s, "segments.growing_at_end"), 0.0);
    let n = |k: &str| f(&s, &format!("storage.nginx.{k}"));
    // A crashed host answers no SYN: each request nginx sent there waited for the
    // kernel to give up (127 s, before proxy_connect_timeout's 300 s) and went on,
    // until Swarm declared the node down (reference §2.10, about 15 s): from then on
    // the service's virtual IP has no task and connects are refused at once.
    let delayed = n("requests_delayed");
    assert!(delayed > 0.0, "no request met the dead server");
    assert!((n("connect_wait_s") - 127.0 * delayed).abs() < 1e-6);
    assert_eq!(n("no_live_upstream"), 0.0);
    assert!(n("attempts_failed") > delayed, "no connect refused at once");
    // The rule: each of the 16 workers (2 tasks x 8 cores) tries the dead server
    // once before it knows, then at most once per fail_timeout (10 s), and only
    // until Swarm's detection (15.5 s after the crash): at most two waits a worker.
    // Connects that kept hanging after the detection made 47.
    assert!(delayed <= 16.0 * 2.0, "{delayed} delayed");
    // Taking the rule away costs more failed attempts, a longer fail_timeout fewer.
    let never = run_one_down("nginx-crash-nofail", false, &["nginx.max_fails=0"]);
    let longer = run_one_down("nginx-crash-60s", false, &["nginx.fail_timeout=60s"]);
    let failed = n("attempts_failed");
    let a = |s: &serde_json::Value| f(s, "storage.nginx.attempts_failed");
    assert!(a(&never) > failed, "max_fails=0: {} vs {failed}", a(&never));
    assert!(
        a(&longer) < failed,
        "fail_timeout=60s: {} vs {failed}",
        a(&longer)
    );
}

#[test]
fn a_killed_minio_process_refuses_connects_and_costs_no_wait() {
    let s = run_one_down("nginx-kill", true, &[]);
    let n = |k: &str| f(&s, &format!("storage.nginx.{k}"));
    // The host runs and answers with a reset: the attempt fails at once and the
    // request goes to the next server.
    assert!(n("attempts_failed") > 0.0);
    assert_eq!(n("requests_delayed"), 0.0);
    assert_eq!(n("connect_wait_s"), 0.0);
    assert_eq!(f(&s, "segments.indexed"), f(&s, "segments.created"));
}

/// minio-node-failure with its faults replaced by `fault` (ingest at 20k rows/s into
/// the seed cluster, whose Milvus processes reach MinIO through the nginx tasks on
/// the managers).
fn nginx_fault(tag: &str, fault: &str, sets: &[&str]) -> serde_json::Value {
    let dir = temp_dir(tag);
    let exp = experiment_with(
        "experiments/minio-node-failure.toml",
        &dir,
        "nginx-fault.toml",
        |t| {
            let i = t.find("[[fault]]").unwrap();
            let j = t.find("# Inserts never fail").unwrap();
            format!("{}{fault}\n\n{}", &t[..i], &t[j..]).replace(
                "expr = \"ingest.flushed_s > 240\"",
                "expr = \"ingest.flushed_s > 0\"",
            )
        },
    );
    let s = run_to(exp.to_str().unwrap(), sets, &dir.join("run"));
    let _ = std::fs::remove_dir_all(&dir);
    s
}

const MANAGER1_CRASH: &str = "[[fault]]\nkind = \"host_crash\"\nhost = \"manager1\"\nat = \"60s\"";

#[test]
fn a_crashed_nginx_host_costs_dial_timeouts_only_until_swarm_declares_it_down() {
    // manager1 runs one of the two minio-proxy tasks. Until Swarm declares its node
    // down (reference §2.10: 15.5 s) the task stays in the virtual IP, and the
    // client hosts' IPVS sends every other new connection there: it answers
    // nothing, and the MinIO client gives up after its 30 s dial timeout and
    // connects again, to the live task.
    let s = nginx_fault("nginx-host-crash", MANAGER1_CRASH, &[]);
    let n = |s: &serde_json::Value, k: &str| f(s, &format!("storage.nginx.{k}"));
    let timed_out = n(&s, "client_connects_timed_out");
    assert!(timed_out > 0.0, "no connect met the dead nginx task");
    assert!((n(&s, "client_connect_wait_s") - 30.0 * timed_out).abs() < 1e-6);
    assert_eq!(s["faults"][0]["detected_at_s"].as_f64(), Some(75.5));
    // The dial timeout is a knob.
    let short = nginx_fault(
        "nginx-host-crash-10s",
        MANAGER1_CRASH,
        &["failover.object_client_dial_timeout=10s"],
    );
    let t = n(&short, "client_connects_timed_out");
    assert!((n(&short, "client_connect_wait_s") - 10.0 * t).abs() < 1e-6);
    // Nothing is lost, everything is built and loaded; the hiccup is bounded: one
    // dial timeout outlasts the detection window, so a chain of transfers waits at
    // most once.
    let zero = nginx_fault(
        "nginx-host-crash-0s",
        MANAGER1_CRASH,
        &["failover.object_client_dial_timeout=0s"],
    );
    for run in [&s, &short, &zero] {
        assert_eq!(f(run, "acked_rows_lost"), 0.0);
        assert_eq!(f(run, "ingest.rows_flushed"), 2_600_000.0);
        assert_eq!(f(run, "segments.indexed"), f(run, "segments.created"));
        assert_eq!(f(run, "segments.growing_at_end"), 0.0);
    }
    let later = f(&s, "ingest.indexed_s") - f(&zero, "ingest.indexed_s");
    assert!(
        (0.0..=31.0).contains(&later),
        "index builds ended {later} s later with the 30 s dial timeout"
    );
}

#[test]
fn a_killed_nginx_process_refuses_connects_and_costs_no_dial_wait() {
    // The host runs: a connect to the dead task is refused at once.
    let kill = "[[fault]]\nkind = \"process_crash\"\ntask = \"minio-proxy.1\"\nat = \"60s\"";
    let s = nginx_fault("nginx-kill", kill, &[]);
    assert_eq!(f(&s, "storage.nginx.client_connects_timed_out"), 0.0);
    assert_eq!(f(&s, "storage.nginx.client_connect_wait_s"), 0.0);
    assert_eq!(f(&s, "segments.indexed"), f(&s, "segments.created"));
    assert_eq!(f(&s, "acked_rows_lost"), 0.0);
}

/// Bytes per (host, service) summed over the run for column `col`.
fn total(ts: &DataFrame, host: &str, service: &str, col: &str) -> f64 {
    let h = ts.column("host").unwrap().str().unwrap();
    let svc = ts.column("service").unwrap().str().unwrap();
    let v = ts.column(col).unwrap().u64().unwrap();
    (0..ts.height())
        .filter(|&i| h.get(i) == Some(host) && svc.get(i) == Some(service))
        .map(|i| v.get(i).unwrap_or(0) as f64)
        .sum()
}

fn cpu_mean(ts: &DataFrame, host: &str, service: &str) -> f64 {
    let h = ts.column("host").unwrap().str().unwrap();
    let svc = ts.column("service").unwrap().str().unwrap();
    let v = ts.column("cpu_util").unwrap().f64().unwrap();
    (0..ts.height())
        .filter(|&i| h.get(i) == Some(host) && svc.get(i) == Some(service))
        .map(|i| v.get(i).unwrap_or(0.0))
        .sum()
}

/// node-failure shortened: query3's 12 segments (25.8 GB) are reloaded from MinIO
/// at once, 24 concurrent transfers.
fn reload(tag: &str, sets: &[&str]) -> (serde_json::Value, DataFrame) {
    let out = temp_dir(tag);
    let mut all = vec!["duration=15m", "fault.0.recover_at=14m"];
    all.extend_from_slice(sets);
    let s = run_to("experiments/node-failure.toml", &all, &out);
    let ts = frame(&out, "timeseries.parquet");
    let _ = std::fs::remove_dir_all(&out);
    (s, ts)
}

#[test]
fn least_conn_spreads_concurrent_transfers_over_the_four_servers() {
    // One worker per task: each sees every transfer of its task in flight.
    let (s, ts) = reload("nginx-spread", &["nginx.worker_processes=1"]);
    let per: Vec<f64> = (1..=4)
        .map(|k| f(&s, &format!("storage.nginx.requests_per_server.minio{k}")))
        .collect();
    assert_eq!(per.iter().sum::<f64>(), f(&s, "storage.nginx.requests"));
    let mean = per.iter().sum::<f64>() / 4.0;
    for (k, &p) in per.iter().enumerate() {
        assert!(
            (p - mean).abs() <= 0.25 * mean,
            "minio{}: {p} of {per:?}",
            k + 1
        );
    }
    // The coordinator sends the whole object to nginx, the others their shards to
    // it: every server sends alike, and reads alike from its disks.
    let tx: Vec<f64> = (1..=4)
        .map(|k| {
            total(
                &ts,
                &format!("minio{k}"),
                &format!("minio{k}"),
                "net_tx_bytes",
            )
        })
        .collect();
    let disk: Vec<f64> = (1..=4)
        .map(|k| {
            total(
                &ts,
                &format!("minio{k}"),
                &format!("minio{k}"),
                "disk_read_bytes",
            )
        })
        .collect();
    let spread = |v: &[f64]| {
        v.iter().cloned().fold(f64::MIN, f64::max) / v.iter().cloned().fold(f64::MAX, f64::min)
    };
    assert!(spread(&tx) < 1.3, "NIC tx per MinIO host {tx:?}");
    assert!(spread(&disk) < 1.01, "disk reads per MinIO host {disk:?}");
    // Each coordinator's NIC carries its objects plus the shards it gathers: more
    // than the disk reads.
    assert!(tx.iter().sum::<f64>() > 1.5 * disk.iter().sum::<f64>());
    // The users' file: `worker_processes auto` and no `zone`, so 16 workers each
    // start their round robin at minio1 and see few transfers in flight: minio1
    // coordinates the most.
    let (d, _) = reload("nginx-spread-auto", &[]);
    let first = f(&d, "storage.nginx.requests_per_server.minio1");
    let last = f(&d, "storage.nginx.requests_per_server.minio4");
    assert!(first > last, "minio1 {first}, minio4 {last}");
}

#[test]
fn nginx_cpu_shows_on_its_manager_and_follows_its_knobs() {
    let (_, ts) = reload("nginx-cpu", &[]);
    let (_, ts0) = reload(
        "nginx-cpu0",
        &["nginx.cpu_ns_per_byte=0", "nginx.cpu_us_per_request=0"],
    );
    let (_, ts4) = reload("nginx-cpu4", &["nginx.cpu_ns_per_byte=2"]);
    let sum = |ts: &DataFrame| {
        ["manager1", "manager2", "manager3"]
            .iter()
            .map(|h| cpu_mean(ts, h, "minio-proxy"))
            .sum::<f64>()
    };
    let (base, none, more) = (sum(&ts), sum(&ts0), sum(&ts4));
    assert!(base > 0.0, "no nginx CPU on the managers");
    assert_eq!(none, 0.0);
    // 25.8 GB at 2 ns/byte instead of 0.5: about four times the CPU.
    assert!(more > 3.5 * base && more < 4.1 * base, "{more} vs {base}");
}

#[test]
fn runs_with_a_dead_minio_host_are_deterministic() {
    let dir = temp_dir("nginx-det");
    let exp = one_minio_down(&dir, false);
    let sets = ["duration=8m"];
    run_to(exp.to_str().unwrap(), &sets, &dir.join("a"));
    run_to(exp.to_str().unwrap(), &sets, &dir.join("b"));
    assert_same_outputs(&dir.join("a"), &dir.join("b"), "one MinIO host down");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_nginx_knobs_are_refused_with_their_key() {
    let bad = [
        ("nginx.balance=fastest", "balance"),
        ("nginx.max_fails=-1", "max_fails"),
        ("nginx.worker_processes=0", "worker_processes"),
        ("nginx.proxy_connect_timeout=0s", "proxy_connect_timeout"),
    ];
    for (set, key) in bad {
        let e = simctl::run::prepare(
            &crate::common::repo("experiments/quickstart.toml"),
            &[set.to_string()],
        )
        .err()
        .unwrap_or_else(|| panic!("{set} was accepted"))
        .to_string();
        assert!(e.contains(key), "{set}: {e}");
    }
    // Every bad key is reported at once, not only the first.
    let e = simctl::run::prepare(
        &crate::common::repo("experiments/quickstart.toml"),
        &["nginx.balance=fastest".into(), "nginx.max_fails=-1".into()],
    )
    .map(|_| ())
    .expect_err("both were accepted")
    .to_string();
    assert!(e.contains("balance") && e.contains("max_fails"), "{e}");
}
