//! Docker Swarm as the users run it: service fields of topologies (restart policy,
//! health checks, host-mode ports), `simctl import-stack`, the start order and
//! `simctl explain --dot`.

use std::path::{Path, PathBuf};

use crate::common::{repo, simctl, temp_dir, Scratch};
use simctl::scenario::topology::{RestartCondition, ServiceKind};

const SMALL_HOSTS: &str = "tests/fixtures/stacks/small-hosts.toml";

/// The small hosts file with `services` appended, written to a fresh directory.
/// Returns the directory (removed when dropped), the file and the first service's line.
fn small_topology(name: &str, services: &str) -> (Scratch, PathBuf, usize) {
    let hosts = std::fs::read_to_string(repo(SMALL_HOSTS)).unwrap();
    let first_service_line = hosts.lines().count() + 1;
    let dir = temp_dir(name);
    let path = dir.join("topology.toml");
    std::fs::write(&path, format!("{hosts}{services}")).unwrap();
    (dir, path, first_service_line)
}

fn load_err(path: &Path) -> simctl::scenario::error::InputError {
    let e = simctl::scenario::load_topology(path, None).expect_err("the topology is invalid");
    assert_eq!(e.0.len(), 1, "{e}");
    e.0[0].clone()
}

#[test]
fn service_fields_parse_with_defaults() {
    let (_dir, path, _) = small_topology(
        "fields-ok",
        r#"
[[service]]
name = "milvus-proxy"
kind = "proxy"
replicas = 2
constraints = ["node.role==manager"]
restart_policy = { condition = "on-failure", delay = "60s", max_attempts = 10, window = "120s" }
healthcheck = { interval = "20s", timeout = "5s", retries = 5 }
ports = [19530, 9091]

[[service]]
name = "etcd1"
kind = "etcd"
constraints = ["node.labels.etcd1==true"]
"#,
    );
    let t = simctl::scenario::load_topology(&path, None).unwrap_or_else(|e| panic!("{e}"));
    let proxy = &t.services[0];
    assert_eq!(proxy.restart_policy.condition, RestartCondition::OnFailure);
    assert_eq!(proxy.restart_policy.delay.as_secs_f64(), 60.0);
    assert_eq!(proxy.restart_policy.max_attempts, Some(10));
    let hc = proxy.healthcheck.as_ref().unwrap();
    assert_eq!(hc.retries, 5);
    // reference §2.10: unhealthy after about 100 s.
    assert_eq!(hc.unhealthy_after().as_secs_f64(), 100.0);
    assert_eq!(proxy.ports, [19530, 9091]);
    assert_eq!(proxy.stop_grace_period.as_secs_f64(), 10.0);
    let etcd = &t.services[1];
    assert_eq!(etcd.kind, ServiceKind::Etcd);
    assert_eq!(etcd.restart_policy.condition, RestartCondition::Any);
    assert!(etcd.healthcheck.is_none());
}

#[test]
fn bad_service_fields_are_located() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "restart_policy = { condition = \"always\" }",
            "restart condition \"always\"",
            "on-failure",
        ),
        (
            "healthcheck = { interval = \"20s\", retry = 5 }",
            "unknown field `retry`",
            "",
        ),
        ("ports = [70000]", "publishes port 70000", "65535"),
        ("depends_on = [\"etcd\"]", "depends on \"etcd\"", ""),
        (
            "healthcheck = { interval = \"0s\" }",
            "healthcheck interval of 0",
            "positive",
        ),
    ];
    for (i, (defect, message, hint)) in cases.iter().enumerate() {
        let (_dir, path, first) = small_topology(
            &format!("fields-bad-{i}"),
            &format!(
                "\n[[service]]\nname = \"etcd1\"\nkind = \"etcd\"\nconstraints = [\"node.labels.etcd1==true\"]\n{defect}\n"
            ),
        );
        let e = load_err(&path);
        assert_eq!(e.line, first + 5, "{defect}: {e}");
        assert!(e.message.contains(message), "{defect}: {e}");
        assert!(
            e.hint.as_deref().unwrap_or("").contains(hint),
            "{defect}: {e}"
        );
    }
}

