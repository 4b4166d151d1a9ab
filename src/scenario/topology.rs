//! Topology files: host classes, hosts, network and services with Swarm placement.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::{closest, InputError, InputErrors};
use super::load::{parse_toml, read_file};
use super::standalone::{self, DeclaredKind};
use super::units::{Bandwidth, Bytes, Duration};
use crate::engine::SimDuration;
use crate::hw::host::DEFAULT_DISK_READ_LATENCY;
use crate::hw::{DiskSpec, HostSpec, Isa, SearchServerCpu, SwarmRole};

/// The longest disk read latency a topology may give: a spinning disk's seek is ~10 ms,
/// so a second is a unit slip, not a disk.
const MAX_DISK_READ_LATENCY: SimDuration = SimDuration::from_secs(1);
/// The most per-search server CPU a class may give: a hundred times the slowest a
/// real run measured (5.41 ms, experiments/fidelity/results-full-calibrated.json), so
/// that a unit slip ("1.5s" for "1.5ms") is an error, not a cluster that crawls.
pub const MAX_SEARCH_SERVER_CPU: SimDuration = SimDuration::from_millis(500);
pub const MAX_SEARCH_SERVER_CPU_PER_QUERY: SimDuration = SimDuration::from_millis(5);

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
    /// CPU that processes outside the model want, in cores (default 0); they compete
    /// with the model's threads for the cores as that many runnable threads.
    background_cores: Option<Spanned<f64>>,
    ghz: Spanned<f64>,
    isa: Isa,
    memory: Bytes,
    memory_bandwidth: Bandwidth,
    nic: Bandwidth,
    disk: RawDisk,
    /// Milvus's own CPU per search on this class (fixed, and per query vector);
    /// default: the reference measurement scaled by `ghz` (src/milvus/overheads.rs).
    search_server_cpu: Option<Spanned<Duration>>,
    search_server_cpu_per_query: Option<Spanned<Duration>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDisk {
    size: Bytes,
    read: Bandwidth,
    write: Bandwidth,
    iops: Spanned<f64>,
    fsync_latency: Duration,
    read_latency: Option<Spanned<Duration>>,
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
    pub const ALL: [ServiceKind; 15] = [
        ServiceKind::Proxy,
        ServiceKind::Rootcoord,
        ServiceKind::Datacoord,
        ServiceKind::Querycoord,
        ServiceKind::Indexcoord,
        ServiceKind::Querynode,
        ServiceKind::Datanode,
        ServiceKind::Indexnode,
        ServiceKind::Etcd,
        ServiceKind::EtcdProxy,
        ServiceKind::Minio,
        ServiceKind::Nginx,
        ServiceKind::Zookeeper,
        ServiceKind::Bookie,
        ServiceKind::Broker,
    ];

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

    /// Whether the service runs a Milvus process (`milvus run <role>`), which reads a
    /// milvus.yaml and holds an etcd session (reference §2.1).
    pub fn is_milvus(self) -> bool {
        matches!(
            self,
            ServiceKind::Proxy
                | ServiceKind::Rootcoord
                | ServiceKind::Datacoord
                | ServiceKind::Querycoord
                | ServiceKind::Indexcoord
                | ServiceKind::Querynode
                | ServiceKind::Datanode
                | ServiceKind::Indexnode
        )
    }

    /// Whether this release simulates the component's behaviour (the search and
    /// write paths) or only places it and accounts for its host.
    pub fn simulated(self) -> bool {
        matches!(
            self,
            ServiceKind::Proxy
                | ServiceKind::Rootcoord
                | ServiceKind::Querycoord
                | ServiceKind::Querynode
                | ServiceKind::Datacoord
                | ServiceKind::Datanode
                | ServiceKind::Indexnode
                | ServiceKind::Broker
                | ServiceKind::Bookie
        )
    }

    /// Whether the component's state or traffic matters to the model although it is
    /// no actor: etcd through its quorum, MinIO through its quorums, disks and NICs,
    /// and nginx as MinIO's load balancer (every object-storage byte crosses it).
    pub fn modelled(self) -> bool {
        self.simulated()
            || matches!(
                self,
                ServiceKind::Etcd | ServiceKind::Minio | ServiceKind::Nginx
            )
    }

    /// Whether its host's disks and NICs carry traffic worth a timeseries row.
    pub fn carries_traffic(self) -> bool {
        self.simulated() || matches!(self, ServiceKind::Minio | ServiceKind::Nginx)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    name: Spanned<String>,
    /// A `ServiceKind`, or "standalone" (see `super::standalone`).
    kind: Spanned<String>,
    image: Option<String>,
    stack: Option<String>,
    replicas: Option<Spanned<i64>>,
    mode: Option<Spanned<String>>,
    #[serde(default)]
    constraints: Vec<Spanned<String>>,
    restart_policy: Option<RawRestartPolicy>,
    healthcheck: Option<RawHealthcheck>,
    #[serde(default)]
    ports: Vec<Spanned<i64>>,
    stop_grace_period: Option<Duration>,
    #[serde(default)]
    depends_on: Vec<Spanned<String>>,
    startup: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRestartPolicy {
    condition: Option<Spanned<String>>,
    delay: Option<Duration>,
    max_attempts: Option<Spanned<i64>>,
    window: Option<Duration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthcheck {
    interval: Option<Spanned<Duration>>,
    timeout: Option<Spanned<Duration>>,
    retries: Option<Spanned<i64>>,
    start_period: Option<Duration>,
}

/// When Swarm restarts a task (`deploy.restart_policy.condition`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RestartCondition {
    Any,
    OnFailure,
    None,
}

impl RestartCondition {
    pub fn name(self) -> &'static str {
        match self {
            RestartCondition::Any => "any",
            RestartCondition::OnFailure => "on-failure",
            RestartCondition::None => "none",
        }
    }
}

/// `deploy.restart_policy` of a service.
#[derive(Clone, Debug, PartialEq)]
pub struct RestartPolicy {
    pub condition: RestartCondition,
    /// Wait between the task's end and its replacement.
    pub delay: SimDuration,
    /// `None`: unlimited attempts.
    pub max_attempts: Option<u32>,
    /// `None`: attempts are counted over the task's whole life.
    pub window: Option<SimDuration>,
}

impl Default for RestartPolicy {
    /// Swarm's defaults: condition `any` (reference §2.10: the MinIO, etcd and bookie
    /// services rely on it), unlimited attempts, no window. The 5 s delay is swarmkit's
    /// default restart delay and is not in the reference: GUESS; set `delay` to change it.
    fn default() -> Self {
        RestartPolicy {
            condition: RestartCondition::Any,
            delay: SimDuration::from_secs(5),
            max_attempts: None,
            window: None,
        }
    }
}

/// A container health check: the first probe runs `interval` after the start, and
/// `retries` failures in a row make the task unhealthy (reference §2.10).
#[derive(Clone, Debug, PartialEq)]
pub struct Healthcheck {
    pub interval: SimDuration,
    pub timeout: SimDuration,
    pub retries: u32,
    /// Failures during this time after the start do not count.
    pub start_period: SimDuration,
}

impl Healthcheck {
    /// Docker's defaults for keys a healthcheck leaves out (interval 30 s, timeout 30 s,
    /// 3 retries, no start period). They are Docker's documented values, not the
    /// reference's: GUESS; write the keys to change them.
    pub const DEFAULT_INTERVAL: SimDuration = SimDuration::from_secs(30);
    pub const DEFAULT_TIMEOUT: SimDuration = SimDuration::from_secs(30);
    pub const DEFAULT_RETRIES: u32 = 3;

    /// Time from the first failing probe until Swarm declares the task unhealthy.
    pub fn unhealthy_after(&self) -> SimDuration {
        SimDuration::from_nanos(self.interval.as_nanos() * u64::from(self.retries))
    }
}

/// Docker's stop grace period when a service sets none: 10 s before SIGKILL
/// (reference §2.10).
pub const DEFAULT_STOP_GRACE: SimDuration = SimDuration::from_secs(10);

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
    pub restart_policy: RestartPolicy,
    /// `None`: no health check; the task counts as healthy once it runs.
    pub healthcheck: Option<Healthcheck>,
    /// Host-mode published ports: two tasks publishing one port cannot share a host.
    pub ports: Vec<u16>,
    pub stop_grace_period: SimDuration,
    /// Services this one waits for, beyond the start order of its kind
    /// (`crate::swarm::start_order`).
    pub depends_on: Vec<String>,
    /// Container start-up time until the process serves; `None`: the kind's default
    /// (`crate::swarm::start_order::StartupKnobs`).
    pub startup: Option<SimDuration>,
    /// The Milvus standalone this service is a role of: every role of one standalone
    /// runs in one process (`super::standalone`).
    pub process: Option<String>,
}

