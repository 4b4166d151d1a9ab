//! `[[fault]]` entries and the `[failover]` knobs of an experiment.
//!
//! A fault breaks something at a time and, optionally, repairs it later. Its target is
//! a host, a service (all of its tasks) or one task. Every timing of the recovery that
//! follows is a knob of `[failover]` with the default the reference gives.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::error::{closest, InputError};
use super::topology::{ServiceKind, Topology};
use super::units::{Bandwidth, Duration};
use crate::engine::SimDuration;
use crate::hw::Degradation;
use crate::swarm::Placement;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFault {
    kind: Spanned<String>,
    at: Spanned<Duration>,
    duration: Option<Spanned<Duration>>,
    recover_at: Option<Spanned<Duration>>,
    host: Option<Spanned<String>>,
    service: Option<Spanned<String>>,
    task: Option<Spanned<String>>,
    /// Link faults: one side of the cut or degraded path (host names, or "clients").
    hosts: Option<Spanned<Vec<Spanned<String>>>>,
    /// Link faults: the other side (default: every other host and the clients).
    other_side: Option<Spanned<Vec<Spanned<String>>>>,
    /// link_degradation: added one-way latency.
    latency: Option<Spanned<Duration>>,
    /// link_degradation: share of the bandwidth left (0 < f <= 1).
    bandwidth_factor: Option<Spanned<f64>>,
    /// link_degradation: share of packets lost (0 <= p < 0.5).
    loss: Option<Spanned<f64>>,
    /// slow_disk: how many times slower the disk is (1 < f <= 1000).
    factor: Option<Spanned<f64>>,
    /// scale_service: the service's task count from `at` on; load_replicas: the
    /// collection's replica number.
    replicas: Option<Spanned<i64>>,
    /// load_replicas: release the collection first (what Milvus 2.3 requires).
    release_first: Option<Spanned<bool>>,
    /// A label for the summary and the events; defaults to "KIND TARGET".
    name: Option<String>,
}

