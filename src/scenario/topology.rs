//! Topology files: host classes, hosts, network and services with Swarm placement.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::{closest, InputError, InputErrors};
use super::load::{parse_toml, read_file};
use super::units::{Bandwidth, Bytes, Duration};
use crate::engine::SimDuration;
use crate::hw::{DiskSpec, HostSpec, Isa, SwarmRole};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTopology {
    name: Option<String>,
    description: Option<String>,
    #[serde(default)]
    network: RawNetwork,
    class: BTreeMap<String, Spanned<RawClass>>,
    host: Vec<Spanned<RawHost>>,
    #[serde(default)]
    service: Vec<Spanned<RawService>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    link_latency: Option<Duration>,
    loopback_latency: Option<Duration>,
    client_latency: Option<Duration>,
    client_bandwidth: Option<Bandwidth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClass {
    cores: Spanned<i64>,
    ghz: Spanned<f64>,
    isa: Isa,
    memory: Bytes,
    memory_bandwidth: Bandwidth,
    nic: Bandwidth,
    disk: RawDisk,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    size: Bytes,
    read: Bandwidth,
    write: Bandwidth,
    iops: Spanned<f64>,
    fsync_latency: Duration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHost {
    name: Spanned<String>,
    address: Spanned<String>,
    class: Spanned<String>,
    role: SwarmRole,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Components simctl knows how to place (and, for the search path, to simulate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceKind {
    Proxy,
    Rootcoord,
    Datacoord,
    Querycoord,
    Indexcoord,
    Querynode,
    Datanode,
    Indexnode,
    Etcd,
    EtcdProxy,
    Minio,
    Nginx,
    Zookeeper,
    Bookie,
    Broker,
}

impl ServiceKind {
    pub fn name(self) -> &'static str {
        match self {
            ServiceKind::Proxy => "proxy",
            ServiceKind::Rootcoord => "rootcoord",
            ServiceKind::Datacoord => "datacoord",
            ServiceKind::Querycoord => "querycoord",
            ServiceKind::Indexcoord => "indexcoord",
            ServiceKind::Querynode => "querynode",
            ServiceKind::Datanode => "datanode",
            ServiceKind::Indexnode => "indexnode",
            ServiceKind::Etcd => "etcd",
            ServiceKind::EtcdProxy => "etcd-proxy",
            ServiceKind::Minio => "minio",
            ServiceKind::Nginx => "nginx",
            ServiceKind::Zookeeper => "zookeeper",
            ServiceKind::Bookie => "bookie",
            ServiceKind::Broker => "broker",
        }
    }

    /// Whether this release simulates the component's behaviour (the search path) or
    /// only places it and accounts for its host.
    pub fn simulated(self) -> bool {
        matches!(
            self,
            ServiceKind::Proxy
                | ServiceKind::Rootcoord
                | ServiceKind::Querycoord
                | ServiceKind::Querynode
        )
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    kind: ServiceKind,
    image: Option<String>,
    stack: Option<String>,
    replicas: Option<Spanned<i64>>,
    mode: Option<Spanned<String>>,
    #[serde(default)]
    constraints: Vec<Spanned<String>>,
}

/// A placement constraint as Swarm writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Constraint {
    Label {
        key: String,
        value: String,
        equal: bool,
    },
    Role {
        role: SwarmRole,
        equal: bool,
    },
    Hostname {
        name: String,
        equal: bool,
    },
}

impl Constraint {
    pub fn parse(s: &str) -> Result<Constraint, String> {
        let (lhs, rhs, equal) = if let Some((l, r)) = s.split_once("==") {
            (l, r, true)
        } else if let Some((l, r)) = s.split_once("!=") {
            (l, r, false)
        } else {
            return Err(format!("constraint {s:?} has no == or != operator"));
        };
        let (lhs, rhs) = (lhs.trim(), rhs.trim());
        if rhs.is_empty() {
            return Err(format!("constraint {s:?} has no value after the operator"));
        }
        if let Some(key) = lhs.strip_prefix("node.labels.") {
            return Ok(Constraint::Label {
                key: key.to_string(),
                value: rhs.to_string(),
                equal,
            });
        }
        match lhs {
            "node.role" => {
                let role = match rhs {
                    "manager" => SwarmRole::Manager,
                    "worker" => SwarmRole::Worker,
                    _ => return Err(format!("node.role must be manager or worker, not {rhs:?}")),
                };
                Ok(Constraint::Role { role, equal })
            }
            "node.hostname" => Ok(Constraint::Hostname {
                name: rhs.to_string(),
                equal,
            }),
            _ => Err(format!(
                "constraint attribute {lhs:?} is not supported (use node.labels.KEY, node.role or node.hostname)"
            )),
        }
    }

    pub fn matches(&self, h: &HostSpec) -> bool {
        match self {
            Constraint::Label { key, value, equal } => (h.labels.get(key) == Some(value)) == *equal,
            Constraint::Role { role, equal } => (h.role == *role) == *equal,
            Constraint::Hostname { name, equal } => (&h.name == name) == *equal,
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let op = |e: &bool| if *e { "==" } else { "!=" };
        match self {
            Constraint::Label { key, value, equal } => {
                write!(f, "node.labels.{key}{}{value}", op(equal))
            }
            Constraint::Role { role, equal } => write!(
                f,
                "node.role{}{}",
                op(equal),
                match role {
                    SwarmRole::Manager => "manager",
                    SwarmRole::Worker => "worker",
                }
            ),
            Constraint::Hostname { name, equal } => write!(f, "node.hostname{}{name}", op(equal)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceMode {
    Replicated(u32),
    Global,
}

/// Where in the topology file a service was declared, for placement errors.
#[derive(Clone, Debug, PartialEq)]
pub struct SourceSpot {
    pub line: usize,
    pub column: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ServiceSpec {
    pub name: String,
    pub kind: ServiceKind,
    pub image: String,
    pub stack: Option<String>,
    pub mode: ServiceMode,
    pub constraints: Vec<Constraint>,
    /// Location of each constraint, parallel to `constraints`, and of the service.
    pub constraint_spots: Vec<SourceSpot>,
    pub spot: SourceSpot,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NetworkSpec {
    /// One-way latency of a host-to-switch link. GUESS: 25 us, a typical 10 GbE
    /// top-of-rack hop including the Docker overlay's VXLAN encapsulation.
    pub link_latency: SimDuration,
    /// Between two containers on one host. GUESS: 5 us through the bridge.
    pub loopback_latency: SimDuration,
    /// From the clients to the cluster's switch. GUESS: 100 us (clients in the same
    /// data centre).
    pub client_latency: SimDuration,
    pub client_bytes_per_s: f64,
}

/// A validated topology.
#[derive(Clone, Debug)]
pub struct Topology {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    pub text: String,
    pub network: NetworkSpec,
    pub classes: BTreeSet<String>,
    pub hosts: Vec<HostSpec>,
    pub services: Vec<ServiceSpec>,
}

impl Topology {
    pub fn host_index(&self, name: &str) -> Option<usize> {
        self.hosts.iter().position(|h| h.name == name)
    }
}

fn spot(text: &str, span: std::ops::Range<usize>) -> SourceSpot {
    let (line, column) = super::error::line_col(text, span.start);
    SourceSpot { line, column }
}

/// Reads and validates a topology file.
pub fn load_topology(
    path: &Path,
    referenced_from: Option<InputError>,
) -> Result<Topology, InputErrors> {
    load_topology_with(path, referenced_from, &[])
}

/// Reads a topology with `KEY=VALUE` overrides applied to its text (the
/// `topology.KEY=VALUE` sets of an experiment or a sweep).
pub fn load_topology_with(
    path: &Path,
    referenced_from: Option<InputError>,
    sets: &[String],
) -> Result<Topology, InputErrors> {
    let original = read_file(path, referenced_from)?;
    let text = super::overrides::apply(&original, sets).map_err(|m| {
        InputError::at(path, &original, None, m).with_hint(
            "a topology override is topology.KEY=VALUE, e.g. topology.class.query.cores=32",
        )
    })?;
    let raw: RawTopology = parse_toml(path, &text, "topology")?;
    let mut errors = Vec::new();
    let err =
        |span: std::ops::Range<usize>, msg: String| InputError::at(path, &text, Some(span), msg);

    for (name, class) in &raw.class {
        let c = class.get_ref();
        if *c.cores.get_ref() <= 0 || *c.cores.get_ref() > 4096 {
            errors.push(
                err(
                    c.cores.span(),
                    format!("class {name:?} has {} cores", c.cores.get_ref()),
                )
                .with_hint("cores must be between 1 and 4096"),
            );
        }
        if !(*c.ghz.get_ref() > 0.1 && *c.ghz.get_ref() < 10.0) {
            errors.push(
                err(
                    c.ghz.span(),
                    format!("class {name:?} has a clock of {} GHz", c.ghz.get_ref()),
                )
                .with_hint("give the sustained all-core clock in GHz, e.g. 2.6"),
            );
        }
        if *c.disk.iops.get_ref() <= 0.0 {
            errors.push(
                err(
                    c.disk.iops.span(),
                    format!(
                        "class {name:?} has a disk with {} IOPS",
                        c.disk.iops.get_ref()
                    ),
                )
                .with_hint("IOPS must be positive"),
            );
        }
    }

    let mut hosts = Vec::new();
    let mut seen_names: BTreeMap<String, usize> = BTreeMap::new();
    let mut seen_addrs: BTreeMap<String, usize> = BTreeMap::new();
    for h in &raw.host {
        let rh = h.get_ref();
        let name = rh.name.get_ref().clone();
        let line_of = |s: std::ops::Range<usize>| super::error::line_col(&text, s.start).0;
        if let Some(first) = seen_names.get(&name) {
            errors.push(
                err(rh.name.span(), format!("host {name:?} is declared twice")).with_hint(format!(
                    "the first declaration is on line {first}; host names must be unique"
                )),
            );
            continue;
        }
        seen_names.insert(name.clone(), line_of(rh.name.span()));
        let addr = rh.address.get_ref().clone();
        if addr.parse::<std::net::IpAddr>().is_err() {
            errors.push(
                err(
                    rh.address.span(),
                    format!("host {name:?} has address {addr:?}, which is not an IP address"),
                )
                .with_hint("write an IPv4 or IPv6 address such as \"29.16.21.64\""),
            );
        } else if let Some(first) = seen_addrs.get(&addr) {
            errors.push(
                err(
                    rh.address.span(),
                    format!("address {addr} of host {name:?} is already used"),
                )
                .with_hint(format!(
                    "the first use is on line {first}; every host needs its own address"
                )),
            );
        } else {
            seen_addrs.insert(addr.clone(), line_of(rh.address.span()));
        }
        let class_name = rh.class.get_ref();
        let Some(class) = raw.class.get(class_name) else {
            let known: Vec<&str> = raw.class.keys().map(|s| s.as_str()).collect();
            let hint = match closest(class_name, known.iter().copied()) {
                Some(c) => format!("did you mean {c:?}? Classes are declared as [class.NAME]"),
                None => format!(
                    "declare [class.{class_name}] or use one of: {}",
                    known.join(", ")
                ),
            };
            errors.push(
                err(
                    rh.class.span(),
                    format!("host {name:?} uses unknown class {class_name:?}"),
                )
                .with_hint(hint),
            );
            continue;
        };
        let c = class.get_ref();
        hosts.push(HostSpec {
            name,
            address: addr,
            class: class_name.clone(),
            cores: (*c.cores.get_ref()).clamp(1, 4096) as u32,
            ghz: *c.ghz.get_ref(),
            isa: c.isa,
            memory_bytes: c.memory.0,
            memory_bandwidth_bytes_per_s: c.memory_bandwidth.0,
            disk: DiskSpec {
                size_bytes: c.disk.size.0,
                read_bytes_per_s: c.disk.read.0,
                write_bytes_per_s: c.disk.write.0,
                iops: *c.disk.iops.get_ref(),
                fsync_latency: c.disk.fsync_latency.0,
            },
            nic_bytes_per_s: c.nic.0,
            labels: rh.labels.clone(),
            role: rh.role,
        });
    }
    if raw.host.is_empty() {
        errors.push(
            InputError::at(path, &text, None, "the topology has no hosts")
                .with_hint("add [[host]] entries"),
        );
    }

    let mut services = Vec::new();
    let mut seen_services: BTreeMap<String, usize> = BTreeMap::new();
    for s in &raw.service {
        let rs = s.get_ref();
        let name = rs.name.get_ref().clone();
        if let Some(first) = seen_services.get(&name) {
            errors.push(
                err(
                    rs.name.span(),
                    format!("service {name:?} is declared twice"),
                )
                .with_hint(format!(
                    "the first declaration is on line {first}; service names must be unique"
                )),
            );
            continue;
        }
        seen_services.insert(
            name.clone(),
            super::error::line_col(&text, rs.name.span().start).0,
        );
        let mode = match (&rs.replicas, &rs.mode) {
            (Some(_), Some(m)) if m.get_ref() == "global" => {
                errors.push(
                    err(
                        m.span(),
                        format!("service {name:?} sets both replicas and mode = \"global\""),
                    )
                    .with_hint(
                        "a global service runs one task on every eligible host; drop `replicas`",
                    ),
                );
                continue;
            }
            (_, Some(m)) if m.get_ref() == "global" => ServiceMode::Global,
            (_, Some(m)) if m.get_ref() != "replicated" => {
                errors.push(
                    err(
                        m.span(),
                        format!("service {name:?} has mode {:?}", m.get_ref()),
                    )
                    .with_hint("mode is \"replicated\" (the default) or \"global\""),
                );
                continue;
            }
            (Some(r), _) => {
                let n = *r.get_ref();
                if !(0..=1000).contains(&n) {
                    errors.push(
                        err(r.span(), format!("service {name:?} asks for {n} replicas"))
                            .with_hint("replicas must be between 0 and 1000"),
                    );
                    continue;
                }
                ServiceMode::Replicated(n as u32)
            }
            (None, _) => ServiceMode::Replicated(1),
        };
        let mut constraints = Vec::new();
        let mut constraint_spots = Vec::new();
        for c in &rs.constraints {
            match Constraint::parse(c.get_ref()) {
                Ok(parsed) => {
                    constraints.push(parsed);
                    constraint_spots.push(spot(&text, c.span()));
                }
                Err(m) => errors.push(
                    err(c.span(), m).with_hint("write it as in a stack file, e.g. \"node.labels.query1==true\" or \"node.role==manager\""),
                ),
            }
        }
        services.push(ServiceSpec {
            name,
            kind: rs.kind,
            image: rs.image.clone().unwrap_or_else(|| "milvus:v2.3.0".into()),
            stack: rs.stack.clone(),
            mode,
            constraints,
            constraint_spots,
            spot: spot(&text, rs.name.span()),
        });
    }

    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    let n = &raw.network;
    Ok(Topology {
        path: path.to_path_buf(),
        name: raw.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        description: raw.description.clone().unwrap_or_default(),
        network: NetworkSpec {
            link_latency: n
                .link_latency
                .map(|d| d.0)
                .unwrap_or(SimDuration::from_micros(25)),
            loopback_latency: n
                .loopback_latency
                .map(|d| d.0)
                .unwrap_or(SimDuration::from_micros(5)),
            client_latency: n
                .client_latency
                .map(|d| d.0)
                .unwrap_or(SimDuration::from_micros(100)),
            client_bytes_per_s: n.client_bandwidth.map(|b| b.0).unwrap_or(1.25e9),
        },
        classes: raw.class.keys().cloned().collect(),
        hosts,
        services,
        text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constraints_parse_and_match() {
        let c = Constraint::parse("node.labels.query1==true").unwrap();
        let mut h = HostSpec {
            name: "q1".into(),
            address: "10.0.0.1".into(),
            class: "x".into(),
            cores: 1,
            ghz: 1.0,
            isa: Isa::Avx2,
            memory_bytes: 1,
            memory_bandwidth_bytes_per_s: 1.0,
            disk: DiskSpec {
                size_bytes: 1,
                read_bytes_per_s: 1.0,
                write_bytes_per_s: 1.0,
                iops: 1.0,
                fsync_latency: SimDuration::ZERO,
            },
            nic_bytes_per_s: 1.0,
            labels: BTreeMap::new(),
            role: SwarmRole::Worker,
        };
        assert!(!c.matches(&h));
        h.labels.insert("query1".into(), "true".into());
        assert!(c.matches(&h));
        assert!(Constraint::parse("node.role!=manager").unwrap().matches(&h));
        assert!(Constraint::parse("node.hostname==q1").unwrap().matches(&h));
        assert!(Constraint::parse("node.platform.os==linux").is_err());
        assert!(Constraint::parse("node.labels.x").is_err());
        assert_eq!(c.to_string(), "node.labels.query1==true");
    }
}