impl ServiceSpec {
    /// Whether a fault naming `name` targets this service: its own name, or the
    /// standalone whose process it shares.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.process.as_deref() == Some(name)
    }
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
    /// The Milvus standalone this topology runs, if it is one.
    pub fn standalone(&self) -> Option<&str> {
        self.services.iter().find_map(|s| s.process.as_deref())
    }

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
    // `class.<CLASS>.count=N` rewrites the host list (see scale.rs); the other sets
    // are plain scalar overrides.
    let (counts, sets): (Vec<&String>, Vec<&String>) = sets.iter().partition(|s| {
        s.split_once('=')
            .is_some_and(|(k, _)| k.trim().starts_with("class.") && k.trim().ends_with(".count"))
    });
    let sets: Vec<String> = sets.into_iter().cloned().collect();
    let mut scaled = original.clone();
    for set in counts {
        let (key, value) = set.split_once('=').expect("partitioned on '='");
        let class = key.trim()["class.".len()..key.trim().len() - ".count".len()].to_string();
        let n: usize = value.trim().parse().map_err(|_| {
            InputError::at(
                path,
                &original,
                None,
                format!("--set topology.{set}: the count must be a whole number"),
            )
            .with_hint("e.g. topology.class.query.count=7")
        })?;
        scaled = super::scale::scale_class(&scaled, &class, n).map_err(|m| {
            InputError::at(path, &original, None, m).with_hint(
                "topology.class.<CLASS>.count=N copies or removes hosts of an existing class",
            )
        })?;
    }
    let original = scaled;
    let text = super::overrides::apply(&original, &sets).map_err(|m| {
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
        if let Some(b) = &c.background_cores {
            if !(*b.get_ref() >= 0.0 && *b.get_ref() < *c.cores.get_ref() as f64) {
                errors.push(
                    err(
                        b.span(),
                        format!(
                            "class {name:?} has {} background cores of {}",
                            b.get_ref(),
                            c.cores.get_ref()
                        ),
                    )
                    .with_hint("background_cores is the CPU processes outside the model want: at least 0, below the class's cores"),
                );
            }
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
        for (key, value, most) in [
            (
                "search_server_cpu",
                &c.search_server_cpu,
                MAX_SEARCH_SERVER_CPU,
            ),
            (
                "search_server_cpu_per_query",
                &c.search_server_cpu_per_query,
                MAX_SEARCH_SERVER_CPU_PER_QUERY,
            ),
        ] {
            if let Some(v) = value.as_ref().filter(|v| v.get_ref().0 > most) {
                errors.push(
                    err(
                        v.span(),
                        format!(
                            "class {name:?} has {key} = {} ms",
                            v.get_ref().0.as_nanos() as f64 / 1e6
                        ),
                    )
                    .with_hint(format!(
                        "give Milvus's own CPU per search on this host, at most {} ms (the reference machine's is 1.465 ms + 0.0222 ms a query vector); leave it out for that scaled by ghz",
                        most.as_nanos() as f64 / 1e6
                    )),
                );
            }
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
        if let Some(latency) = &c.disk.read_latency {
            let l = latency.get_ref().0;
            if l == SimDuration::ZERO || l > MAX_DISK_READ_LATENCY {
                errors.push(
                    err(
                        latency.span(),
                        format!(
                            "class {name:?} has a disk read latency of {} us",
                            l.as_nanos() as f64 / 1e3
                        ),
                    )
                    .with_hint(
                        "give one 4 KiB random read at queue depth 1, above 0 and at most 1s, e.g. \"100us\" for a NAND SSD",
                    ),
                );
            }
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
            background_cores: c.background_cores.as_ref().map_or(0.0, |b| *b.get_ref()),
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
                read_latency: c
                    .disk
                    .read_latency
                    .as_ref()
                    .map_or(DEFAULT_DISK_READ_LATENCY, |l| l.get_ref().0),
            },
            nic_bytes_per_s: c.nic.0,
            labels: rh.labels.clone(),
            role: rh.role,
            search_server: SearchServerCpu {
                fixed: c.search_server_cpu.as_ref().map(|d| d.get_ref().0),
                per_query: c
                    .search_server_cpu_per_query
                    .as_ref()
                    .map(|d| d.get_ref().0),
            },
        });
    }
    if raw.host.is_empty() {
        errors.push(
            InputError::at(path, &text, None, "the topology has no hosts")
                .with_hint("add [[host]] entries"),
        );
    }

    let mut services = Vec::new();
    let mut declared_at = Vec::new();
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
        let declared = match standalone::parse_kind(rs.kind.get_ref()) {
            Ok(k) => k,
            Err((message, hint)) => {
                errors.push(err(rs.kind.span(), message).with_hint(hint));
                continue;
            }
        };
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
        let restart_policy = match &rs.restart_policy {
            None => RestartPolicy::default(),
            Some(r) => {
                let mut p = RestartPolicy::default();
                if let Some(c) = &r.condition {
                    p.condition = match c.get_ref().as_str() {
                        "any" => RestartCondition::Any,
                        "on-failure" => RestartCondition::OnFailure,
                        "none" => RestartCondition::None,
                        other => {
                            errors.push(
                                err(
                                    c.span(),
                                    format!(
                                        "service {name:?} has restart condition {other:?}"
                                    ),
                                )
                                .with_hint("condition is \"any\" (the default), \"on-failure\" or \"none\""),
                            );
                            RestartCondition::Any
                        }
                    };
                }
                if let Some(d) = r.delay {
                    p.delay = d.0;
                }
                if let Some(m) = &r.max_attempts {
                    match u32::try_from(*m.get_ref()) {
                        Ok(0) => p.max_attempts = None,
                        Ok(n) => p.max_attempts = Some(n),
                        Err(_) => errors.push(
                            err(
                                m.span(),
                                format!("service {name:?} allows {} restart attempts", m.get_ref()),
                            )
                            .with_hint("max_attempts is a count; 0 means unlimited, as in Swarm"),
                        ),
                    }
                }
                p.window = r.window.map(|w| w.0).filter(|w| *w > SimDuration::ZERO);
                p
            }
        };
        let healthcheck = rs.healthcheck.as_ref().map(|h| {
            let positive = |d: &Option<Spanned<Duration>>, key: &str, errors: &mut Vec<InputError>| {
                let d = d.as_ref()?;
                if d.get_ref().0 == SimDuration::ZERO {
                    errors.push(
                        err(d.span(), format!("service {name:?} has a healthcheck {key} of 0"))
                            .with_hint(format!("{key} must be positive, e.g. \"20s\"")),
                    );
                    return None;
                }
                Some(d.get_ref().0)
            };
            let retries = match &h.retries {
                None => Healthcheck::DEFAULT_RETRIES,
                Some(r) => match u32::try_from(*r.get_ref()) {
                    Ok(n) if n >= 1 => n,
                    _ => {
                        errors.push(
                            err(
                                r.span(),
                                format!(
                                    "service {name:?} has {} healthcheck retries",
                                    r.get_ref()
                                ),
                            )
                            .with_hint("retries is the number of failures in a row that make a task unhealthy; at least 1"),
                        );
                        Healthcheck::DEFAULT_RETRIES
                    }
                },
            };
            Healthcheck {
                interval: positive(&h.interval, "interval", &mut errors)
                    .unwrap_or(Healthcheck::DEFAULT_INTERVAL),
                timeout: positive(&h.timeout, "timeout", &mut errors)
                    .unwrap_or(Healthcheck::DEFAULT_TIMEOUT),
                retries,
                start_period: h.start_period.map(|d| d.0).unwrap_or(SimDuration::ZERO),
            }
        });
        let mut ports = Vec::new();
        for p in &rs.ports {
            match u16::try_from(*p.get_ref()) {
                Ok(port) if port > 0 && !ports.contains(&port) => ports.push(port),
                Ok(port) if port > 0 => errors.push(
                    err(
                        p.span(),
                        format!("service {name:?} publishes port {port} twice"),
                    )
                    .with_hint("list each published host-mode port once"),
                ),
                _ => errors.push(
                    err(
                        p.span(),
                        format!("service {name:?} publishes port {}", p.get_ref()),
                    )
                    .with_hint("a published port is between 1 and 65535"),
                ),
            }
        }
        let spec = ServiceSpec {
            name,
            kind: match declared {
                DeclaredKind::Role(k) => k,
                // Replaced: each role of the standalone takes its own kind.
                DeclaredKind::Standalone => standalone::ROLES[0].1,
            },
            image: rs.image.clone().unwrap_or_else(|| "milvus:v2.3.0".into()),
            stack: rs.stack.clone(),
            mode,
            constraints,
            constraint_spots,
            spot: spot(&text, rs.name.span()),
            restart_policy,
            healthcheck,
            ports,
            stop_grace_period: rs
                .stop_grace_period
                .map(|d| d.0)
                .unwrap_or(DEFAULT_STOP_GRACE),
            depends_on: rs.depends_on.iter().map(|d| d.get_ref().clone()).collect(),
            startup: rs.startup.map(|d| d.0),
            process: None,
        };
        match declared {
            DeclaredKind::Role(_) => services.push(spec),
            DeclaredKind::Standalone => {
                services.extend(standalone::roles(&spec));
            }
        }
        declared_at.push((rs.name.get_ref().clone(), declared, rs.name.span()));
    }
    errors.extend(standalone::check(&declared_at, &hosts, &mut services, &err));
    for s in &raw.service {
        let rs = s.get_ref();
        for d in &rs.depends_on {
            let target = d.get_ref();
            if target == rs.name.get_ref() {
                errors.push(
                    err(d.span(), format!("service {target:?} depends on itself"))
                        .with_hint("remove it from its own depends_on"),
                );
            } else if !seen_services.contains_key(target) {
                let hint = match closest(target, seen_services.keys().map(|k| k.as_str())) {
                    Some(c) => format!("did you mean {c:?}?"),
                    None => "name a service declared in this topology".to_string(),
                };
                errors.push(
                    err(
                        d.span(),
                        format!(
                            "service {:?} depends on {target:?}, which is not a service of this topology",
                            rs.name.get_ref()
                        ),
                    )
                    .with_hint(hint),
                );
            }
        }
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
            background_cores: 0.0,
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
                read_latency: DEFAULT_DISK_READ_LATENCY,
            },
            nic_bytes_per_s: 1.0,
            search_server: Default::default(),
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