impl RawFault {
    /// The keys of link and disk faults, with where each is written.
    fn link_keys(&self) -> [(&'static str, Option<Range<usize>>); 6] {
        [
            ("hosts", self.hosts.as_ref().map(|v| v.span())),
            ("other_side", self.other_side.as_ref().map(|v| v.span())),
            ("latency", self.latency.as_ref().map(|v| v.span())),
            (
                "bandwidth_factor",
                self.bandwidth_factor.as_ref().map(|v| v.span()),
            ),
            ("loss", self.loss.as_ref().map(|v| v.span())),
            ("factor", self.factor.as_ref().map(|v| v.span())),
        ]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// The host loses power: every task on it dies without a word (no lease revoke).
    HostCrash,
    /// The process is killed (SIGKILL, OOM kill): its host stays up.
    ProcessCrash,
    /// A graceful stop: the process revokes its session at once (reference §2.1).
    ProcessStop,
    /// Scale-out: the host is off from the start and powered on at `at`; Swarm starts
    /// its tasks and the cluster takes it in (a new query node joins and the balancer
    /// moves segments to it).
    HostStart,
    /// Nothing crosses between two sets of hosts; every process keeps running.
    NetworkPartition,
    /// Added latency, less bandwidth and packet loss between two sets of hosts.
    LinkDegradation,
    /// A host's NIC goes down: a partition of that host from everything else.
    NicDown,
    /// A host's disk serves reads and writes `factor` times slower.
    SlowDisk,
    /// A host's disk is full: writes to it fail.
    DiskFull,
    /// `docker node update --availability drain`: Swarm stops the host's tasks and
    /// starts replacements on other eligible hosts; a repair sets it active again.
    DrainHost,
    /// `docker service scale SERVICE=N`: new tasks start (a query node joins and the
    /// balancer moves segments to it) or the highest slots stop.
    ScaleService,
    /// `collection.load(replica_number=N)` on the loaded collection: Milvus 2.3 refuses
    /// to change the replica number of a loaded collection; with `release_first` the
    /// collection is released and loaded again with N replicas.
    LoadReplicas,
}

const KINDS: [(&str, FaultKind); 12] = [
    ("host_crash", FaultKind::HostCrash),
    ("process_crash", FaultKind::ProcessCrash),
    ("process_stop", FaultKind::ProcessStop),
    ("host_start", FaultKind::HostStart),
    ("network_partition", FaultKind::NetworkPartition),
    ("link_degradation", FaultKind::LinkDegradation),
    ("nic_down", FaultKind::NicDown),
    ("slow_disk", FaultKind::SlowDisk),
    ("disk_full", FaultKind::DiskFull),
    ("drain_host", FaultKind::DrainHost),
    ("scale_service", FaultKind::ScaleService),
    ("load_replicas", FaultKind::LoadReplicas),
];

/// The most replicas a collection may have: searches track replicas in 8-bit sets.
pub const MAX_REPLICAS: u32 = 8;

/// What a load_replicas entry is checked against: the experiment's collection and
/// workload.
pub struct LoadContext {
    pub replicas: u32,
    /// Whether the workload writes growing rows (inserts or upserts).
    pub inserts: bool,
    pub cold_start: bool,
    /// The application's own DDL calls (`[workload.ddl]`).
    pub ddl: super::experiment::DdlSpec,
}

/// The services `scale_service` can scale: those whose new tasks the model takes in
/// (query nodes join a replica, index nodes take builds, proxies take clients).
const SCALABLE: [ServiceKind; 3] = [
    ServiceKind::Querynode,
    ServiceKind::Indexnode,
    ServiceKind::Proxy,
];

/// The most tasks a `scale_service` may ask for.
const MAX_SCALE: i64 = 256;

/// The name that stands for the external clients in a link fault's sides.
pub const CLIENTS: &str = "clients";

impl FaultKind {
    /// Faults of links and disks: every process keeps running.
    pub fn is_link_or_disk(self) -> bool {
        matches!(
            self,
            FaultKind::NetworkPartition
                | FaultKind::LinkDegradation
                | FaultKind::NicDown
                | FaultKind::SlowDisk
                | FaultKind::DiskFull
        )
    }

    pub fn name(self) -> &'static str {
        KINDS
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .expect("listed")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum FaultTarget {
    Host(usize),
    /// Placement task indexes.
    Tasks(Vec<usize>),
    /// Network endpoints on both sides of a cut or degraded path: host indexes, where
    /// the number of hosts stands for the clients. `degradation` is none for a cut.
    Link {
        hosts: Vec<usize>,
        other_side: Vec<usize>,
        degradation: Option<Degradation>,
    },
    /// A host's disk: `slowdown` times slower, or full (none).
    Disk {
        host: usize,
        slowdown: Option<f64>,
    },
    /// The collection (load_replicas).
    Collection {
        release_first: bool,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    pub label: String,
    pub kind: FaultKind,
    pub at: SimDuration,
    pub recover_at: Option<SimDuration>,
    pub target: FaultTarget,
    /// scale_service: the task count from `at` on (the target lists every task of the
    /// service, the new slots included).
    pub replicas: Option<u32>,
}

impl Fault {
    /// Placement tasks the fault stops.
    pub fn tasks(&self, placement: &Placement) -> Vec<usize> {
        match &self.target {
            FaultTarget::Host(h) => placement
                .tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| t.host == *h)
                .map(|(i, _)| i)
                .collect(),
            FaultTarget::Tasks(t) => t.clone(),
            FaultTarget::Link { .. }
            | FaultTarget::Disk { .. }
            | FaultTarget::Collection { .. } => Vec::new(),
        }
    }

    /// The target as people name it: a host, tasks, or "A | B" for the sides of a
    /// link fault.
    pub fn target_name(&self, topo: &Topology, placement: &Placement) -> String {
        let host = |h: usize| {
            topo.hosts
                .get(h)
                .map_or(CLIENTS.to_string(), |x| x.name.clone())
        };
        match &self.target {
            FaultTarget::Host(h) | FaultTarget::Disk { host: h, .. } => host(*h),
            FaultTarget::Tasks(ts) => ts
                .iter()
                .map(|&t| placement.tasks[t].name.clone())
                .collect::<Vec<_>>()
                .join(","),
            FaultTarget::Link {
                hosts, other_side, ..
            } => {
                let side = |s: &[usize]| s.iter().map(|&h| host(h)).collect::<Vec<_>>().join(",");
                if self.kind == FaultKind::NicDown {
                    side(hosts)
                } else if hosts.len() + other_side.len() == topo.hosts.len() + 1 {
                    format!("{} | everything else", side(hosts))
                } else {
                    format!("{} | {}", side(hosts), side(other_side))
                }
            }
            FaultTarget::Collection { .. } => "collection".into(),
        }
    }
}

/// `[failover]`: timings of detection and repair, and what clients do about errors.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFailover {
    rpc_error_after: Option<Duration>,
    lookaside_unreachable_after: Option<Duration>,
    heartbeat_offline_after: Option<Duration>,
    session_ttl: Option<Duration>,
    checker_interval: Option<Duration>,
    leader_observer_interval: Option<Duration>,
    balance_interval: Option<Duration>,
    health_check_interval: Option<Duration>,
    container_start: Option<Duration>,
    process_init: Option<Duration>,
    coordinator_recovery: Option<Duration>,
    channel_recovery: Option<Duration>,
    segment_load_bandwidth: Option<Bandwidth>,
    client_reconnect: Option<bool>,
    sigterm_reaches_process: Option<bool>,
    graceful_stop_timeout: Option<Duration>,
    etcd_election_timeout: Option<Duration>,
    tcp_retransmit_timeout: Option<Duration>,
    tcp_syn_timeout: Option<Duration>,
    object_client_dial_timeout: Option<Duration>,
    broker_session_timeout: Option<Duration>,
    bookie_client_timeout: Option<Duration>,
    ddl_etcd_writes: Option<u32>,
}

/// Resolved `[failover]` knobs.
#[derive(Clone, Debug, PartialEq)]
pub struct Failover {
    /// reference §1.2 grpc.client.dialTimeout: a call to a dead process fails after
    /// the dial timeout (connection refused or no route).
    pub rpc_error_after: SimDuration,
    /// reference §2.1 item 3 / §2.2: the proxy's look-aside balancer stops choosing an
    /// unreachable query node after about 1-3 s.
    pub lookaside_unreachable_after: SimDuration,
    /// reference §1.7 heartbeatAvailableInterval: a query node without a good
    /// distribution pull for this long counts as offline for GetShardLeaders.
    pub heartbeat_offline_after: SimDuration,
    /// reference §1.2 common.session.ttl: the lease of every session key.
    pub session_ttl: SimDuration,
    /// reference §1.7 checkSegmentInterval / checkChannelInterval.
    pub checker_interval: SimDuration,
    /// reference §1.7: the leader observer syncs distributions to delegators.
    pub leader_observer_interval: SimDuration,
    /// reference §1.7: the balance checker period.
    pub balance_interval: SimDuration,
    /// reference §1.7 checkHealthInterval: node-up events wait for a healthy round.
    pub health_check_interval: SimDuration,
    /// reference §2.10: Milvus containers `sleep 5` before `milvus run`.
    pub container_start: SimDuration,
    /// GUESS: from `milvus run` to a registered, serving process.
    pub process_init: SimDuration,
    /// GUESS: a restarted coordinator reloads its metadata from etcd and pulls the
    /// distribution from the query nodes (reference §2.5 says it happens, not how long).
    pub coordinator_recovery: SimDuration,
    /// GUESS: a new shard delegator subscribes its channel from the checkpoint and
    /// replays unflushed data (reference §2.2); short while nothing is being inserted.
    pub channel_recovery: SimDuration,
    /// Bytes per second one query node turns a downloaded segment into a loaded one
    /// (deserialising and copying; the download itself is bounded by MinIO disks and
    /// NICs, which the model charges separately), when the experiment sets
    /// `segment_load_bandwidth`. By default (None) the load costs the measured CPU per
    /// byte on the node's host (overheads::LOAD_INDEX_NS_PER_BYTE, LOAD_RAW_NS_PER_BYTE).
    pub segment_load_bytes_per_s: Option<f64>,
    /// reference §2.6: the SDK does not fail over to another proxy by itself (false);
    /// true models a client or load balancer that does.
    pub client_reconnect: bool,
    /// reference §2.10 (inference): in the users' stack bash is PID 1 and does not
    /// forward SIGTERM, so a stop is a SIGKILL after the stop grace period (false).
    /// True: milvus gets SIGTERM and stops gracefully (a query node is drained first).
    pub sigterm_reaches_process: bool,
    /// reference §1.2 common.gracefulStopTimeout: how long a graceful stop may take.
    pub graceful_stop_timeout: SimDuration,
    /// reference §2.7: etcd's election timeout (1000 ms by default; the users' stack
    /// keeps it, the Milvus Helm chart uses 2500 ms).
    pub etcd_election_timeout: SimDuration,
    /// GUESS (Linux TCP_RTO_MIN, not in the reference): how long a small message
    /// whose packet a degraded link lost waits for its retransmission.
    pub tcp_retransmit_timeout: SimDuration,
    /// GUESS (Linux `tcp_syn_retries` = 6, not in the reference): a TCP connect to a
    /// host that answers nothing fails after its SYN and 6 retransmissions, 1 + 2 +
    /// ... + 64 = 127 s, unless the application gives up sooner (nginx's
    /// `proxy_connect_timeout`).
    pub tcp_syn_timeout: SimDuration,
    /// GUESS (minio-go v7's `DefaultTransport`, which Milvus's MinIO chunk manager
    /// uses; not in the reference): a Milvus process's connect to object storage gives
    /// up after 30 s and the client tries again on a new connection. It matters when
    /// the connect goes to an nginx task whose host crashed or is cut off, while that
    /// task is still in the service's virtual IP.
    pub object_client_dial_timeout: SimDuration,
    /// reference §2.8 zooKeeperSessionTimeoutMillis: a dead broker's bundles move to
    /// another broker once its ZooKeeper session expires (30 s).
    pub broker_session_timeout: SimDuration,
    /// reference §2.8 bookkeeperClientTimeoutInSeconds: a write to a bookie whose host
    /// hangs fails after this (30 s); a refused connection fails at once.
    pub bookie_client_timeout: SimDuration,
    /// GUESS (the reference says DDL writes metadata to etcd, §2.7, not how many
    /// transactions): the sequential etcd writes of one DDL call (2: create_index
    /// its index meta and segment-index records; load its load info and replicas;
    /// release the removal of both).
    pub ddl_etcd_writes: u32,
}

impl Failover {
    /// From a Milvus container's start to its process serving (`sleep 5`, then start).
    pub fn startup(&self) -> SimDuration {
        self.container_start + self.process_init
    }
}

impl Default for Failover {
    fn default() -> Self {
        Failover {
            rpc_error_after: SimDuration::from_millis(200),
            lookaside_unreachable_after: SimDuration::from_secs(3),
            heartbeat_offline_after: SimDuration::from_secs(10),
            session_ttl: SimDuration::from_secs(60),
            checker_interval: SimDuration::from_secs(1),
            leader_observer_interval: SimDuration::from_secs(1),
            balance_interval: SimDuration::from_secs(10),
            health_check_interval: SimDuration::from_secs(3),
            container_start: SimDuration::from_secs(5),
            process_init: SimDuration::from_secs(2),
            coordinator_recovery: SimDuration::from_secs(5),
            channel_recovery: SimDuration::from_secs(1),
            segment_load_bytes_per_s: None,
            client_reconnect: false,
            sigterm_reaches_process: false,
            graceful_stop_timeout: SimDuration::from_secs(1800),
            etcd_election_timeout: SimDuration::from_millis(1000),
            tcp_retransmit_timeout: SimDuration::from_millis(200),
            tcp_syn_timeout: SimDuration::from_secs(127),
            object_client_dial_timeout: SimDuration::from_secs(30),
            broker_session_timeout: SimDuration::from_secs(30),
            bookie_client_timeout: SimDuration::from_secs(30),
            ddl_etcd_writes: 2,
        }
    }
}

pub(super) fn resolve_failover(raw: &RawFailover) -> Failover {
    let d = Failover::default();
    let pick = |v: &Option<Duration>, default: SimDuration| v.map(|x| x.0).unwrap_or(default);
    Failover {
        rpc_error_after: pick(&raw.rpc_error_after, d.rpc_error_after),
        lookaside_unreachable_after: pick(
            &raw.lookaside_unreachable_after,
            d.lookaside_unreachable_after,
        ),
        heartbeat_offline_after: pick(&raw.heartbeat_offline_after, d.heartbeat_offline_after),
        session_ttl: pick(&raw.session_ttl, d.session_ttl),
        checker_interval: pick(&raw.checker_interval, d.checker_interval),
        leader_observer_interval: pick(&raw.leader_observer_interval, d.leader_observer_interval),
        balance_interval: pick(&raw.balance_interval, d.balance_interval),
        health_check_interval: pick(&raw.health_check_interval, d.health_check_interval),
        container_start: pick(&raw.container_start, d.container_start),
        process_init: pick(&raw.process_init, d.process_init),
        coordinator_recovery: pick(&raw.coordinator_recovery, d.coordinator_recovery),
        channel_recovery: pick(&raw.channel_recovery, d.channel_recovery),
        segment_load_bytes_per_s: raw
            .segment_load_bandwidth
            .map(|b| b.0)
            .or(d.segment_load_bytes_per_s),
        client_reconnect: raw.client_reconnect.unwrap_or(d.client_reconnect),
        sigterm_reaches_process: raw
            .sigterm_reaches_process
            .unwrap_or(d.sigterm_reaches_process),
        graceful_stop_timeout: pick(&raw.graceful_stop_timeout, d.graceful_stop_timeout),
        etcd_election_timeout: pick(&raw.etcd_election_timeout, d.etcd_election_timeout),
        tcp_retransmit_timeout: pick(&raw.tcp_retransmit_timeout, d.tcp_retransmit_timeout),
        tcp_syn_timeout: pick(&raw.tcp_syn_timeout, d.tcp_syn_timeout),
        object_client_dial_timeout: pick(
            &raw.object_client_dial_timeout,
            d.object_client_dial_timeout,
        ),
        broker_session_timeout: pick(&raw.broker_session_timeout, d.broker_session_timeout),
        bookie_client_timeout: pick(&raw.bookie_client_timeout, d.bookie_client_timeout),
        ddl_etcd_writes: raw.ddl_etcd_writes.unwrap_or(d.ddl_etcd_writes),
    }
}

/// Zero-length intervals would make checkers spin; reject them with the key's name.
pub(super) fn check_failover(f: &Failover) -> Result<(), String> {
    for (name, d) in [
        ("checker_interval", f.checker_interval),
        ("leader_observer_interval", f.leader_observer_interval),
        ("balance_interval", f.balance_interval),
        ("health_check_interval", f.health_check_interval),
        ("session_ttl", f.session_ttl),
    ] {
        if d == SimDuration::ZERO {
            return Err(format!("[failover] {name} must be longer than zero"));
        }
    }
    if f.segment_load_bytes_per_s.is_some_and(|b| b <= 0.0) {
        return Err("[failover] segment_load_bandwidth must be positive".into());
    }
    Ok(())
}

/// Resolves the `[[fault]]` entries against the topology and its placement.
pub(super) fn resolve_faults(
    raw: &[RawFault],
    topo: &Topology,
    placement: &mut Placement,
    duration: SimDuration,
    load: Option<&LoadContext>,
    err: &dyn Fn(Range<usize>, String) -> InputError,
    errors: &mut Vec<InputError>,
) -> Vec<Fault> {
    place_scaled_tasks(raw, topo, placement, err, errors);
    let placement = &*placement;
    let mut faults = Vec::new();
    // load_replicas with release_first: (at, replicas, where), checked in time order.
    let mut reloads: Vec<(SimDuration, u32, Range<usize>)> = Vec::new();
    for f in raw {
        let Some(kind) = KINDS
            .iter()
            .find(|(n, _)| *n == f.kind.get_ref())
            .map(|(_, k)| *k)
        else {
            let names: Vec<&str> = KINDS.iter().map(|(n, _)| *n).collect();
            let hint = match closest(f.kind.get_ref(), names.iter().copied()) {
                Some(c) => format!("did you mean {c:?}? simctl models {}", names.join(", ")),
                None => format!("simctl models {}", names.join(", ")),
            };
            errors.push(
                err(
                    f.kind.span(),
                    format!("unknown fault kind {:?}", f.kind.get_ref()),
                )
                .with_hint(hint),
            );
            continue;
        };
        let at = f.at.get_ref().0;
        if at >= duration {
            errors.push(
                err(
                    f.at.span(),
                    format!("the fault at {at} comes after the run ends ({duration})"),
                )
                .with_hint("make `at` earlier or the experiment's duration longer"),
            );
            continue;
        }
        let recover_at = match (&f.duration, &f.recover_at) {
            (Some(d), Some(_)) => {
                errors.push(
                    err(
                        d.span(),
                        "a fault takes `duration` or `recover_at`, not both".into(),
                    )
                    .with_hint("keep one of them"),
                );
                continue;
            }
            (Some(d), None) if d.get_ref().0 == SimDuration::ZERO => {
                errors.push(
                    err(d.span(), "the fault's duration is zero".into())
                        .with_hint("leave `duration` out for a fault that is never repaired"),
                );
                continue;
            }
            (Some(d), None) => Some(at + d.get_ref().0),
            (None, Some(r)) if r.get_ref().0 <= at => {
                errors.push(
                    err(
                        r.span(),
                        format!(
                            "recover_at {} is not after the fault at {at}",
                            r.get_ref().0
                        ),
                    )
                    .with_hint("recover_at is a time from the start of the run, like `at`"),
                );
                continue;
            }
            (None, Some(r)) => Some(r.get_ref().0),
            (None, None) => None,
        };

        if kind == FaultKind::LoadReplicas {
            match resolve_load(f, at, recover_at, topo, placement, load, err) {
                Ok(Some(fault)) => {
                    if fault.target
                        == (FaultTarget::Collection {
                            release_first: true,
                        })
                    {
                        let span = f.replicas.as_ref().map_or(0..0, |r| r.span());
                        reloads.push((at, fault.replicas.unwrap_or(0), span));
                    }
                    faults.push(fault);
                }
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
            continue;
        }
        if let Some(r) = &f.release_first {
            errors.push(
                err(
                    r.span(),
                    format!("a {} takes no `release_first`", kind.name()),
                )
                .with_hint("`release_first` belongs to load_replicas"),
            );
            continue;
        }
        if kind.is_link_or_disk() {
            match resolve_link_or_disk(f, kind, at, recover_at, topo, placement, err) {
                Ok(fault) => faults.push(fault),
                Err(e) => errors.push(e),
            }
            continue;
        }
        let extra: Vec<(&str, Option<Range<usize>>)> = f
            .link_keys()
            .into_iter()
            .chain([(
                "replicas",
                f.replicas
                    .as_ref()
                    .filter(|_| kind != FaultKind::ScaleService)
                    .map(|v| v.span()),
            )])
            .filter(|(_, s)| s.is_some())
            .collect();
        if let Some((key, Some(span))) = extra.first().cloned() {
            errors.push(
                err(span, format!("a {} takes no `{key}`", kind.name())).with_hint(
                    "`hosts`, `other_side`, `latency`, `bandwidth_factor`, `loss` and `factor` belong to link and disk faults, `replicas` to scale_service",
                ),
            );
            continue;
        }
        let targets: Vec<(&str, &Spanned<String>)> = [
            ("host", &f.host),
            ("service", &f.service),
            ("task", &f.task),
        ]
        .into_iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (n, v)))
        .collect();
        let (what, name) = match targets.as_slice() {
            [one] => *one,
            [] => {
                errors.push(
                    err(f.kind.span(), "the fault names no target".into())
                        .with_hint("add host = \"...\", service = \"...\" or task = \"...\""),
                );
                continue;
            }
            [_, second, ..] => {
                errors.push(
                    err(
                        second.1.span(),
                        "a fault names one target: host, service or task".into(),
                    )
                    .with_hint("split it into two [[fault]] entries"),
                );
                continue;
            }
        };
        let target = match what {
            "host" => match topo.host_index(name.get_ref()) {
                Some(h) => FaultTarget::Host(h),
                None => {
                    errors.push(unknown(
                        err(
                            name.span(),
                            format!("there is no host {:?} in the topology", name.get_ref()),
                        ),
                        name.get_ref(),
                        topo.hosts.iter().map(|h| h.name.as_str()),
                    ));
                    continue;
                }
            },
            // A standalone's roles share one process: naming it names them all.
            "service" => match topo
                .services
                .iter()
                .position(|s| s.answers_to(name.get_ref()))
            {
                Some(_) => FaultTarget::Tasks(
                    placement
                        .tasks
                        .iter()
                        .enumerate()
                        .filter(|(_, t)| topo.services[t.service].answers_to(name.get_ref()))
                        .map(|(i, _)| i)
                        .collect(),
                ),
                None => {
                    errors.push(unknown(
                        err(
                            name.span(),
                            format!("there is no service {:?} in the topology", name.get_ref()),
                        ),
                        name.get_ref(),
                        topo.services.iter().map(|s| s.name.as_str()),
                    ));
                    continue;
                }
            },
            _ => match placement
                .tasks
                .iter()
                .position(|t| &t.name == name.get_ref())
            {
                Some(t) => FaultTarget::Tasks(vec![t]),
                None => {
                    errors.push(unknown(
                        err(
                            name.span(),
                            format!("no task is named {:?}", name.get_ref()),
                        ),
                        name.get_ref(),
                        placement.tasks.iter().map(|t| t.name.as_str()),
                    ));
                    continue;
                }
            },
        };
        let host_kind = matches!(
            kind,
            FaultKind::HostCrash | FaultKind::HostStart | FaultKind::DrainHost
        );
        if host_kind && what != "host" {
            errors.push(
                err(
                    name.span(),
                    format!("a {} targets a host, not a {what}", kind.name()),
                )
                .with_hint(
                    "write host = \"...\", or use kind = \"process_crash\" for a service or task",
                ),
            );
            continue;
        }
        if !host_kind && what == "host" {
            errors.push(
                err(
                    name.span(),
                    format!("a {} targets a service or task, not a host", kind.name()),
                )
                .with_hint(
                    "write service = \"...\" or task = \"...\", or use kind = \"host_crash\"",
                ),
            );
            continue;
        }
        let mut replicas = None;
        if kind == FaultKind::ScaleService {
            if what != "service" {
                errors.push(
                    err(
                        name.span(),
                        format!("a scale_service targets a service, not a {what}"),
                    )
                    .with_hint("write service = \"...\""),
                );
                continue;
            }
            let Some(service) = topo.services.iter().find(|s| &s.name == name.get_ref()) else {
                errors.push(
                    err(
                        name.span(),
                        format!("{:?} is a standalone process: its roles cannot be scaled one by one", name.get_ref()),
                    )
                    .with_hint("scale_service scales a cluster-mode service (query nodes, index nodes, proxies)"),
                );
                continue;
            };
            match scale_count(f, kind, service, err) {
                Ok(n) => replicas = Some(n),
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            }
            if let Some(span) = f
                .duration
                .as_ref()
                .map(|d| d.span())
                .or(f.recover_at.as_ref().map(|r| r.span()))
            {
                errors.push(
                    err(
                        span,
                        "a scale_service sets the task count for good; it takes no duration or recover_at".into(),
                    )
                    .with_hint("add a second scale_service entry to scale back"),
                );
                continue;
            }
        }
        if kind == FaultKind::HostStart && recover_at.is_some() {
            errors.push(
                err(
                    f.kind.span(),
                    "a host_start powers a host on for good; it takes no duration or recover_at"
                        .into(),
                )
                .with_hint("add a host_crash entry to take it down again"),
            );
            continue;
        }
        let fault = Fault {
            label: f
                .name
                .clone()
                .unwrap_or_else(|| format!("{} {}", kind.name(), name.get_ref())),
            kind,
            at,
            recover_at,
            target,
            replicas,
        };
        // Faults must change something this release simulates; say so rather than
        // run an experiment that silently ignores them.
        let tasks = fault.tasks(placement);
        let process_of = |t: &usize| topo.services[placement.tasks[*t].service].process.as_ref();
        if let Some(p) = tasks.iter().find_map(process_of) {
            let all = placement
                .tasks
                .iter()
                .filter(|t| topo.services[t.service].process.as_ref() == Some(p))
                .count();
            if tasks.iter().filter(|t| process_of(t) == Some(p)).count() < all {
                errors.push(
                    err(
                        name.span(),
                        format!(
                            "{what} {:?} is one role of Milvus standalone {p:?}, whose roles share one process",
                            name.get_ref()
                        ),
                    )
                    .with_hint(format!("target the whole process: service = \"{p}\"")),
                );
                continue;
            }
        }
        // etcd members matter through their quorum (reference §2.7), MinIO servers
        // through the erasure set's read and write quorums (reference §2.9), nginx
        // as the way to MinIO (reference §1.10).
        let simulated = tasks
            .iter()
            .any(|&t| topo.services[placement.tasks[t].service].kind.modelled());
        if !simulated {
            let kinds: Vec<&str> = tasks
                .iter()
                .map(|&t| topo.services[placement.tasks[t].service].kind.name())
                .collect();
            errors.push(
                err(
                    name.span(),
                    format!(
                        "{} {:?} runs {}, which this release places but does not simulate, so the fault would change nothing",
                        what,
                        name.get_ref(),
                        if kinds.is_empty() { "no task".to_string() } else { kinds.join(", ") }
                    ),
                )
                .with_hint(format!(
                    "faults can target the simulated components: {}",
                    simulated_kinds().join(", ")
                )),
            );
            continue;
        }
        faults.push(fault);
    }
    // Each reload must load more replicas than the one before it (or the collection).
    reloads.sort_by_key(|r| r.0);
    let mut current = load.map_or(0, |l| l.replicas);
    for (at, n, span) in reloads {
        if n <= current {
            errors.push(
                err(
                    span,
                    format!("at {at} the collection already has {current} replica(s); this release models loading more, not fewer"),
                )
                .with_hint(format!("give replicas above {current}")),
            );
        }
        current = current.max(n);
    }
    faults
}

/// A load_replicas entry: the collection's new replica number, checked against the
/// collection and the query nodes. `Ok(None)` when the collection is not resolved (its
/// own errors are reported).
fn resolve_load(
    f: &RawFault,
    at: SimDuration,
    recover_at: Option<SimDuration>,
    topo: &Topology,
    placement: &Placement,
    load: Option<&LoadContext>,
    err: &dyn Fn(Range<usize>, String) -> InputError,
) -> Result<Option<Fault>, InputError> {
    let foreign = [
        ("host", f.host.as_ref().map(|v| v.span())),
        ("service", f.service.as_ref().map(|v| v.span())),
        ("task", f.task.as_ref().map(|v| v.span())),
        ("duration", f.duration.as_ref().map(|v| v.span())),
        ("recover_at", f.recover_at.as_ref().map(|v| v.span())),
    ];
    let mut foreign = foreign.into_iter().chain(f.link_keys());
    if let Some((key, Some(span))) = foreign.find(|(_, s)| s.is_some()) {
        return Err(
            err(span, format!("a load_replicas takes no `{key}`")).with_hint(
                "it acts on the experiment's collection: give `replicas` (and `release_first`)",
            ),
        );
    }
    debug_assert!(recover_at.is_none());
    let Some(n) = &f.replicas else {
        return Err(err(
            f.kind.span(),
            "a load_replicas needs `replicas`, the replica number to load".into(),
        )
        .with_hint("add replicas = N"));
    };
    let Some(ctx) = load else {
        return Ok(None);
    };
    let query_nodes = placement
        .tasks
        .iter()
        .filter(|t| topo.services[t.service].kind == ServiceKind::Querynode)
        .count() as i64;
    let want = *n.get_ref();
    let max = i64::from(MAX_REPLICAS).min(query_nodes);
    if want < 1 || want > max {
        return Err(err(
            n.span(),
            format!("replicas = {want} is out of range: the topology has {query_nodes} query node(s)"),
        )
        .with_hint(format!(
            "give 1 to {max}: each replica needs a query node, and simctl tracks at most {MAX_REPLICAS}"
        )));
    }
    // load(replica_number=N) changes a loaded collection: before the application's
    // own load() there is nothing to change (its replicas are collection.replicas),
    // and its release() and load() again are not modelled beside another load().
    // (With load = "after_flush"/"after_index" the time is known only as the run
    // plays: querycoord says so then.)
    if let super::experiment::DdlWhen::At(t) = ctx.ddl.load {
        if at <= t {
            return Err(err(
                f.at.span(),
                format!(
                    "a load_replicas at {at} targets a collection not loaded yet (its load() comes at {t})"
                ),
            )
            .with_hint(
                "set the replica number of the first load with collection.replicas, or move the load_replicas after [workload.ddl] load",
            ));
        }
    }
    if let Some(d) = ctx.ddl.drop.filter(|&d| at >= d) {
        return Err(err(
            f.at.span(),
            format!(
                "a load_replicas at {at} targets a collection dropped at {d} (workload.ddl.drop)"
            ),
        )
        .with_hint("move the load_replicas before the drop, or the drop after it"));
    }
    if let Some(r) = ctx.ddl.release {
        return Err(err(
            f.kind.span(),
            format!("a load_replicas is not modelled together with workload.ddl.release (at {r})"),
        )
        .with_hint(
            "play the replica change or the application's release() and load() again, not both",
        ));
    }
    let release_first = f.release_first.as_ref().is_some_and(|r| *r.get_ref());
    if release_first && (ctx.inserts || ctx.cold_start) {
        let what = if ctx.inserts {
            "an insert or upsert workload"
        } else {
            "a cold start"
        };
        return Err(err(
            f.kind.span(),
            format!("a load_replicas with release_first is not modelled together with {what}"),
        )
        .with_hint(
            "run it on an already loaded collection without [workload.insert] or cold_start",
        ));
    }
    Ok(Some(Fault {
        label: f.name.clone().unwrap_or_else(|| {
            format!(
                "load_replicas {want}{}",
                if release_first {
                    " (release first)"
                } else {
                    ""
                }
            )
        }),
        kind: FaultKind::LoadReplicas,
        at,
        recover_at: None,
        target: FaultTarget::Collection { release_first },
        replicas: Some(want as u32),
    }))
}

/// A scale_service's `replicas`: present, in range, and the service one the model
/// can scale.
fn scale_count(
    f: &RawFault,
    kind: FaultKind,
    service: &super::topology::ServiceSpec,
    err: &dyn Fn(Range<usize>, String) -> InputError,
) -> Result<u32, InputError> {
    let Some(n) = &f.replicas else {
        return Err(err(
            f.kind.span(),
            format!(
                "a {} needs `replicas`, the task count from `at` on",
                kind.name()
            ),
        )
        .with_hint("add replicas = N"));
    };
    if !(1..=MAX_SCALE).contains(n.get_ref()) {
        return Err(err(
            n.span(),
            format!("replicas = {} is out of range", n.get_ref()),
        )
        .with_hint(format!("give 1 to {MAX_SCALE}")));
    }
    if service.mode == super::topology::ServiceMode::Global {
        return Err(err(
            n.span(),
            format!(
                "service {:?} is global: Swarm runs one task per eligible host",
                service.name
            ),
        )
        .with_hint("add a host with host_start instead"));
    }
    if !SCALABLE.contains(&service.kind) {
        return Err(err(
            n.span(),
            format!(
                "this release scales {} services; {:?} is a {}",
                SCALABLE.map(|k| k.name()).join(", "),
                service.name,
                service.kind.name()
            ),
        )
        .with_hint(
            "coordinators run one active instance, and etcd, MinIO and Pulsar membership changes are not scale operations",
        ));
    }
    Ok(*n.get_ref() as u32)
}

/// Places, before anything else is resolved, the tasks that scale_service entries add:
/// a later fault may then name them (`task = "querynode.7"`).
fn place_scaled_tasks(
    raw: &[RawFault],
    topo: &Topology,
    placement: &mut Placement,
    err: &dyn Fn(Range<usize>, String) -> InputError,
    errors: &mut Vec<InputError>,
) {
    for f in raw.iter().filter(|f| f.kind.get_ref() == "scale_service") {
        let (Some(name), Some(n)) = (&f.service, &f.replicas) else {
            continue; // reported with the entry
        };
        let Some(si) = topo.services.iter().position(|s| &s.name == name.get_ref()) else {
            continue;
        };
        if scale_count(f, FaultKind::ScaleService, &topo.services[si], err).is_err() {
            continue;
        }
        if let Err(m) =
            crate::swarm::placement::add_replicas(topo, placement, si, *n.get_ref() as u32)
        {
            errors.push(err(n.span(), m).with_hint(
                "relax the service's constraints, add eligible hosts or ask for fewer replicas",
            ));
        }
    }
}

fn simulated_kinds() -> Vec<&'static str> {
    [
        ServiceKind::Etcd,
        ServiceKind::Minio,
        ServiceKind::Nginx,
        ServiceKind::Proxy,
        ServiceKind::Rootcoord,
        ServiceKind::Querycoord,
        ServiceKind::Querynode,
        ServiceKind::Datacoord,
        ServiceKind::Datanode,
        ServiceKind::Indexnode,
        ServiceKind::Broker,
        ServiceKind::Bookie,
    ]
    .iter()
    .map(|k| k.name())
    .collect()
}

