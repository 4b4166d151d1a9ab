//! Milvus standalone: every role in one process on one host, with embedded etcd,
//! object storage on the local disk and RocksMQ as the log broker (DESIGN.md
//! "Standalone and cluster share the model").
//!
//! A topology declares it as one service of `kind = "standalone"`. Loading expands it
//! into one service per role, each marked with the standalone's name as its process,
//! all placed on the standalone's one host: the model then runs the same actors as a
//! cluster, and the marks say where a standalone differs (one memory footprint, one
//! crash for all roles, storage without erasure coding or network, a log broker that
//! acknowledges after one local write).

use std::ops::Range;

use super::error::{closest, InputError};
use super::topology::{ServiceKind, ServiceMode, ServiceSpec};
use crate::hw::HostSpec;

/// What a `[[service]]` entry declares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeclaredKind {
    Role(ServiceKind),
    Standalone,
}

pub const KIND: &str = "standalone";

/// The roles of a standalone: suffix of the role's service name, and the component
/// that plays it. Etcd is embedded; storage is MinIO's place, on the local disk;
/// RocksMQ is the broker (it owns the topics) and its RocksDB store (the bookie's
/// place: it writes each message to the local disk). Index coordination is a stub in
/// 2.3 (reference §1.9) and not listed.
pub const ROLES: [(&str, ServiceKind); 11] = [
    ("proxy", ServiceKind::Proxy),
    ("rootcoord", ServiceKind::Rootcoord),
    ("datacoord", ServiceKind::Datacoord),
    ("querycoord", ServiceKind::Querycoord),
    ("querynode", ServiceKind::Querynode),
    ("datanode", ServiceKind::Datanode),
    ("indexnode", ServiceKind::Indexnode),
    ("etcd", ServiceKind::Etcd),
    ("storage", ServiceKind::Minio),
    ("rocksmq", ServiceKind::Broker),
    ("rocksmq-store", ServiceKind::Bookie),
];

/// Reads the `kind` of a service: a component or a standalone.
pub fn parse_kind(s: &str) -> Result<DeclaredKind, (String, String)> {
    if s == KIND {
        return Ok(DeclaredKind::Standalone);
    }
    if let Some(k) = ServiceKind::ALL.iter().find(|k| k.name() == s) {
        return Ok(DeclaredKind::Role(*k));
    }
    let names: Vec<&str> = ServiceKind::ALL
        .iter()
        .map(|k| k.name())
        .chain([KIND])
        .collect();
    let hint = match closest(s, names.iter().copied()) {
        Some(c) => format!("did you mean {c:?}?"),
        None => format!("kind is one of: {}", names.join(", ")),
    };
    Err((format!("unknown service kind {s:?}"), hint))
}

/// The role services of standalone `spec`. Only the proxy publishes its ports (one
/// process binds them once).
pub fn roles(spec: &ServiceSpec) -> Vec<ServiceSpec> {
    ROLES
        .iter()
        .enumerate()
        .map(|(i, (suffix, kind))| ServiceSpec {
            name: role_name(&spec.name, suffix),
            kind: *kind,
            ports: if i == 0 {
                spec.ports.clone()
            } else {
                Vec::new()
            },
            process: Some(spec.name.clone()),
            ..spec.clone()
        })
        .collect()
}

/// The name of a standalone's role service: `standalone-querynode`.
pub fn role_name(standalone: &str, suffix: &str) -> String {
    format!("{standalone}-{suffix}")
}

/// Checks the standalones of a topology: at most one, one replica on exactly one
/// host, and no cluster-mode Milvus, etcd, MinIO or Pulsar service beside it (the
/// standalone runs those itself). A `depends_on` naming a standalone waits for its
/// proxy, the role that serves clients.
pub fn check(
    declared: &[(String, DeclaredKind, Range<usize>)],
    hosts: &[HostSpec],
    services: &mut [ServiceSpec],
    err: &dyn Fn(Range<usize>, String) -> InputError,
) -> Vec<InputError> {
    let mut errors = Vec::new();
    let standalones: Vec<&(String, DeclaredKind, Range<usize>)> = declared
        .iter()
        .filter(|d| d.1 == DeclaredKind::Standalone)
        .collect();
    let Some((name, _, span)) = standalones.first().copied() else {
        return errors;
    };
    for (other, _, at) in standalones.iter().skip(1) {
        errors.push(
            err(
                at.clone(),
                format!("service {other:?} is a second Milvus standalone beside {name:?}"),
            )
            .with_hint("a topology describes one Milvus; keep one standalone service"),
        );
    }
    for (other, kind, at) in declared {
        let DeclaredKind::Role(kind) = kind else {
            continue;
        };
        if *kind != ServiceKind::Nginx {
            errors.push(
                err(
                    at.clone(),
                    format!(
                        "service {other:?} is a cluster-mode {}, but this topology runs Milvus standalone {name:?}, which runs every role itself with embedded etcd, storage on its local disk and RocksMQ",
                        kind.name()
                    ),
                )
                .with_hint(format!(
                    "remove service {other:?}, or describe a cluster (one service per role) instead of kind = \"standalone\""
                )),
            );
        }
    }
    let roles: Vec<&ServiceSpec> = services
        .iter()
        .filter(|s| s.process.as_deref() == Some(name))
        .collect();
    if let Some(first) = roles.first() {
        if first.mode != ServiceMode::Replicated(1) {
            errors.push(
                err(
                    span.clone(),
                    format!("standalone {name:?} must run exactly one replica"),
                )
                .with_hint("a standalone is one process; leave replicas and mode out"),
            );
        }
        let eligible: Vec<&str> = hosts
            .iter()
            .filter(|h| first.constraints.iter().all(|c| c.matches(h)))
            .map(|h| h.name.as_str())
            .collect();
        if eligible.len() > 1 {
            errors.push(
                err(
                    span.clone(),
                    format!(
                        "standalone {name:?} could run on {} hosts ({}), but its roles share one process on one host",
                        eligible.len(),
                        eligible.join(", ")
                    ),
                )
                .with_hint(format!(
                    "pin it to one host, e.g. constraints = [\"node.hostname=={}\"]",
                    eligible[0]
                )),
            );
        }
    }
    let proxy = role_name(name, ROLES[0].0);
    for s in services.iter_mut() {
        for d in s.depends_on.iter_mut().filter(|d| *d == name) {
            *d = proxy.clone();
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_parse_with_a_hint() {
        assert_eq!(parse_kind("standalone"), Ok(DeclaredKind::Standalone));
        assert_eq!(
            parse_kind("querynode"),
            Ok(DeclaredKind::Role(ServiceKind::Querynode))
        );
        let (message, hint) = parse_kind("standalon").unwrap_err();
        assert!(message.contains("standalon"));
        assert!(hint.contains("\"standalone\""), "{hint}");
    }

    #[test]
    fn roles_share_the_process_and_only_the_proxy_publishes_ports() {
        let topo = crate::scenario::load_topology(
            std::path::Path::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/topologies/standalone.toml"
            )),
            None,
        )
        .unwrap();
        assert_eq!(topo.standalone(), Some("standalone"));
        assert_eq!(topo.services.len(), ROLES.len());
        for (s, (suffix, kind)) in topo.services.iter().zip(ROLES) {
            assert_eq!(s.name, role_name("standalone", suffix));
            assert_eq!(s.kind, kind);
            assert!(s.answers_to("standalone") && s.answers_to(&s.name));
            let ports: &[u16] = if kind == ServiceKind::Proxy {
                &[19530]
            } else {
                &[]
            };
            assert_eq!(s.ports, ports, "{}", s.name);
        }
    }
}