#[test]
fn seed_topology_carries_the_stack_files_policies() {
    let t = simctl::scenario::load_topology(&repo("topologies/seed-26-hosts.toml"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let svc = |n: &str| t.services.iter().find(|s| s.name == n).unwrap();
    // reference §2.10: Milvus, ZK and broker restart on failure after 60 s; MinIO,
    // etcd and bookies under the default condition after 10 s.
    for n in ["rootcoord", "query3", "milvus-proxy", "zk1", "broker"] {
        let p = &svc(n).restart_policy;
        assert_eq!(p.condition, RestartCondition::OnFailure, "{n}");
        assert_eq!(p.delay.as_secs_f64(), 60.0, "{n}");
    }
    for n in ["minio1", "etcd2", "bookie3"] {
        let p = &svc(n).restart_policy;
        assert_eq!(p.condition, RestartCondition::Any, "{n}");
        assert_eq!(p.delay.as_secs_f64(), 10.0, "{n}");
    }
    assert!(svc("etcd1").healthcheck.is_none());
    assert_eq!(svc("zk1").healthcheck.as_ref().unwrap().retries, 10);
    assert_eq!(svc("milvus-proxy").ports, [19530, 9091]);
    let p = simctl::swarm::place(&t).unwrap();
    let proxy = t
        .services
        .iter()
        .position(|s| s.name == "milvus-proxy")
        .unwrap();
    let hosts: Vec<usize> = p.tasks_of(proxy).map(|task| task.host).collect();
    assert_eq!(hosts.len(), 2);
    assert_ne!(
        hosts[0], hosts[1],
        "host-mode port 19530 keeps the proxies apart"
    );
}

// ---- simctl import-stack ----

/// A service as placement and the runtime see it, without its place in the file.
fn comparable(s: &simctl::scenario::topology::ServiceSpec) -> String {
    let mut s = s.clone();
    s.spot = simctl::scenario::topology::SourceSpot { line: 0, column: 0 };
    s.constraint_spots.clear();
    format!("{s:?}")
}

#[test]
fn import_stack_reproduces_the_small_topology() {
    let scratch = temp_dir("import-small");
    let out = scratch.join("small.toml");
    let (code, stdout, stderr) = simctl(&[
        "import-stack",
        "tests/fixtures/stacks/infra.yaml",
        "tests/fixtures/stacks/milvus.yaml",
        "--hosts",
        SMALL_HOSTS,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(stdout.contains("15 services (18 tasks)"), "{stdout}");
    // Nothing is dropped silently: every unmodelled key is reported with its line.
    for key in [
        "infra.yaml:9: environment (etcd1)",
        "infra.yaml:31: deploy.resources (minio1)",
        "infra.yaml:47: ports (ingress) (minio-proxy)",
        "infra.yaml:114: deploy.update_config (broker)",
        "infra.yaml:118: top-level networks",
        "infra.yaml:105: hostname (shared) (broker)",
    ] {
        assert!(stderr.contains(key), "{key} missing from:\n{stderr}");
    }
    let written = std::fs::read_to_string(&out).unwrap();
    assert!(written.contains("#   infra.yaml:31: deploy.resources (minio1)"));
    // The whole topology, as reviewed.
    let expected =
        std::fs::read_to_string(repo("tests/fixtures/stacks/small-expected.toml")).unwrap();
    assert_eq!(written, expected, "the import changed; review it");

    let t = simctl::scenario::load_topology(&out, None).unwrap_or_else(|e| panic!("{e}"));
    let kind = |n: &str| t.services.iter().find(|s| s.name == n).unwrap().kind;
    assert_eq!(kind("etcd-proxy"), ServiceKind::EtcdProxy);
    assert_eq!(kind("data1"), ServiceKind::Datanode);
    assert_eq!(kind("broker"), ServiceKind::Broker);
    let q2 = t.services.iter().find(|s| s.name == "query2").unwrap();
    // A merge key overrides one field of the shared restart policy.
    assert_eq!(q2.restart_policy.delay.as_secs_f64(), 30.0);
    assert_eq!(q2.restart_policy.max_attempts, Some(10));
}

#[test]
fn import_stack_errors_name_file_and_line() {
    let dir = temp_dir("import-bad");
    let stack = dir.join("bad.yaml");
    std::fs::write(
        &stack,
        "version: '3.7'\nservices:\n  query1:\n    image: milvus:v2.3.0\n    command: milvus run querynode\n    deploy:\n      restart_policy:\n        delay: 60\n",
    )
    .unwrap();
    let out = dir.join("out.toml");
    let (code, _, stderr) = simctl(&[
        "import-stack",
        stack.to_str().unwrap(),
        "--hosts",
        SMALL_HOSTS,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.starts_with(&format!("{}:8:", stack.display())),
        "{stderr}"
    );
    assert!(
        stderr.contains("restart_policy.delay is not a duration"),
        "{stderr}"
    );
    assert!(!out.exists());

    // A constraint no host satisfies: the topology is written but does not place.
    std::fs::write(
        &stack,
        "services:\n  query9:\n    image: milvus:v2.3.0\n    command: milvus run querynode\n    deploy:\n      placement:\n        constraints: [node.labels.query9==true]\n",
    )
    .unwrap();
    let (code, _, stderr) = simctl(&[
        "import-stack",
        stack.to_str().unwrap(),
        "--hosts",
        SMALL_HOSTS,
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("node.labels.query9==true matches no host"),
        "{stderr}"
    );
}

/// The users' own stack files, where this checkout has them beside it (they are not
/// part of the repository): imported onto the seed hosts they must give exactly the
/// services of the seed topology.
#[test]
fn users_stack_files_reproduce_the_seed_services() {
    let dir = repo("../shared/fixtures/seed-swarm/yaml");
    if !dir.is_dir() {
        eprintln!("skipped: {} is absent", dir.display());
        return;
    }
    let files = [
        "etcd-minio.yaml",
        "pulsar-zookeeper.yaml",
        "pulsar-bookie.yaml",
        "pulsar-broker.yaml",
        "milvus-coord.yaml",
        "milvus-worker.yaml",
        "milvus-proxy.yaml",
    ];
    let scratch = temp_dir("import-seed");
    let out = scratch.join("seed.toml");
    let mut args: Vec<String> = vec!["import-stack".into()];
    args.extend(files.iter().map(|f| dir.join(f).display().to_string()));
    for a in [
        "--hosts",
        "tests/fixtures/stacks/seed-hosts.toml",
        "--out",
        out.to_str().unwrap(),
    ] {
        args.push(a.into());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, stdout, stderr) = simctl(&args);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    eprintln!("{stderr}");
    let imported = simctl::scenario::load_topology(&out, None).unwrap_or_else(|e| panic!("{e}"));
    let seed = simctl::scenario::load_topology(&repo("topologies/seed-26-hosts.toml"), None)
        .unwrap_or_else(|e| panic!("{e}"));
    let a: Vec<String> = imported.services.iter().map(comparable).collect();
    let b: Vec<String> = seed.services.iter().map(comparable).collect();
    assert_eq!(a, b);
    assert_eq!(imported.hosts, seed.hosts);
}

// ---- start order and explain ----

#[test]
fn explain_prints_the_start_order_and_writes_graphviz() {
    let scratch = temp_dir("explain-dot");
    let dot = scratch.join("seed.dot");
    let (code, stdout, stderr) = simctl(&[
        "explain",
        "topologies/seed-26-hosts.toml",
        "--dot",
        dot.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("   1. minio1, minio2, minio3, minio4, etcd1, etcd2, etcd3\n"),
        "{stdout}"
    );
    assert!(stdout.contains("   8. milvus-proxy\n"), "{stdout}");
    assert!(
        stdout.contains("first search could be served 141.0 s after the first deploy"),
        "{stdout}"
    );
    assert!(
        stdout.contains("critical path: minio1 -> minio-proxy -> zk1"),
        "{stdout}"
    );

    let text = std::fs::read_to_string(&dot).unwrap();
    assert!(text.starts_with("digraph \"seed-26-hosts\" {"), "{text}");
    assert!(text.trim_end().ends_with('}'));
    // 26 hosts, 32 services, 36 tasks, each task linked to its service.
    assert_eq!(text.matches("subgraph cluster_host_").count(), 26);
    assert_eq!(text.matches("shape=ellipse").count(), 32);
    assert_eq!(text.matches("arrowhead=none").count(), 36);
    assert!(text.contains("label=\"depends_on\""));
    // Braces balance, so Graphviz can read it.
    assert_eq!(text.matches('{').count(), text.matches('}').count());
}

#[test]
fn explain_reports_a_depends_on_cycle() {
    let (_dir, path, first) = small_topology(
        "explain-cycle",
        r#"
[[service]]
name = "etcd1"
kind = "etcd"
constraints = ["node.labels.etcd1==true"]
depends_on = ["rootcoord"]

[[service]]
name = "rootcoord"
kind = "rootcoord"
constraints = ["node.labels.coord==true"]
"#,
    );
    let (code, _, stderr) = simctl(&["explain", path.to_str().unwrap()]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(&format!(":{}:", first + 2))
            && stderr.contains("services etcd1, rootcoord wait for each other"),
        "{stderr}"
    );
}