fn unknown<'a>(e: InputError, name: &str, known: impl Iterator<Item = &'a str>) -> InputError {
    let known: Vec<&str> = known.collect();
    match closest(name, known.iter().copied()) {
        Some(c) => e.with_hint(format!("did you mean {c:?}?")),
        None => e.with_hint(format!("known names: {}", known.join(", "))),
    }
}

/// One side of a link fault as written: host indexes and where the list is.
type Side = (Vec<usize>, Range<usize>);

/// A link or disk fault: its sides (or host) and what it does, checked against the
/// topology.
fn resolve_link_or_disk(
    f: &RawFault,
    kind: FaultKind,
    at: SimDuration,
    recover_at: Option<SimDuration>,
    topo: &Topology,
    placement: &Placement,
    err: &dyn Fn(Range<usize>, String) -> InputError,
) -> Result<Fault, InputError> {
    let clients = topo.hosts.len();
    if let Some(x) = f.service.as_ref().or(f.task.as_ref()) {
        return Err(err(
            x.span(),
            format!("a {} targets hosts, not a service or task", kind.name()),
        )
        .with_hint("write host = \"...\" (or hosts = [...] for a link fault)"));
    }
    let link = matches!(
        kind,
        FaultKind::NetworkPartition | FaultKind::LinkDegradation
    );
    // Keys that belong to other kinds.
    let foreign: Vec<(&str, Option<Range<usize>>)> = match kind {
        FaultKind::NetworkPartition => vec![
            ("latency", f.latency.as_ref().map(|v| v.span())),
            (
                "bandwidth_factor",
                f.bandwidth_factor.as_ref().map(|v| v.span()),
            ),
            ("loss", f.loss.as_ref().map(|v| v.span())),
            ("factor", f.factor.as_ref().map(|v| v.span())),
        ],
        FaultKind::LinkDegradation => vec![("factor", f.factor.as_ref().map(|v| v.span()))],
        FaultKind::SlowDisk => vec![
            ("hosts", f.hosts.as_ref().map(|v| v.span())),
            ("other_side", f.other_side.as_ref().map(|v| v.span())),
            ("latency", f.latency.as_ref().map(|v| v.span())),
            (
                "bandwidth_factor",
                f.bandwidth_factor.as_ref().map(|v| v.span()),
            ),
            ("loss", f.loss.as_ref().map(|v| v.span())),
        ],
        FaultKind::NicDown => vec![
            ("other_side", f.other_side.as_ref().map(|v| v.span())),
            ("latency", f.latency.as_ref().map(|v| v.span())),
            (
                "bandwidth_factor",
                f.bandwidth_factor.as_ref().map(|v| v.span()),
            ),
            ("loss", f.loss.as_ref().map(|v| v.span())),
            ("factor", f.factor.as_ref().map(|v| v.span())),
        ],
        _ => vec![
            ("hosts", f.hosts.as_ref().map(|v| v.span())),
            ("other_side", f.other_side.as_ref().map(|v| v.span())),
            ("latency", f.latency.as_ref().map(|v| v.span())),
            (
                "bandwidth_factor",
                f.bandwidth_factor.as_ref().map(|v| v.span()),
            ),
            ("loss", f.loss.as_ref().map(|v| v.span())),
            ("factor", f.factor.as_ref().map(|v| v.span())),
        ],
    };
    if let Some((key, Some(span))) = foreign.into_iter().find(|(_, s)| s.is_some()) {
        return Err(
            err(span, format!("a {} takes no `{key}`", kind.name())).with_hint(match kind {
                FaultKind::NetworkPartition => "a partition cuts the path; use kind = \"link_degradation\" to slow it",
                FaultKind::LinkDegradation => "`factor` slows a disk (kind = \"slow_disk\"); a link takes bandwidth_factor",
                FaultKind::SlowDisk => "a slow_disk takes host = \"...\" and factor = N",
                FaultKind::NicDown => "a nic_down cuts its hosts from everything: it takes host = \"...\" or hosts = [...]",
                _ => "a disk_full takes host = \"...\" only",
            }),
        );
    }
    let host_index = |name: &Spanned<String>, allow_clients: bool| -> Result<usize, InputError> {
        if allow_clients && name.get_ref() == CLIENTS {
            return Ok(clients);
        }
        topo.host_index(name.get_ref()).ok_or_else(|| {
            let e = err(
                name.span(),
                format!("there is no host {:?} in the topology", name.get_ref()),
            );
            let mut known: Vec<&str> = topo.hosts.iter().map(|h| h.name.as_str()).collect();
            if allow_clients {
                known.push(CLIENTS);
            }
            unknown(e, name.get_ref(), known.into_iter())
        })
    };
    // One side: `host` or `hosts`.
    let side = |what: &str,
                one: Option<&Spanned<String>>,
                many: Option<&Spanned<Vec<Spanned<String>>>>|
     -> Result<Option<Side>, InputError> {
        let (names, span): (Vec<&Spanned<String>>, Range<usize>) = match (one, many) {
            (Some(_), Some(m)) => {
                return Err(err(
                    m.span(),
                    format!("a fault takes `host` or `{what}`, not both"),
                )
                .with_hint("keep one of them"))
            }
            (Some(h), None) => (vec![h], h.span()),
            (None, Some(m)) => (m.get_ref().iter().collect(), m.span()),
            (None, None) => return Ok(None),
        };
        if names.is_empty() {
            return Err(err(span, format!("`{what}` is empty"))
                .with_hint("name at least one host (or \"clients\"), or leave the key out"));
        }
        let mut out = Vec::new();
        for n in names {
            let h = host_index(n, link)?;
            if out.contains(&h) {
                return Err(err(n.span(), format!("{:?} is listed twice", n.get_ref()))
                    .with_hint("list each host once"));
            }
            out.push(h);
        }
        Ok(Some((out, span)))
    };
    let hosts_key = if link || kind == FaultKind::NicDown {
        f.hosts.as_ref()
    } else {
        None
    };
    let Some((hosts, hosts_span)) = side("hosts", f.host.as_ref(), hosts_key)? else {
        return Err(
            err(f.kind.span(), "the fault names no host".into()).with_hint(if link {
                "add hosts = [\"...\"] (and optionally other_side = [...])"
            } else {
                "add host = \"...\""
            }),
        );
    };
    let label_target = |hosts: &[usize]| {
        hosts
            .iter()
            .map(|&h| topo.hosts.get(h).map_or(CLIENTS, |x| x.name.as_str()))
            .collect::<Vec<_>>()
            .join(",")
    };
    let label = f
        .name
        .clone()
        .unwrap_or_else(|| format!("{} {}", kind.name(), label_target(&hosts)));
    let all: Vec<usize> = (0..=clients).collect();
    let target = match kind {
        FaultKind::NetworkPartition | FaultKind::LinkDegradation => {
            let other = match side("other_side", None, f.other_side.as_ref())? {
                Some((other, span)) => {
                    if let Some(&h) = other.iter().find(|h| hosts.contains(h)) {
                        return Err(err(
                            span,
                            format!(
                                "{:?} is on both sides",
                                topo.hosts.get(h).map_or(CLIENTS, |x| x.name.as_str())
                            ),
                        )
                        .with_hint(
                            "a host is on one side of a link fault; remove it from one list",
                        ));
                    }
                    other
                }
                None => all.iter().copied().filter(|h| !hosts.contains(h)).collect(),
            };
            if other.is_empty() {
                return Err(err(
                    hosts_span,
                    "`hosts` names every host and the clients: the other side is empty".into(),
                )
                .with_hint(
                    "leave some hosts out, or name the other side with other_side = [...]",
                ));
            }
            let degradation = if kind == FaultKind::LinkDegradation {
                Some(degradation(f, err)?)
            } else {
                None
            };
            FaultTarget::Link {
                hosts,
                other_side: other,
                degradation,
            }
        }
        // Each host is cut from everything else, the others listed included.
        FaultKind::NicDown => FaultTarget::Link {
            other_side: all.iter().copied().filter(|x| !hosts.contains(x)).collect(),
            hosts,
            degradation: None,
        },
        FaultKind::SlowDisk => {
            let Some(factor) = &f.factor else {
                return Err(err(f.kind.span(), "a slow_disk needs `factor`".into())
                    .with_hint("add factor = 10 for a disk ten times slower"));
            };
            let x = *factor.get_ref();
            if !(x > 1.0 && x <= 1000.0) {
                return Err(err(
                    factor.span(),
                    format!("factor {x} is out of range: a slow disk is 1 < factor <= 1000 times slower"),
                )
                .with_hint("factor = 10 makes the disk ten times slower"));
            }
            FaultTarget::Disk {
                host: hosts[0],
                slowdown: Some(x),
            }
        }
        _ => FaultTarget::Disk {
            host: hosts[0],
            slowdown: None,
        },
    };
    let fault = Fault {
        label,
        kind,
        at,
        recover_at,
        target,
        replicas: None,
    };
    check_effect(&fault, topo, placement, hosts_span, err)?;
    Ok(fault)
}

