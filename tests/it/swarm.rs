//! Docker Swarm as the users run it: service fields of topologies (restart policy,
//! health checks, host-mode ports), `simctl import-stack`, the start order and
//! `simctl explain --dot`.

use std::path::{Path, PathBuf};

use crate::common::{repo, temp_dir};
use simctl::scenario::topology::{RestartCondition, ServiceKind};

const SMALL_HOSTS: &str = "tests/fixtures/stacks/small-hosts.toml";

/// The small hosts file with `services` appended, written to a fresh directory.
fn small_topology(name: &str, services: &str) -> (PathBuf, usize) {
    let hosts = std::fs::read_to_string(repo(SMALL_HOSTS)).unwrap();
    let first_service_line = hosts.lines().count() + 1;
    let path = temp_dir(name).join("topology.toml");
    std::fs::write(&path, format!("{hosts}{services}")).unwrap();
    (path, first_service_line)
}

fn load_err(path: &Path) -> simctl::scenario::error::InputError {
    let e = simctl::scenario::load_topology(path, None).expect_err("the topology is invalid");
    assert_eq!(e.0.len(), 1, "{e}");
    e.0[0].clone()
}

#[test]
fn service_fields_parse_with_defaults() {
    let (path, _) = small_topology(
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
        let (path, first) = small_topology(
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