/// `latency`, `bandwidth_factor` and `loss` of a link_degradation, in range.
fn degradation(
    f: &RawFault,
    err: &dyn Fn(Range<usize>, String) -> InputError,
) -> Result<Degradation, InputError> {
    let mut d = Degradation::NONE;
    if let Some(l) = &f.latency {
        d.extra_latency = l.get_ref().0;
    }
    if let Some(b) = &f.bandwidth_factor {
        let x = *b.get_ref();
        if !(x > 0.0 && x <= 1.0) {
            return Err(err(
                b.span(),
                format!("bandwidth_factor {x} is out of range: 0 < bandwidth_factor <= 1"),
            )
            .with_hint("bandwidth_factor = 0.1 leaves a tenth of the bandwidth"));
        }
        d.bandwidth_factor = x;
    }
    if let Some(p) = &f.loss {
        let x = *p.get_ref();
        if !(0.0..0.5).contains(&x) {
            return Err(err(
                p.span(),
                format!("loss {x} is out of range: 0 <= loss < 0.5 (a share of packets, not a percentage)"),
            )
            .with_hint("loss = 0.01 loses one packet in a hundred"));
        }
        d.loss = x;
    }
    if d == Degradation::NONE {
        return Err(
            err(f.kind.span(), "the link_degradation changes nothing".into())
                .with_hint("add latency = \"5ms\", bandwidth_factor = 0.1 or loss = 0.01"),
        );
    }
    Ok(d)
}

/// A link or disk fault must touch something this release simulates.
fn check_effect(
    fault: &Fault,
    topo: &Topology,
    placement: &Placement,
    span: Range<usize>,
    err: &dyn Fn(Range<usize>, String) -> InputError,
) -> Result<(), InputError> {
    // Hosts running a simulated process, an etcd member or a MinIO server (segment
    // loads read from it); the clients always matter.
    let matters = |h: usize| {
        h == topo.hosts.len()
            || placement.tasks.iter().any(|t| {
                let k = topo.services[t.service].kind;
                t.host == h && k.modelled()
            })
    };
    match &fault.target {
        FaultTarget::Link {
            hosts, other_side, ..
        } => {
            if hosts.iter().any(|&h| matters(h)) && other_side.iter().any(|&h| matters(h)) {
                return Ok(());
            }
            Err(err(
                span,
                "no simulated process, etcd member, MinIO server or client is on both sides, so the fault would change nothing".into(),
            )
            .with_hint(format!(
                "put hosts running {} (or \"clients\") on both sides",
                simulated_kinds().join(", ")
            )))
        }
        FaultTarget::Disk { host, slowdown } => {
            // A slow disk slows reads: the disks this release reads are MinIO's
            // (segment loads); and etcd's fsyncs (the DDL calls' metadata writes). A
            // full one fails writes: bookies' journals and entry logs, MinIO's drives.
            let (kinds, runs_none, none_anywhere, runs_on): (&[ServiceKind], _, _, _) = if slowdown
                .is_some()
            {
                (
                        &[ServiceKind::Minio, ServiceKind::Etcd],
                        "no MinIO server (segment loads read its disk) and no etcd member (DDL metadata writes sync its disk)",
                        "no host of this topology runs MinIO or etcd: nothing reads or syncs a disk",
                        "MinIO and etcd run on",
                    )
            } else {
                (
                    &[ServiceKind::Bookie, ServiceKind::Minio],
                    "no bookie or MinIO server, the disks this release writes to",
                    "no host of this topology runs a bookie or MinIO",
                    "bookies and MinIO run on",
                )
            };
            let uses = |h: usize| {
                placement
                    .tasks
                    .iter()
                    .any(|t| t.host == h && kinds.contains(&topo.services[t.service].kind))
            };
            if uses(*host) {
                return Ok(());
            }
            let hosts: Vec<&str> = (0..topo.hosts.len())
                .filter(|&h| uses(h))
                .map(|h| topo.hosts[h].name.as_str())
                .collect();
            Err(err(
                span,
                format!(
                    "host {:?} runs {runs_none}, so the fault would change nothing",
                    topo.hosts[*host].name
                ),
            )
            .with_hint(if hosts.is_empty() {
                none_anywhere.to_string()
            } else {
                format!("{runs_on}: {}", hosts.join(", "))
            }))
        }
        _ => Ok(()),
    }
}
