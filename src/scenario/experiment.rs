//! Experiment files: which topology, what data, what load, which Milvus settings, and
//! what must hold at the end.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::{closest, InputError, InputErrors};
use super::faults::{
    check_failover, resolve_failover, resolve_faults, Failover, Fault, RawFailover, RawFault,
};
use super::load::{parse_toml, read_file};
use super::milvus_config::{MilvusConfig, SetError, KEYS};
use super::topology::{load_topology_with, ServiceKind, SourceSpot, Topology};
use super::units::Duration;
use crate::engine::SimDuration;
use crate::hw::{IndexKind, IndexSpec, SearchSpec};
use crate::swarm::{place, Placement};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExperiment {
    name: Option<String>,
    description: Option<String>,
    topology: Spanned<String>,
    duration: Spanned<Duration>,
    warmup: Option<Spanned<Duration>>,
    /// Start from a cold cluster: every task deployed in the users' start order.
    cold_start: Option<bool>,
    /// Where rootcoord's own time-tick loop falls after the proxies' reports.
    tick_phase: Option<Spanned<Duration>>,
    /// The share of time ticks that carry a timestamp one interval old.
    stale_ticks: Option<Spanned<f64>>,
    seed: Option<Spanned<i64>>,
    collection: RawCollection,
    workload: RawWorkload,
    #[serde(default)]
    milvus: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default, rename = "assert")]
    asserts: Vec<RawAssert>,
    test: Option<RawTest>,
    /// `[sweep]`: keys to vary (as for --set) and their values, plus `seeds`.
    #[serde(default)]
    sweep: BTreeMap<String, Spanned<Vec<toml::Value>>>,
    #[serde(default, rename = "fault")]
    faults: Vec<RawFault>,
    #[serde(default)]
    failover: RawFailover,
    #[serde(default)]
    nginx: super::nginx::RawNginx,
}

/// `[test]`: how `simctl test` runs this experiment (e.g. shorter, for CI).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTest {
    #[serde(default)]
    set: Vec<Spanned<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Metric {
    L2,
    IP,
    COSINE,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCollection {
    rows: Spanned<i64>,
    dim: Spanned<i64>,
    metric: Metric,
    index: Spanned<IndexKind>,
    #[serde(default)]
    index_params: RawIndexParams,
    shards: Option<Spanned<i64>>,
    replicas: Option<Spanned<i64>>,
    segment_fill: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawIndexParams {
    #[serde(rename = "M")]
    hnsw_m: Option<Spanned<i64>>,
    #[serde(rename = "efConstruction")]
    ef_construction: Option<Spanned<i64>>,
    nlist: Option<Spanned<i64>>,
    m: Option<Spanned<i64>>,
    nbits: Option<Spanned<i64>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Consistency {
    Strong,
    Bounded,
    Session,
    Eventually,
}

/// Session consistency (`[workload] session`): which process the searching clients'
/// session is. pymilvus keeps the timestamp of the last write per collection in the
/// client process (its `ts_utils` singleton) and sends it as a Session search's
/// guarantee, 1 (Eventually) when that process wrote nothing (reference §1.12: a
/// session waits for its own last write; the per-process scope is inference from the
/// pymilvus source, not in the reference).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionScope {
    /// One application writes and searches: a Session search waits for the newest
    /// acknowledged write (insert or delete) of the whole workload.
    Shared,
    /// The searching clients run in other processes than the writers: they have no
    /// write of their own, so a Session search reads as Eventually.
    Separate,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProxySelection {
    RoundRobin,
    Random,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    search_qps: Option<Spanned<f64>>,
    clients: Option<Spanned<i64>>,
    think_time: Option<Duration>,
    nq: Option<Spanned<i64>>,
    topk: Option<Spanned<i64>>,
    consistency: Option<Consistency>,
    session: Option<SessionScope>,
    /// The host the clients run on, and the CPU each request costs them there.
    client_host: Option<Spanned<String>>,
    client_cpu: Option<Spanned<Duration>>,
    #[serde(default)]
    search_params: RawSearchParams,
    proxy_selection: Option<ProxySelection>,
    /// Client-side deadline of each search (pymilvus `timeout=`); none by default.
    timeout: Option<Spanned<Duration>>,
    /// How many times a client sends a failed search again; 0 by default.
    retries: Option<Spanned<i64>>,
    /// The wait before the first retry; it doubles each time up to `retry_backoff_max`.
    retry_backoff: Option<Spanned<Duration>>,
    retry_backoff_max: Option<Spanned<Duration>>,
    /// `[workload.insert]`: rows written while the run plays (the write path).
    insert: Option<RawInsert>,
    /// `[workload.query]`: queries by primary key beside the searches.
    query: Option<Spanned<RawQuery>>,
    /// `[workload.delete]`: deletes by primary key.
    delete: Option<RawDelete>,
    /// `[workload.upsert]`: rows replacing rows of the same keys.
    upsert: Option<RawUpsert>,
    /// `[workload.ddl]`: when the application creates the index and loads.
    ddl: Option<RawDdl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDdl {
    create_index: Option<Spanned<String>>,
    load: Option<Spanned<String>>,
    release: Option<Spanned<String>>,
    reload: Option<Spanned<String>>,
    drop: Option<Spanned<String>>,
    create: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawQuery {
    qps: Option<Spanned<f64>>,
    clients: Option<Spanned<i64>>,
    think_time: Option<Duration>,
    ids: Option<Spanned<i64>>,
    output_vector: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDelete {
    rows: Spanned<i64>,
    rate: Spanned<f64>,
    batch_rows: Option<Spanned<i64>>,
    start: Option<Duration>,
    order: Option<DeleteOrder>,
    by: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInsert {
    rows: Spanned<i64>,
    rate: Option<Spanned<f64>>,
    clients: Option<Spanned<i64>>,
    batch_rows: Option<Spanned<i64>>,
    start: Option<Duration>,
    flush: Option<bool>,
}

/// `[workload.upsert]`: the insert's keys but flush (an upsert replaces rows, it
/// does not load them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUpsert {
    rows: Spanned<i64>,
    rate: Option<Spanned<f64>>,
    clients: Option<Spanned<i64>>,
    batch_rows: Option<Spanned<i64>>,
    start: Option<Duration>,
}

impl RawUpsert {
    /// The same keys as an insert table without flush().
    fn as_insert(&self) -> RawInsert {
        RawInsert {
            rows: self.rows.clone(),
            rate: self.rate.clone(),
            clients: self.clients.clone(),
            batch_rows: self.batch_rows.clone(),
            start: self.start,
            flush: Some(false),
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawSearchParams {
    ef: Option<Spanned<i64>>,
    nprobe: Option<Spanned<i64>>,
    search_list: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssert {
    expr: Spanned<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Collection {
    pub rows: u64,
    pub metric: Metric,
    pub index: IndexSpec,
    pub ef_construction: Option<u32>,
    pub shards: u32,
    pub replicas: u32,
    /// Fraction of the max segment rows each sealed segment holds (1.0 = compacted).
    pub segment_fill: f64,
    /// reference §1.13: int64 primary key + float vector = 8 + 4 x dim bytes: what a
    /// row weighs in messages, binlogs and a query node's memory.
    pub row_bytes: u64,
    /// Where `rows` and `replicas` (or the table) are written, for layout errors.
    pub rows_at: SourceSpot,
    pub replicas_at: SourceSpot,
}

/// Bytes of the two system fields every row carries, row id and timestamp (int64 each).
/// Measured (Milvus 2.3.5, experiments/fidelity segments.py): datacoord logs max rows
/// 125,203 for maxSize 64 MB at dim 128, 536 bytes a row, where reference §1.13
/// counts key and vector only.
pub const SYSTEM_FIELD_BYTES: u64 = 16;

impl Collection {
    /// datacoord's estimate of a row's size, from which it derives max rows per
    /// segment: key, vector and the system fields (see [`SYSTEM_FIELD_BYTES`]).
    pub fn estimated_row_bytes(&self) -> u64 {
        self.row_bytes + SYSTEM_FIELD_BYTES
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Arrivals {
    /// No searches (an ingest-only workload).
    Off,
    /// Poisson arrivals at this rate (open loop).
    OpenLoop { qps: f64 },
    /// N clients, each sending its next request `think` after the last reply.
    ClosedLoop { clients: u32, think: SimDuration },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Workload {
    pub arrivals: Arrivals,
    pub search: SearchSpec,
    pub consistency: Consistency,
    /// Whose last write a Session search waits for.
    pub session: SessionScope,
    pub proxy_selection: ProxySelection,
    pub insert: Option<InsertSpec>,
    /// Queries by primary key (`[workload.query]`).
    pub query: Option<QuerySpec>,
    /// Deletes by primary key (`[workload.delete]`).
    pub delete: Option<DeleteSpec>,
    /// Upserts (`[workload.upsert]`): the insert workload's shape, without flush().
    pub upsert: Option<InsertSpec>,
    /// When the application calls create_index() and load() (`[workload.ddl]`).
    pub ddl: DdlSpec,
    /// Clients that run on a host of the topology and use its CPU.
    pub client_cpu: Option<ClientCpu>,
    /// Client-side deadline of each search: past it the client gives up with an
    /// error while the cluster goes on working on it (reference §2.8 "blocked
    /// searches end at the client timeout"). None: the SDK's default, no deadline.
    pub timeout: Option<SimDuration>,
    pub retry: RetryPolicy,
}

/// The application's retry policy for failed searches: `retries` more attempts, the
/// first after `backoff`, each later one after twice the last wait, at most
/// `backoff_max`. The deadline (`timeout`) covers all attempts together. GUESS: the
/// reference gives no client policy; 0 retries (each failure reaches the user) is the
/// default, and the waits are Milvus's own `retry.Do` defaults (200 ms, x2, at most
/// 3 s, reference §1.2).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    pub retries: u32,
    pub backoff: SimDuration,
    pub backoff_max: SimDuration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            retries: 0,
            backoff: SimDuration::from_millis(200),
            backoff_max: SimDuration::from_secs(3),
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempt` (1 is the first retry).
    pub fn wait(&self, attempt: u32) -> SimDuration {
        let doubled = self
            .backoff
            .as_nanos()
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(40));
        SimDuration::from_nanos(doubled.min(self.backoff_max.as_nanos()))
    }
}

/// Queries by primary key (`[workload.query]`): `query(expr="id in [...]")` with
/// `ids` keys, taking the search's path (reference §3.1) and retrieving rows.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySpec {
    pub arrivals: Arrivals,
    /// Primary keys per query.
    pub ids: u32,
    /// Whether the vector field is among the output fields (else the key only).
    pub output_vector: bool,
}

/// Which rows a delete workload removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeleteOrder {
    /// Keys drawn evenly over every row (e.g. users removing their own items).
    Uniform,
    /// The oldest rows first (a retention window).
    Oldest,
}

/// How a delete call names its rows (`[workload.delete] by`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeleteBy {
    /// `delete(expr="id in [...]")`: the keys themselves.
    Key,
    /// `delete(expr="<scalar filter>")`: an expression on another field that matches
    /// the rows; the proxy queries their keys first (see `milvus::retrieve`).
    Expr,
}

impl DeleteBy {
    const NAMES: [&'static str; 2] = ["key", "expr"];

    fn parse(s: &str) -> Option<DeleteBy> {
        match s {
            "key" => Some(DeleteBy::Key),
            "expr" => Some(DeleteBy::Expr),
            _ => None,
        }
    }
}

/// Deletes (`[workload.delete]`): `delete(expr="id in [...]")` with `batch_rows` keys
/// per call at a fixed pace (reference §3.3: a delete takes the insert's path through
/// the proxy and the DML channel), or with `by = "expr"` a filter matching as many
/// rows.
#[derive(Clone, Debug, PartialEq)]
pub struct DeleteSpec {
    /// Rows to delete in all.
    pub rows: u64,
    /// Rows deleted per second.
    pub rate: f64,
    /// Keys per delete request.
    pub batch_rows: u64,
    pub start: SimDuration,
    pub order: DeleteOrder,
    pub by: DeleteBy,
}

/// How inserting clients offer rows (`[workload.insert]`).
#[derive(Clone, Debug, PartialEq)]
pub enum InsertArrivals {
    /// Batches at a fixed pace giving this many rows per second (open loop).
    Rate(f64),
    /// N clients, each sending its next batch when the last one is acknowledged:
    /// the highest rate the cluster sustains.
    Clients(u32),
}

#[derive(Clone, Debug, PartialEq)]
pub struct InsertSpec {
    /// Rows to insert in all.
    pub rows: u64,
    pub arrivals: InsertArrivals,
    /// Rows per insert request.
    pub batch_rows: u64,
    /// When the first batch is sent.
    pub start: SimDuration,
    /// Whether the client calls flush() once every row is acknowledged, sealing the
    /// last growing segments (bulk-load scripts do; otherwise they wait for the idle
    /// seal, reference §1.5).
    pub flush: bool,
}

/// Clients on a host of the topology (`[workload] client_host`, `client_cpu`): each
/// search or query costs them `per_request` of one core there (the SDK building the
/// request and parsing the reply), which the host's other processes feel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientCpu {
    pub host: usize,
    pub per_request: SimDuration,
}

/// When a DDL call of the application happens (`[workload.ddl]`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DdlWhen {
    /// Before the run: the collection is indexed and loaded from the start.
    Start,
    /// create_index() once the insert workload's flush() returned (every row
    /// flushed), as a bulk-load script does.
    AfterFlush,
    /// load() once every flushed segment is indexed (pymilvus
    /// `wait_for_index_building_complete`).
    AfterIndex,
    /// At this time into the run.
    At(SimDuration),
}

/// When the application calls load() again after its release().
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReloadWhen {
    /// As soon as release() has returned.
    AfterRelease,
    /// At this time into the run (or once release() returned, if that is later).
    At(SimDuration),
}

/// The application's DDL calls: create_index() and load() on an empty collection
/// (reference §3.3; Milvus 2.3 loads only an indexed collection), and release()
/// and a later load() again of the loaded collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DdlSpec {
    pub create_index: DdlWhen,
    pub load: DdlWhen,
    /// When the application calls release(), if it does.
    pub release: Option<SimDuration>,
    /// When it calls load() again after the release, if it does.
    pub reload: Option<ReloadWhen>,
    /// When it calls drop_collection(), if it does.
    pub drop: Option<SimDuration>,
    /// When it calls create_collection(), if the collection does not exist before.
    pub create: Option<SimDuration>,
}

impl Default for DdlSpec {
    fn default() -> Self {
        DdlSpec {
            create_index: DdlWhen::Start,
            load: DdlWhen::Start,
            release: None,
            reload: None,
            drop: None,
            create: None,
        }
    }
}

impl DdlSpec {
    /// Whether the collection is loaded from the start.
    pub fn loaded_at_start(&self) -> bool {
        self.load == DdlWhen::Start
    }

    /// Whether the index exists from the start.
    pub fn indexed_at_start(&self) -> bool {
        self.create_index == DdlWhen::Start
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn holds(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Assertion {
    pub expr: String,
    pub path: String,
    pub op: CmpOp,
    pub value: f64,
}

impl Experiment {
    /// The segment size limit in MiB: dataCoord.segment.maxSize, or
    /// dataCoord.segment.diskSegmentMaxSize for a DISKANN collection (reference §1.5).
    /// Max rows per segment: the max size over datacoord's estimate of a row
    /// (reference §1.5, §1.13; see [`Collection::estimated_row_bytes`]).
    pub fn segment_max_rows(&self) -> u64 {
        let max_size_bytes = (self.segment_max_size_mib() * 1024.0 * 1024.0) as u64;
        (max_size_bytes / self.collection.estimated_row_bytes()).max(1)
    }

    pub fn segment_max_size_mib(&self) -> f64 {
        let key = if self.collection.index.kind == crate::hw::IndexKind::DiskAnn {
            "dataCoord.segment.diskSegmentMaxSize"
        } else {
            "dataCoord.segment.maxSize"
        };
        self.milvus.get(key)
    }

    /// Hosts that are off at time zero (a `host_start` fault powers them on later).
    pub fn hosts_off_at_start(&self) -> Vec<usize> {
        let mut off: Vec<usize> = self
            .faults
            .iter()
            .filter(|f| f.kind == super::faults::FaultKind::HostStart)
            .filter_map(|f| match f.target {
                super::faults::FaultTarget::Host(h) => Some(h),
                _ => None,
            })
            .collect();
        off.sort_unstable();
        off.dedup();
        off
    }

    /// The most replicas the collection has during the run: its own, or more loaded
    /// by a load_replicas with release_first.
    pub fn replicas_max(&self) -> u32 {
        self.faults
            .iter()
            .filter(|f| {
                f.target
                    == super::faults::FaultTarget::Collection {
                        release_first: true,
                    }
            })
            .filter_map(|f| f.replicas)
            .fold(self.collection.replicas, u32::max)
    }

    /// Placement tasks that a `scale_service` adds: slots past the topology's count.
    pub fn tasks_added_by_scaling(&self) -> Vec<usize> {
        (0..self.placement.tasks.len())
            .filter(|&i| {
                let t = &self.placement.tasks[i];
                match self.topology.services[t.service].mode {
                    super::topology::ServiceMode::Replicated(n) => t.slot > n,
                    super::topology::ServiceMode::Global => false,
                }
            })
            .collect()
    }

    /// Placement tasks that do not run at time zero: those on hosts a `host_start`
    /// powers on later, and the slots a `scale_service` adds.
    pub fn tasks_off_at_start(&self) -> Vec<usize> {
        let off = self.hosts_off_at_start();
        let added = self.tasks_added_by_scaling();
        (0..self.placement.tasks.len())
            .filter(|i| off.contains(&self.placement.tasks[*i].host) || added.contains(i))
            .collect()
    }
}

/// A loaded and checked experiment with its topology and placement.
#[derive(Clone, Debug)]
pub struct Experiment {
    pub path: PathBuf,
    pub name: String,
    pub description: String,
    /// The experiment's text after `--set` overrides.
    pub text: String,
    pub sets: Vec<String>,
    /// The `--set` overrides `simctl test` applies (the `[test]` table).
    pub test_sets: Vec<String>,
    /// The `[sweep]` table: each varied key with its values, in key order; `seeds`
    /// is one of the keys when given.
    pub sweep: Vec<(String, Vec<String>)>,
    /// The topology path as written in the experiment (relative to it).
    pub topology_ref: String,
    pub topology: Topology,
    pub placement: Placement,
    pub duration: SimDuration,
    pub warmup: SimDuration,
    /// The run starts with every task stopped and deploys the stacks in order
    /// (reference §6.4); the collection is loaded from MinIO once querycoord runs.
    pub cold_start: bool,
    /// How long after the proxies' time-tick reports rootcoord's own loop reports, in
    /// a warm start (0 to `proxy.timeTickInterval`). Milvus's `timetickSync` sends
    /// a tick once every session, rootcoord's own included, has reported; it carries
    /// the proxies' timestamp, so each tick is this much older when it goes out. The
    /// processes start their loops at start-up, so each real start has its own
    /// phase; a cold start or a restart here gets it from the start times.
    pub tick_phase: SimDuration,
    /// The share of time ticks whose timestamp is one interval old (0 to 1): rootcoord's
    /// own report is still its last round's, so the tick moves the channels'
    /// serviceable time by a few milliseconds only, and a Strong search issued after
    /// the last tick waits for the next (never longer: the following one is fresh
    /// again or as old). The real server's ticks do this in stretches: the tick probes
    /// (experiments/fidelity, measure.py `tick_age`) found 0 to 45 % of them stale over
    /// one server start's cases and 71-75 % at another start; INFERENCE: rootcoord's
    /// own report carries its DDL timestamp, refreshed by another loop of the same
    /// period, and where the two loops run nearly together either may run first. Each
    /// tick is drawn stale with this probability; 0 by default (no reference figure for
    /// a running cluster). With `tick_phase` within the proxy's report lag of a whole
    /// interval (190 ms of 200 or more), the proxy's report is the older one and a
    /// stale report of rootcoord's changes nothing.
    pub stale_ticks: f64,
    pub seed: u64,
    pub collection: Collection,
    pub workload: Workload,
    pub milvus: MilvusConfig,
    pub asserts: Vec<Assertion>,
    /// `[[fault]]` entries in file order.
    pub faults: Vec<Fault>,
    pub failover: Failover,
    /// `[nginx]`: the load balancer in front of MinIO (reference §1.10).
    pub nginx: super::nginx::Nginx,
    /// Calibration profile of the cost model: the built-in reference unless a command
    /// chose another (`simctl run --profile`).
    pub profile: crate::calibrate::profile::ProfileChoice,
}

pub const DEFAULT_SEED: u64 = 1;

fn parse_assert(s: &str) -> Result<(String, CmpOp, f64), String> {
    const OPS: [(&str, CmpOp); 6] = [
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ];
    for (tok, op) in OPS {
        if let Some((l, r)) = s.split_once(tok) {
            let path = l.trim().to_string();
            let value: f64 = r
                .trim()
                .replace('_', "")
                .parse()
                .map_err(|_| format!("{:?} is not a number", r.trim()))?;
            if path.is_empty() {
                return Err("the left side is empty".into());
            }
            return Ok((path, op, value));
        }
    }
    Err("no comparison operator (<, <=, >, >=, ==, !=)".into())
}

/// Reads an experiment, applies `--set` overrides, loads its topology and places it.
pub fn load_experiment(path: &Path, sets: &[String]) -> Result<Experiment, InputErrors> {
    let original = read_file(path, None)?;
    load_experiment_text(path, &original, sets)
}

/// Reads an experiment from `original`, its text; `path` labels errors and anchors
/// the topology's relative path (an experiment built by a command, e.g. `simctl
/// fidelity`, rather than read from a file).
pub fn load_experiment_text(
    path: &Path,
    original: &str,
    sets: &[String],
) -> Result<Experiment, InputErrors> {
    // `topology.KEY=VALUE` changes the topology file; everything else the experiment.
    let (topo_sets, exp_sets): (Vec<String>, Vec<String>) = sets
        .iter()
        .cloned()
        .partition(|s| s.starts_with("topology."));
    let topo_sets: Vec<String> = topo_sets
        .iter()
        .map(|s| s["topology.".len()..].to_string())
        .collect();
    let text = super::overrides::apply(original, &exp_sets).map_err(|m| {
        InputError::at(path, original, None, m)
            .with_hint("see `simctl run --help` for the --set syntax")
    })?;
    let raw: RawExperiment = parse_toml(path, &text, "experiment")?;
    let err =
        |span: std::ops::Range<usize>, msg: String| InputError::at(path, &text, Some(span), msg);
    let mut errors = Vec::new();

    let topo_path = path
        .parent()
        .unwrap_or(Path::new("."))
        .join(raw.topology.get_ref());
    let topology = match load_topology_with(
        &topo_path,
        Some(err(raw.topology.span(), String::new())),
        &topo_sets,
    ) {
        Ok(t) => Some(t),
        Err(e) => {
            errors.extend(e.0);
            None
        }
    };
    let mut placement = match &topology {
        Some(t) => match place(t) {
            Ok(p) => Some(p),
            Err(e) => {
                errors.extend(e.0);
                None
            }
        },
        None => None,
    };

    let duration = raw.duration.get_ref().0;
    if duration == SimDuration::ZERO || duration > SimDuration::from_secs(30 * 24 * 3600) {
        errors.push(
            err(
                raw.duration.span(),
                format!("duration {duration} is out of range"),
            )
            .with_hint("give a duration between 1ns and 30 days, e.g. \"10m\""),
        );
    }
    let warmup = raw
        .warmup
        .as_ref()
        .map(|w| w.get_ref().0)
        .unwrap_or(SimDuration::ZERO);
    if let Some(w) = &raw.warmup {
        if w.get_ref().0 >= duration {
            errors.push(
                err(
                    w.span(),
                    format!(
                        "warmup {} is not shorter than the duration {duration}",
                        w.get_ref().0
                    ),
                )
                .with_hint(
                    "the warmup is excluded from the summary, so it must leave time to measure",
                ),
            );
        }
    }
    let seed = match &raw.seed {
        Some(s) if *s.get_ref() < 0 => {
            errors.push(
                err(s.span(), format!("seed {} is negative", s.get_ref()))
                    .with_hint("use a non-negative integer"),
            );
            DEFAULT_SEED
        }
        Some(s) => *s.get_ref() as u64,
        None => DEFAULT_SEED,
    };

    let spot = |span: std::ops::Range<usize>| {
        let (line, column) = super::error::line_col(&text, span.start);
        SourceSpot { line, column }
    };
    // A table that removes or replaces rows, for an empty collection's error.
    let replacing = (raw.workload.upsert.as_ref())
        .map(|_| "[workload.upsert] replaces rows by key")
        .or(raw
            .workload
            .delete
            .as_ref()
            .map(|_| "[workload.delete] deletes rows"));
    let collection = resolve_collection(
        &raw.collection,
        raw.workload.insert.is_some(),
        replacing,
        &err,
        &mut errors,
    )
    .map(|mut c| {
        c.rows_at = spot(raw.collection.rows.span());
        c.replicas_at = match &raw.collection.replicas {
            Some(r) => spot(r.span()),
            None => spot(raw.collection.rows.span()),
        };
        c
    });
    let client_cpu = resolve_client_cpu(&raw.workload, topology.as_ref(), &err, &mut errors);
    let workload = resolve_workload(
        &raw.workload,
        &raw.collection,
        raw.duration.get_ref().0,
        &err,
        &mut errors,
    )
    .map(|w| Workload { client_cpu, ..w });
    let rw = &raw.workload;
    let writes = (rw.insert.as_ref())
        .map(|i| ("[workload.insert]", i.rows.span()))
        .or(rw
            .delete
            .as_ref()
            .map(|d| ("[workload.delete]", d.rows.span())))
        .or(rw
            .upsert
            .as_ref()
            .map(|u| ("[workload.upsert]", u.rows.span())));
    if let (Some((table, span)), Some(topo), Some(pl)) = (writes, &topology, &placement) {
        // reference §3.3: the write path needs every one of these to run.
        let count = |k: ServiceKind| {
            pl.tasks
                .iter()
                .filter(|t| topo.services[t.service].kind == k)
                .count()
        };
        let stores = match topo.standalone() {
            Some(_) => (1, "stores each message (RocksMQ)"),
            None => (
                crate::milvus::pulsar::ENSEMBLE,
                "persist each message (ensemble 2, reference §2.8)",
            ),
        };
        let mut need = vec![
            (ServiceKind::Datacoord, 1, "seals and flushes segments"),
            (ServiceKind::Datanode, 1, "writes binlogs"),
            (ServiceKind::Broker, 1, "owns the DML topics"),
            (ServiceKind::Bookie, stores.0, stores.1),
            (ServiceKind::Minio, 1, "stores binlogs and index files"),
        ];
        if *raw.collection.index.get_ref() != IndexKind::Flat {
            need.push((ServiceKind::Indexnode, 1, "builds the index"));
        }
        let missing: Vec<String> = need
            .iter()
            .filter(|(kind, n, _)| count(*kind) < *n)
            .map(|(kind, n, why)| format!("{n} {} ({why}; it has {})", kind.name(), count(*kind)))
            .collect();
        if !missing.is_empty() {
            errors.push(
                err(
                    span,
                    format!(
                        "{table} needs a write path, and topology {:?} lacks: {}",
                        topo.name,
                        missing.join(", ")
                    ),
                )
                .with_hint(
                    format!("add those services to the topology (topologies/seed-26-hosts.toml has them all), or remove {table}"),
                ),
            );
        }
    }

    let mut milvus = MilvusConfig::default();
    for (key, value) in &raw.milvus {
        if value.get_ref().is_table() {
            errors.push(
                err(value.span(), format!("[milvus] has a table {key:?}: the Milvus key was written without quotes"))
                    .with_hint(format!("Milvus keys contain dots, so quote them: \"{key}.…\" = value, e.g. \"proxy.maxTaskNum\" = 512")),
            );
            continue;
        }
        let number = match value.get_ref() {
            toml::Value::Integer(i) => Some(*i as f64),
            toml::Value::Float(f) => Some(*f),
            toml::Value::Boolean(b) => Some(f64::from(u8::from(*b))),
            _ => None,
        };
        let Some(number) = number else {
            errors.push(
                err(
                    value.span(),
                    format!("Milvus key {key:?} needs a number or boolean"),
                )
                .with_hint("write the value as in milvus.yaml, in the unit the key uses there"),
            );
            continue;
        };
        match milvus.set(key, number) {
            Ok(()) => {}
            Err(SetError::Unknown) => {
                let known: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
                let hint = match closest(key, known.iter().copied()) {
                    Some(c) => format!("did you mean {c:?}?"),
                    None => format!("simctl models these keys: {}", known.join(", ")),
                };
                // The key has no span of its own here; point at its value.
                errors.push(
                    err(
                        value.span(),
                        format!("Milvus key {key:?} is unknown or not modelled"),
                    )
                    .with_hint(hint),
                );
            }
            Err(SetError::OutOfRange { min, max, unit }) => errors.push(
                err(
                    value.span(),
                    format!("Milvus key {key:?} = {number} is out of range"),
                )
                .with_hint(format!("simctl accepts {min} to {max} {unit} for it")),
            ),
        }
    }

    if *raw.collection.index.get_ref() == IndexKind::DiskAnn
        && milvus.get("queryNode.enableDisk") == 0.0
    {
        errors.push(
            err(
                raw.collection.index.span(),
                "index DISKANN needs queryNode.enableDisk = true (false in the 2.3 image's milvus.yaml)".into(),
            )
            .with_hint("add \"queryNode.enableDisk\" = true under [milvus], as the users' milvus.yaml does (reference §1.8)"),
        );
    }

    let tick_interval = SimDuration::from_millis(milvus.get("proxy.timeTickInterval") as u64);
    let tick_phase = raw
        .tick_phase
        .as_ref()
        .map_or(SimDuration::ZERO, |p| p.get_ref().0);
    if let Some(p) = raw
        .tick_phase
        .as_ref()
        .filter(|_| raw.cold_start == Some(true))
    {
        errors.push(
            err(
                p.span(),
                "tick_phase is set, but a cold start starts the tick loops with their processes"
                    .into(),
            )
            .with_hint(
                "leave tick_phase out: a cold start's phase follows the stacks' start times",
            ),
        );
    }
    if let Some(p) = raw
        .tick_phase
        .as_ref()
        .filter(|_| tick_phase >= tick_interval)
    {
        errors.push(
            err(
                p.span(),
                format!(
                    "tick_phase {tick_phase} is not shorter than proxy.timeTickInterval ({tick_interval})"
                ),
            )
            .with_hint("the phase is where rootcoord's loop falls within one time-tick interval: give 0 up to the interval"),
        );
    }

    let stale_ticks = raw.stale_ticks.as_ref().map_or(0.0, |s| *s.get_ref());
    if let Some(s) = raw
        .stale_ticks
        .as_ref()
        .filter(|_| !(0.0..=1.0).contains(&stale_ticks))
    {
        errors.push(
            err(
                s.span(),
                format!("stale_ticks {stale_ticks} is not a share"),
            )
            .with_hint("give the share of time ticks that carry a timestamp one interval old, from 0 to 1, e.g. 0.25"),
        );
    }

    if let Some(t) = &raw.test {
        for set in &t.set {
            if let Err(m) = super::overrides::apply(&text, std::slice::from_ref(set.get_ref())) {
                errors.push(err(set.span(), m).with_hint(
                    "[test] set takes KEY=VALUE strings like \"duration=60s\", as --set does",
                ));
            }
        }
    }

    for (key, values) in &raw.sweep {
        if values.get_ref().is_empty() {
            errors.push(
                err(values.span(), format!("[sweep] {key:?} has no values"))
                    .with_hint("give at least one value, e.g. [500, 1000, 2000]"),
            );
        }
        if key != "seeds" {
            for v in values.get_ref() {
                let set = format!("{key}={}", value_text(v));
                let target = if key.starts_with("topology.") {
                    None
                } else {
                    Some(&text)
                };
                if let Some(t) = target {
                    if let Err(m) = super::overrides::apply(t, std::slice::from_ref(&set)) {
                        errors.push(err(values.span(), m).with_hint("[sweep] keys are --set keys"));
                    }
                }
            }
        } else if values
            .get_ref()
            .iter()
            .any(|v| v.as_integer().is_none_or(|i| i < 0))
        {
            errors.push(
                err(
                    values.span(),
                    "[sweep] seeds must be non-negative integers".into(),
                )
                .with_hint("e.g. seeds = [1, 2, 3]"),
            );
        }
    }

    let mut asserts = Vec::new();
    for a in &raw.asserts {
        match parse_assert(a.expr.get_ref()) {
            Ok((path, op, value)) => {
                if let Some(t) = &topology {
                    if let Err(m) = crate::report::summary::check_path(&path, t, raw.faults.len()) {
                        errors.push(err(a.expr.span(), m).with_hint(
                            "assertions compare a figure of summary.json, e.g. \"requests.search.p99_ms < 50\"",
                        ));
                        continue;
                    }
                }
                if let (Some(w), Some(t), Some(p)) = (&workload, &topology, &placement) {
                    let storage = (p.tasks.iter())
                        .any(|task| t.services[task.service].kind == ServiceKind::Minio);
                    if let Err(m) = crate::report::summary::check_section(&path, w, storage) {
                        errors.push(err(a.expr.span(), m).with_hint(
                            "add the workload the figure counts, or remove the assertion",
                        ));
                        continue;
                    }
                }
                asserts.push(Assertion {
                    expr: a.expr.get_ref().clone(),
                    path,
                    op,
                    value,
                });
            }
            Err(m) => errors.push(
                err(
                    a.expr.span(),
                    format!("cannot read assertion {:?}: {m}", a.expr.get_ref()),
                )
                .with_hint("write FIGURE OP NUMBER, e.g. \"requests.search.p99_ms < 50\""),
            ),
        }
    }

    if let (Some(t), Some(p)) = (&topology, &placement) {
        let placed = |kind: ServiceKind| {
            p.tasks
                .iter()
                .filter(|task| t.services[task.service].kind == kind)
                .count()
        };
        if placed(ServiceKind::Querynode) == 0 {
            errors.push(
                err(
                    raw.topology.span(),
                    "the topology runs no query node task, so nothing can be searched".into(),
                )
                .with_hint("add a service with kind = \"querynode\" and at least one replica"),
            );
        }
        for kind in [
            ServiceKind::Proxy,
            ServiceKind::Rootcoord,
            ServiceKind::Querycoord,
        ] {
            if placed(kind) == 0 {
                errors.push(
                    err(
                        raw.topology.span(),
                        format!("the topology runs no {} task", kind.name()),
                    )
                    .with_hint(format!(
                        "the search path needs a service with kind = \"{}\" and at least one replica",
                        kind.name()
                    )),
                );
            }
        }
    }

    // A cold start plays the start order, which must be a DAG.
    if raw.cold_start == Some(true) {
        if let Some(t) = &topology {
            if let Err(e) = crate::swarm::start_order::start_order(t) {
                errors.extend(e.0);
            }
        }
    }
    let load = collection.as_ref().map(|c| super::faults::LoadContext {
        replicas: c.replicas,
        // Upserts write growing rows as inserts do.
        inserts: raw.workload.insert.is_some() || raw.workload.upsert.is_some(),
        cold_start: raw.cold_start == Some(true),
        ddl: workload.as_ref().map(|w| w.ddl).unwrap_or_default(),
    });
    let faults = match (&topology, &mut placement) {
        (Some(t), Some(p)) => resolve_faults(
            &raw.faults,
            t,
            p,
            duration,
            load.as_ref(),
            &err,
            &mut errors,
        ),
        _ => Vec::new(),
    };
    let failover = resolve_failover(&raw.failover);
    if let Err(m) = check_failover(&failover) {
        let span = text.find("[failover]").map(|i| i..i + 1);
        errors.push(
            InputError::at(path, &text, span, m)
                .with_hint("leave the key out to use the sourced default"),
        );
    }
    // The `[nginx]` table's header, at the start of a line (not in a comment).
    let nginx_header = text
        .match_indices("[nginx]")
        .find(|&(i, _)| i == 0 || text.as_bytes()[i - 1] == b'\n')
        .map(|(i, h)| i..i + h.len());
    let nginx = match super::nginx::resolve_nginx(&raw.nginx) {
        Ok(n) => n,
        Err(bad) => {
            for (span, m) in bad {
                let span = span.or_else(|| nginx_header.clone());
                errors.push(InputError::at(path, &text, span, m).with_hint(
                    "leave the key out to use the users' nginx.conf or nginx's default",
                ));
            }
            super::nginx::Nginx::default()
        }
    };
    let has_nginx = |t: &Topology| t.services.iter().any(|s| s.kind == ServiceKind::Nginx);
    if raw.nginx.is_set() && topology.as_ref().is_some_and(|t| !has_nginx(t)) {
        let span = nginx_header;
        errors.push(
            InputError::at(
                path,
                &text,
                span,
                "[nginx] is set, but the topology runs no nginx in front of MinIO: its knobs would change nothing".to_string(),
            )
            .with_hint("remove [nginx], or place an nginx service (image nginx) in the topology"),
        );
    }

    if !errors.is_empty() {
        return Err(InputErrors(errors));
    }
    let mut collection = collection.expect("no errors");
    collection.index.diskann = milvus.disk_index();
    Ok(Experiment {
        path: path.to_path_buf(),
        name: raw.name.clone().unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        }),
        description: raw.description.clone().unwrap_or_default(),
        text,
        sets: sets.to_vec(),
        test_sets: raw
            .test
            .as_ref()
            .map(|t| t.set.iter().map(|s| s.get_ref().clone()).collect())
            .unwrap_or_default(),
        sweep: raw
            .sweep
            .iter()
            .map(|(k, v)| (k.clone(), v.get_ref().iter().map(value_text).collect()))
            .collect(),
        topology_ref: raw.topology.get_ref().clone(),
        topology: topology.expect("no errors"),
        placement: placement.expect("no errors"),
        duration,
        warmup,
        cold_start: raw.cold_start.unwrap_or(false),
        tick_phase,
        stale_ticks,
        seed,
        collection,
        workload: workload.expect("no errors"),
        milvus,
        asserts,
        faults,
        failover,
        nginx,
        profile: crate::calibrate::profile::ProfileChoice::reference(),
    })
}

/// A TOML scalar as `--set` would take it (strings unquoted).
pub fn value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

type ErrAt<'a> = dyn Fn(std::ops::Range<usize>, String) -> InputError + 'a;

fn in_range(
    v: &Spanned<i64>,
    lo: i64,
    hi: i64,
    what: &str,
    hint: &str,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) -> Option<u64> {
    let x = *v.get_ref();
    if x < lo || x > hi {
        errors.push(
            err(v.span(), format!("{what} is {x}, outside {lo}..={hi}"))
                .with_hint(hint.to_string()),
        );
        None
    } else {
        Some(x as u64)
    }
}

/// `replacing` says why the workload needs rows, if a table of it removes or replaces
/// rows by key.
fn resolve_collection(
    c: &RawCollection,
    inserting: bool,
    replacing: Option<&str>,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) -> Option<Collection> {
    let before = errors.len();
    if let (0, false, Some(why)) = (*c.rows.get_ref(), inserting, replacing) {
        errors.push(
            err(
                c.rows.span(),
                format!("the collection has no rows (rows = 0), and {why}"),
            )
            .with_hint(
                "give the rows loaded at the start, or add [workload.insert] to write rows first",
            ),
        );
        return None;
    }
    let rows = in_range(
        &c.rows,
        if inserting { 0 } else { 1 },
        1_000_000_000_000,
        "rows",
        "give the number of vectors loaded at the start (0 is allowed when [workload.insert] writes them)",
        err,
        errors,
    );
    // reference §1.4: proxy.maxDimension = 32768.
    let dim = in_range(
        &c.dim,
        1,
        32768,
        "dim",
        "Milvus 2.3 allows 1 to 32768 dimensions",
        err,
        errors,
    );
    // reference §1.3 / §1.4: 1 shard by default, at most 16.
    let shards = match &c.shards {
        Some(s) => in_range(
            s,
            1,
            16,
            "shards",
            "Milvus allows 1 to 16 shards (proxy.maxShardNum)",
            err,
            errors,
        ),
        None => Some(1),
    };
    let replicas = match &c.replicas {
        Some(r) => in_range(
            r,
            1,
            64,
            "replicas",
            "use 1 or more replicas, at most the number of query nodes",
            err,
            errors,
        ),
        None => Some(1),
    };
    let segment_fill = match &c.segment_fill {
        // reference §1.5: sealed at 0.23 x max rows; compaction merges up to 1.25 x.
        Some(f) if !(0.01..=1.25).contains(f.get_ref()) => {
            errors.push(
                err(f.span(), format!("segment_fill is {}", f.get_ref()))
                    .with_hint("use 0.23 for freshly sealed segments, 1.0 for compacted ones (at most 1.25, the compaction expansion rate)"),
            );
            None
        }
        Some(f) => Some(*f.get_ref()),
        None => Some(1.0),
    };
    let p = &c.index_params;
    let kind = *c.index.get_ref();
    let need = |v: &Option<Spanned<i64>>,
                name: &str,
                lo: i64,
                hi: i64,
                errors: &mut Vec<InputError>|
     -> Option<u32> {
        match v {
            Some(x) => in_range(
                x,
                lo,
                hi,
                name,
                &format!("{name} must be in {lo}..={hi}"),
                err,
                errors,
            )
            .map(|v| v as u32),
            None => {
                errors.push(
                    err(
                        c.index.span(),
                        format!("index {} needs index_params.{name}", kind.name()),
                    )
                    .with_hint(format!(
                        "add {name} = ... under [collection.index_params], as in create_index"
                    )),
                );
                None
            }
        }
    };
    let mut spec = IndexSpec {
        kind,
        dim: dim.unwrap_or(1) as u32,
        nlist: 0,
        pq_m: 0,
        pq_nbits: 8,
        hnsw_m: 0,
        diskann: Default::default(),
    };
    let mut ef_construction = None;
    match kind {
        IndexKind::Flat => {}
        IndexKind::IvfFlat | IndexKind::IvfSq8 => {
            spec.nlist = need(&p.nlist, "nlist", 1, 65536, errors).unwrap_or(1)
        }
        IndexKind::IvfPq => {
            spec.nlist = need(&p.nlist, "nlist", 1, 65536, errors).unwrap_or(1);
            spec.pq_m = need(&p.m, "m", 1, 65536, errors).unwrap_or(1);
            if let Some(nb) = &p.nbits {
                spec.pq_nbits = in_range(nb, 1, 16, "nbits", "nbits must be 1..=16", err, errors)
                    .unwrap_or(8) as u32;
            }
            if let (Some(d), Some(m)) = (dim, &p.m) {
                if *m.get_ref() > 0 && d % *m.get_ref() as u64 != 0 {
                    errors.push(
                        err(
                            m.span(),
                            format!("IVF_PQ m = {} does not divide dim = {d}", m.get_ref()),
                        )
                        .with_hint("Milvus requires dim % m == 0"),
                    );
                }
            }
        }
        // reference §1.9: DISKANN takes no create_index parameters; see `common.DiskIndex`.
        IndexKind::DiskAnn => {}
        IndexKind::Hnsw => {
            spec.hnsw_m = need(&p.hnsw_m, "M", 2, 2048, errors).unwrap_or(16);
            ef_construction = p.ef_construction.as_ref().and_then(|e| {
                in_range(
                    e,
                    1,
                    65535,
                    "efConstruction",
                    "efConstruction must be 1..=65535",
                    err,
                    errors,
                )
                .map(|v| v as u32)
            });
        }
    }
    if errors.len() > before {
        return None;
    }
    Some(Collection {
        rows: rows?,
        metric: c.metric,
        index: spec,
        ef_construction,
        shards: shards? as u32,
        replicas: replicas? as u32,
        segment_fill: segment_fill?,
        row_bytes: 8 + 4 * dim?,
        rows_at: SourceSpot { line: 1, column: 1 },
        replicas_at: SourceSpot { line: 1, column: 1 },
    })
}

fn resolve_workload(
    w: &RawWorkload,
    c: &RawCollection,
    duration: SimDuration,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) -> Option<Workload> {
    let before = errors.len();
    let row_bytes = 8 + 4 * (*c.dim.get_ref()).max(1) as u64;
    let arrivals = match (&w.search_qps, &w.clients) {
        (Some(q), None) => {
            let qps = *q.get_ref();
            if !(qps > 0.0 && qps <= 10_000_000.0) {
                errors.push(
                    err(q.span(), format!("search_qps is {qps}")).with_hint(
                        "the offered load must be a positive rate of searches per second",
                    ),
                );
            }
            Arrivals::OpenLoop { qps }
        }
        (None, Some(n)) => {
            let clients = in_range(
                n,
                1,
                1_000_000,
                "clients",
                "use at least one client",
                err,
                errors,
            )
            .unwrap_or(1) as u32;
            Arrivals::ClosedLoop {
                clients,
                think: w.think_time.map(|t| t.0).unwrap_or(SimDuration::ZERO),
            }
        }
        (Some(q), Some(_)) => {
            errors.push(
                err(
                    q.span(),
                    "set either search_qps (open loop) or clients (closed loop), not both".into(),
                )
                .with_hint("remove one of the two keys"),
            );
            Arrivals::OpenLoop { qps: 1.0 }
        }
        (None, None)
            if w.insert.is_some()
                || w.query.is_some()
                || w.delete.is_some()
                || w.upsert.is_some() =>
        {
            Arrivals::Off
        }
        (None, None) => {
            errors.push(
                err(c.rows.span(), "the workload has neither search_qps nor clients".into())
                    .with_hint("add search_qps = 1000 (open loop) or clients = 64 (closed loop) under [workload], or a [workload.insert], [workload.query], [workload.delete] or [workload.upsert] table"),
            );
            Arrivals::OpenLoop { qps: 1.0 }
        }
    };
    // reference §1.4 limits: nq <= 16384, topk <= 16384.
    let nq = match &w.nq {
        Some(v) => in_range(
            v,
            1,
            16384,
            "nq",
            "Milvus allows 1..=16384 queries per request",
            err,
            errors,
        )
        .unwrap_or(1),
        None => 1,
    } as u32;
    let topk = match &w.topk {
        Some(v) => in_range(
            v,
            1,
            16384,
            "topk",
            "Milvus allows topk 1..=16384",
            err,
            errors,
        )
        .unwrap_or(10),
        None => 10,
    } as u32;
    let kind = *c.index.get_ref();
    let sp = &w.search_params;
    let ef = match (&sp.ef, kind) {
        (Some(e), _) => {
            let ef = in_range(e, 1, 32768, "ef", "ef must be 1..=32768", err, errors).unwrap_or(64)
                as u32;
            if kind == IndexKind::Hnsw && ef < topk {
                errors.push(
                    err(e.span(), format!("ef = {ef} is smaller than topk = {topk}"))
                        .with_hint("Milvus rejects HNSW searches with ef < topk; raise ef"),
                );
            }
            ef
        }
        (None, IndexKind::Hnsw) => {
            errors.push(
                err(
                    c.index.span(),
                    "an HNSW collection needs workload.search_params.ef".into(),
                )
                .with_hint("add search_params = { ef = 64 } under [workload]"),
            );
            64
        }
        (None, _) => 0,
    };
    let nprobe = match (&sp.nprobe, kind) {
        (Some(n), _) => in_range(
            n,
            1,
            65536,
            "nprobe",
            "nprobe must be 1..=65536",
            err,
            errors,
        )
        .unwrap_or(1) as u32,
        (None, IndexKind::IvfFlat | IndexKind::IvfSq8 | IndexKind::IvfPq) => {
            errors.push(
                err(
                    c.index.span(),
                    format!(
                        "an {} collection needs workload.search_params.nprobe",
                        kind.name()
                    ),
                )
                .with_hint("add search_params = { nprobe = 16 } under [workload]"),
            );
            1
        }
        (None, _) => 0,
    };
    let search_list = match (&sp.search_list, kind) {
        (Some(given), _) => {
            let l = in_range(
                given,
                1,
                65536,
                "search_list",
                "search_list must be 1..=65536",
                err,
                errors,
            )
            .unwrap_or(100) as u32;
            if kind == IndexKind::DiskAnn && l < topk {
                errors.push(
                    err(
                        given.span(),
                        format!("search_list = {l} is smaller than topk = {topk}"),
                    )
                    .with_hint("Milvus rejects DISKANN searches with search_list < topk; raise it"),
                );
            }
            l
        }
        (None, IndexKind::DiskAnn) => {
            errors.push(
                err(
                    c.index.span(),
                    "a DISKANN collection needs workload.search_params.search_list".into(),
                )
                .with_hint("add search_params = { search_list = 100 } under [workload]"),
            );
            100
        }
        (None, _) => 0,
    };
    let insert = w
        .insert
        .as_ref()
        .and_then(|i| resolve_insert(i, "insert", row_bytes, err, errors));
    let upsert = w
        .upsert
        .as_ref()
        .and_then(|u| resolve_insert(&u.as_insert(), "upsert", row_bytes, err, errors));
    let query = w
        .query
        .as_ref()
        .and_then(|q| resolve_query(q.get_ref(), q.span(), err, errors));
    let delete = w
        .delete
        .as_ref()
        .and_then(|d| resolve_delete(d, err, errors));
    let ddl = match &w.ddl {
        Some(d) => resolve_ddl(d, c, insert.as_ref(), duration, err, errors),
        None => Some(DdlSpec::default()),
    };
    if errors.len() > before {
        return None;
    }
    if let Some(t) = &w.timeout {
        if t.get_ref().0 == SimDuration::ZERO {
            errors.push(err(t.span(), "workload.timeout is zero".into()).with_hint(
                "give a positive client deadline such as \"10s\", or leave it out for none",
            ));
        }
    }
    let mut retry = RetryPolicy::default();
    if let Some(r) = &w.retries {
        match u32::try_from(*r.get_ref()) {
            Ok(n) if n <= 100 => retry.retries = n,
            _ => errors.push(
                err(
                    r.span(),
                    format!("workload.retries = {} is out of range", r.get_ref()),
                )
                .with_hint("give 0 to 100 retries per search"),
            ),
        }
    }
    for (key, raw, slot) in [
        ("retry_backoff", &w.retry_backoff, &mut retry.backoff),
        (
            "retry_backoff_max",
            &w.retry_backoff_max,
            &mut retry.backoff_max,
        ),
    ] {
        if let Some(d) = raw {
            if d.get_ref().0 == SimDuration::ZERO {
                errors.push(
                    err(d.span(), format!("workload.{key} is zero"))
                        .with_hint("give a positive wait such as \"200ms\""),
                );
            }
            *slot = d.get_ref().0;
        }
    }
    if retry.backoff_max < retry.backoff {
        let span = w
            .retry_backoff_max
            .as_ref()
            .or(w.retry_backoff.as_ref())
            .map(|d| d.span())
            .unwrap_or(0..0);
        errors.push(
            err(
                span,
                "workload.retry_backoff_max is below retry_backoff".into(),
            )
            .with_hint("the first wait cannot exceed the longest"),
        );
    }
    Some(Workload {
        insert,
        query,
        delete,
        upsert,
        retry,
        timeout: w.timeout.as_ref().map(|t| t.get_ref().0),
        arrivals,
        search: SearchSpec {
            nq,
            topk,
            nprobe,
            ef,
            search_list,
        },
        // reference §1.12: pymilvus's default level is Bounded.
        consistency: w.consistency.unwrap_or(Consistency::Bounded),
        session: w.session.unwrap_or(SessionScope::Shared),
        ddl: ddl?,
        client_cpu: None,
        proxy_selection: w.proxy_selection.unwrap_or(ProxySelection::RoundRobin),
    })
}

fn resolve_query(
    q: &RawQuery,
    table: std::ops::Range<usize>,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) -> Option<QuerySpec> {
    let before = errors.len();
    let arrivals = match (&q.qps, &q.clients) {
        (Some(r), None) => {
            let qps = *r.get_ref();
            if !(qps > 0.0 && qps <= 10_000_000.0) {
                errors.push(
                    err(r.span(), format!("workload.query.qps is {qps}"))
                        .with_hint("give a positive rate of queries per second"),
                );
            }
            Arrivals::OpenLoop { qps }
        }
        (None, Some(n)) => Arrivals::ClosedLoop {
            clients: in_range(
                n,
                1,
                1_000_000,
                "workload.query.clients",
                "use at least one querying client",
                err,
                errors,
            )
            .unwrap_or(1) as u32,
            think: q.think_time.map(|t| t.0).unwrap_or(SimDuration::ZERO),
        },
        (Some(r), Some(_)) => {
            errors.push(
                err(
                    r.span(),
                    "set either qps (open loop) or clients (closed loop) under [workload.query], not both".into(),
                )
                .with_hint("remove one of the two keys"),
            );
            Arrivals::OpenLoop { qps: 1.0 }
        }
        (None, None) => {
            errors.push(
                err(table, "[workload.query] has neither qps nor clients".into())
                    .with_hint("add qps = 100 (open loop) or clients = 8 (closed loop)"),
            );
            Arrivals::OpenLoop { qps: 1.0 }
        }
    };
    // reference §1.4: a query returns at most 16,384 rows (the limit Milvus puts on
    // topk and on a query's result window).
    let ids = match &q.ids {
        Some(v) => in_range(
            v,
            1,
            16384,
            "workload.query.ids",
            "a query by key returns at most 16,384 rows",
            err,
            errors,
        )
        .unwrap_or(1) as u32,
        // GUESS: an application fetches a page of results by key.
        None => 10,
    };
    if errors.len() > before {
        return None;
    }
    Some(QuerySpec {
        arrivals,
        ids,
        output_vector: q.output_vector.unwrap_or(true),
    })
}

fn resolve_delete(d: &RawDelete, err: &ErrAt, errors: &mut Vec<InputError>) -> Option<DeleteSpec> {
    let before = errors.len();
    let rows = in_range(
        &d.rows,
        1,
        i64::MAX,
        "workload.delete.rows",
        "give the number of rows to delete",
        err,
        errors,
    );
    let rate = *d.rate.get_ref();
    if !(rate > 0.0 && rate <= 1e9) {
        errors.push(
            err(d.rate.span(), format!("workload.delete.rate is {rate}"))
                .with_hint("give a positive rate in rows deleted per second"),
        );
    }
    // reference §1.2: a request of at most 64 MiB, 8 bytes per int64 key.
    let batch_rows = match &d.batch_rows {
        Some(b) => in_range(
            b,
            1,
            (PROXY_MAX_REQUEST_BYTES / 8) as i64,
            "workload.delete.batch_rows",
            "the proxy refuses requests above 64 MiB (reference §1.2)",
            err,
            errors,
        ),
        // GUESS: an application deletes keys in pages of a thousand.
        None => Some(1_000),
    };
    let by = match &d.by {
        None => Some(DeleteBy::Key),
        Some(b) => {
            let by = DeleteBy::parse(b.get_ref());
            if by.is_none() {
                let guess = closest(b.get_ref(), DeleteBy::NAMES)
                    .map(|c| format!("did you mean \"{c}\"? "))
                    .unwrap_or_default();
                errors.push(
                    err(b.span(), format!("workload.delete.by is \"{}\"", b.get_ref()))
                        .with_hint(format!(
                            "{guess}by is \"key\" (delete(expr=\"id in [...]\"), the default) or \"expr\" (a filter on another field: the proxy queries the matching keys, then deletes them)"
                        )),
                );
            }
            by
        }
    };
    if errors.len() > before {
        return None;
    }
    Some(DeleteSpec {
        rows: rows?,
        rate,
        batch_rows: batch_rows?,
        start: d.start.map(|t| t.0).unwrap_or(SimDuration::ZERO),
        order: d.order.unwrap_or(DeleteOrder::Uniform),
        by: by?,
    })
}

/// `[workload] client_host` and `client_cpu`: given together, the host one of the
/// topology's.
fn resolve_client_cpu(
    w: &RawWorkload,
    topo: Option<&Topology>,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) -> Option<ClientCpu> {
    let (host, cpu) = match (&w.client_host, &w.client_cpu) {
        (None, None) => return None,
        (Some(h), Some(c)) => (h, c),
        (Some(h), None) => {
            errors.push(
                err(h.span(), "workload.client_host without client_cpu".into()).with_hint(
                    "give the CPU a request costs the clients, e.g. client_cpu = \"0.2ms\"",
                ),
            );
            return None;
        }
        (None, Some(c)) => {
            errors.push(
                err(c.span(), "workload.client_cpu without client_host".into())
                    .with_hint("name the host the clients run on, e.g. client_host = \"manager1\""),
            );
            return None;
        }
    };
    let topo = topo?;
    let name = host.get_ref();
    let Some(index) = topo.hosts.iter().position(|h| &h.name == name) else {
        let hint =
            match crate::scenario::error::closest(name, topo.hosts.iter().map(|h| h.name.as_str()))
            {
                Some(c) => format!(
                    "did you mean {c:?}? the topology's hosts are listed by `simctl explain`"
                ),
                None => "name a host of the topology (`simctl explain` lists them)".to_string(),
            };
        errors.push(
            err(
                host.span(),
                format!("workload.client_host {name:?} is not a host of the topology"),
            )
            .with_hint(hint),
        );
        return None;
    };
    Some(ClientCpu {
        host: index,
        per_request: cpu.get_ref().0,
    })
}

/// `[workload.ddl]`: each call is "start", a time, or the point it waits for.
fn resolve_ddl(
    d: &RawDdl,
    c: &RawCollection,
    insert: Option<&InsertSpec>,
    duration: SimDuration,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) -> Option<DdlSpec> {
    let before = errors.len();
    let span = |v: &Option<Spanned<String>>| span_or(v, &None);
    let release = d.release.as_ref().and_then(|v| {
        let text = v.get_ref().trim();
        match crate::scenario::units::parse_duration(text) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(
                    err(
                        v.span(),
                        format!("workload.ddl.release = {text:?} is not understood"),
                    )
                    .with_hint("give a time into the run such as \"5m\""),
                );
                None
            }
        }
    });
    let mut at_time = |v: &Option<Spanned<String>>, key: &str, example: &str| {
        let v = v.as_ref()?;
        let text = v.get_ref().trim();
        match crate::scenario::units::parse_duration(text) {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(
                    err(
                        v.span(),
                        format!("workload.ddl.{key} = {text:?} is not understood"),
                    )
                    .with_hint(format!("give a time into the run such as \"{example}\"")),
                );
                None
            }
        }
    };
    let drop = at_time(&d.drop, "drop", "10m");
    let create = at_time(&d.create, "create", "30s");
    let reload = d.reload.as_ref().and_then(|v| {
        let text = v.get_ref().trim();
        if text == "after_release" {
            return Some(ReloadWhen::AfterRelease);
        }
        match crate::scenario::units::parse_duration(text) {
            Ok(t) => Some(ReloadWhen::At(t)),
            Err(_) => {
                errors.push(
                    err(
                        v.span(),
                        format!("workload.ddl.reload = {text:?} is not understood"),
                    )
                    .with_hint("give \"after_release\" or a time into the run such as \"6m\""),
                );
                None
            }
        }
    });
    // A call at a time must come before the run ends.
    for (v, key) in [
        (&d.create_index, "create_index"),
        (&d.load, "load"),
        (&d.release, "release"),
        (&d.reload, "reload"),
        (&d.drop, "drop"),
        (&d.create, "create"),
    ] {
        let Some(Ok(t)) = v
            .as_ref()
            .map(|v| crate::scenario::units::parse_duration(v.get_ref().trim()))
        else {
            continue;
        };
        if t >= duration {
            errors.push(
                err(
                    span(v),
                    format!("workload.ddl.{key} at {t} comes after the run ends ({duration})"),
                )
                .with_hint("make the call earlier or the experiment's duration longer"),
            );
        }
    }
    if errors.len() > before {
        return None;
    }
    let mut when = |v: &Option<Spanned<String>>, key: &str, wait: (&str, DdlWhen)| {
        let Some(v) = v else {
            return DdlWhen::Start;
        };
        let text = v.get_ref().trim();
        if text == "start" {
            return DdlWhen::Start;
        }
        if text == wait.0 {
            return wait.1;
        }
        match crate::scenario::units::parse_duration(text) {
            Ok(t) => DdlWhen::At(t),
            Err(_) => {
                errors.push(
                    err(
                        v.span(),
                        format!("workload.ddl.{key} = {text:?} is not understood"),
                    )
                    .with_hint(format!(
                        "give \"start\", \"{}\" or a time into the run such as \"20m\"",
                        wait.0
                    )),
                );
                DdlWhen::Start
            }
        }
    };
    let create_index = when(
        &d.create_index,
        "create_index",
        ("after_flush", DdlWhen::AfterFlush),
    );
    let load = when(&d.load, "load", ("after_index", DdlWhen::AfterIndex));
    if errors.len() > before {
        return None;
    }
    let spec = DdlSpec {
        create_index,
        load,
        release,
        reload,
        drop,
        create,
    };
    if (!spec.indexed_at_start() || !spec.loaded_at_start()) && *c.rows.get_ref() > 0 {
        errors.push(
            err(
                c.rows.span(),
                format!(
                    "collection.rows = {} with a deferred create_index or load",
                    c.rows.get_ref()
                ),
            )
            .with_hint(
                "a collection with rows at the start is indexed and loaded from the start; use rows = 0 and [workload.insert] to play the DDL calls",
            ),
        );
    }
    if create_index == DdlWhen::AfterFlush && !insert.is_some_and(|i| i.flush) {
        errors.push(
            err(
                span(&d.create_index),
                "workload.ddl.create_index = \"after_flush\" with no flush() to wait for".into(),
            )
            .with_hint("add [workload.insert] (with flush = true, the default)"),
        );
    }
    // reference §3.3 / Milvus 2.3: load() of a collection without an index fails
    // ("index not found").
    let load_first = match (create_index, load) {
        (DdlWhen::Start, _) => false,
        (_, DdlWhen::Start) => true,
        // At the same time too: the load() call would find no index yet.
        (DdlWhen::At(a), DdlWhen::At(b)) => b <= a,
        _ => false,
    };
    if load_first {
        let at = span(if d.load.is_some() {
            &d.load
        } else {
            &d.create_index
        });
        errors.push(
            err(at, "workload.ddl.load comes before create_index".into())
            .with_hint(
                "Milvus 2.3 loads only an indexed collection (load() fails: index not found); load after create_index, e.g. load = \"after_index\"",
            ),
        );
    }
    // release() and load() again act on the loaded collection: the release comes
    // after the first load (a time known before the run), the load again after the
    // release.
    match (release, reload) {
        (None, Some(_)) => errors.push(
            err(
                span(&d.reload),
                "workload.ddl.reload without a release".into(),
            )
            .with_hint(
                "load() again follows a release(): add release = \"<time>\", or leave reload out",
            ),
        ),
        (Some(r), Some(ReloadWhen::At(t))) if t <= r => errors.push(
            err(
                span(&d.reload),
                format!("workload.ddl.reload at {t} does not come after the release at {r}"),
            )
            .with_hint(
                "load() again after release(): give a later time, or reload = \"after_release\"",
            ),
        ),
        _ => {}
    }
    if let Some(r) = release {
        let before_load = match load {
            DdlWhen::Start => false,
            DdlWhen::At(t) => r <= t,
            DdlWhen::AfterFlush | DdlWhen::AfterIndex => true,
        };
        if before_load {
            errors.push(
                err(
                    span(&d.release),
                    format!("workload.ddl.release at {r} does not come after the collection's load()"),
                )
                .with_hint(
                    "release() acts on a loaded collection: give load a time before the release (or leave it at \"start\")",
                ),
            );
        }
    }
    if let Some(t) = drop {
        check_drop(d, &spec, t, err, errors);
    }
    if let Some(t) = create {
        check_create(d, c, &spec, t, err, errors);
    }
    (errors.len() == before).then_some(spec)
}

/// Where key `v` stands in the file, else key `or` (a key left at its default is
/// pointed at by the one that makes it wrong); the file's start when neither is
/// written.
fn span_or(v: &Option<Spanned<String>>, or: &Option<Spanned<String>>) -> std::ops::Range<usize> {
    v.as_ref().or(or.as_ref()).map(|v| v.span()).unwrap_or(0..0)
}

/// drop_collection() ends the collection: every other call of `[workload.ddl]`
/// comes before it (a call after it would find no collection: Milvus 2.3 answers
/// "collection not found"), at a time known before the run.
fn check_drop(
    d: &RawDdl,
    spec: &DdlSpec,
    t: SimDuration,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) {
    // A call left at "start" is pointed at by the drop.
    let span = |v: &Option<Spanned<String>>| span_or(v, &d.drop);
    let at = |w: DdlWhen| match w {
        DdlWhen::Start => Some(SimDuration::ZERO),
        DdlWhen::At(a) => Some(a),
        DdlWhen::AfterFlush | DdlWhen::AfterIndex => None,
    };
    let mut after = |key: &str, when: Option<SimDuration>, named: &Option<Spanned<String>>| {
        if when.is_some_and(|w| w < t) {
            return;
        }
        let what = match when {
            Some(w) => format!("at {w} does not come before"),
            None => "waits for a point of the run that may come after".to_string(),
        };
        errors.push(
            err(
                span(named),
                format!("workload.ddl.{key} {what} the drop at {t}"),
            )
            .with_hint(format!(
                "drop_collection() ends the collection, and a {key} after it fails (collection not found): give {key} a time before the drop, or drop later"
            )),
        );
    };
    after("create_index", at(spec.create_index), &d.create_index);
    after("load", at(spec.load), &d.load);
    if let Some(r) = spec.release {
        after("release", Some(r), &d.release);
    }
    match spec.reload {
        Some(ReloadWhen::At(r)) => after("reload", Some(r), &d.reload),
        Some(ReloadWhen::AfterRelease) => after("reload", None, &d.reload),
        None => {}
    }
}

/// create_collection() starts the collection: it is empty (rows = 0), and every
/// other call of `[workload.ddl]` comes after it (before it Milvus 2.3 answers
/// "collection not found"); create_index() and load() are then deferred.
fn check_create(
    d: &RawDdl,
    c: &RawCollection,
    spec: &DdlSpec,
    t: SimDuration,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) {
    let span = |v: &Option<Spanned<String>>| span_or(v, &d.create);
    // One error for rows > 0 (a deferred create_index or load has its own).
    let deferred = !spec.indexed_at_start() || !spec.loaded_at_start();
    if *c.rows.get_ref() > 0 {
        if deferred {
            return;
        }
        return errors.push(
            err(
                c.rows.span(),
                format!(
                    "collection.rows = {} with create = \"{t}\"",
                    c.rows.get_ref()
                ),
            )
            .with_hint(
                "a collection the application creates during the run starts empty: use rows = 0, [workload.insert] and a deferred create_index and load",
            ),
        );
    }
    let mut before = |key: &str, when: DdlWhen, named: &Option<Spanned<String>>| {
        let what = match when {
            DdlWhen::Start => "= \"start\" comes before".to_string(),
            DdlWhen::At(w) if w <= t => format!("at {w} does not come after"),
            _ => return,
        };
        errors.push(
            err(
                span(named),
                format!("workload.ddl.{key} {what} the create at {t}"),
            )
            .with_hint(format!(
                "a collection created during the run has no index and is not loaded before: give {key} a time after the create, or \"{}\"",
                if key == "load" { "after_index" } else { "after_flush" }
            )),
        );
    };
    before("create_index", spec.create_index, &d.create_index);
    before("load", spec.load, &d.load);
    if let Some(r) = spec.drop.filter(|&r| r <= t) {
        errors.push(
            err(
                span(&d.drop),
                format!("workload.ddl.drop at {r} does not come after the create at {t}"),
            )
            .with_hint("drop_collection() acts on a created collection: give drop a later time"),
        );
    }
}

/// reference §1.2: the proxy takes at most 64 MiB per RPC.
const PROXY_MAX_REQUEST_BYTES: u64 = 64 << 20;

/// `[workload.insert]`, or `[workload.upsert]` (`table` names which).
fn resolve_insert(
    i: &RawInsert,
    table: &str,
    row_bytes: u64,
    err: &ErrAt,
    errors: &mut Vec<InputError>,
) -> Option<InsertSpec> {
    let before = errors.len();
    let rows = in_range(
        &i.rows,
        1,
        100_000_000_000,
        &format!("workload.{table}.rows"),
        &format!("give the number of rows to {table}"),
        err,
        errors,
    );
    let max_batch = (PROXY_MAX_REQUEST_BYTES / row_bytes).max(1);
    let batch_rows = match &i.batch_rows {
        Some(b) => {
            let x = *b.get_ref();
            if x < 1 || x as u64 > max_batch {
                errors.push(
                    err(
                        b.span(),
                        format!(
                            "batch_rows = {x}: a batch of {x} rows of {row_bytes} bytes is outside 1..={max_batch} rows"
                        ),
                    )
                    .with_hint("the proxy refuses requests above 64 MiB (reference §1.2); send smaller batches"),
                );
                None
            } else {
                Some(x as u64)
            }
        }
        // GUESS: bulk-load scripts send about 10,000 rows per call, or less when the
        // rows are wide.
        None => Some(10_000.min(max_batch)),
    };
    let arrivals = match (&i.rate, &i.clients) {
        (Some(r), None) => {
            let rate = *r.get_ref();
            if !(rate > 0.0 && rate <= 1e9) {
                errors.push(
                    err(r.span(), format!("workload.{table}.rate is {rate}"))
                        .with_hint("give a positive rate in rows per second, or clients = N for the highest rate the cluster sustains"),
                );
            }
            InsertArrivals::Rate(rate)
        }
        (None, Some(c)) => InsertArrivals::Clients(
            in_range(
                c,
                1,
                100_000,
                &format!("workload.{table}.clients"),
                &format!("use at least one {table}ing client"),
                err,
                errors,
            )
            .unwrap_or(1) as u32,
        ),
        (Some(r), Some(_)) => {
            errors.push(
                err(
                    r.span(),
                    format!("set either rate (rows per second) or clients (closed loop) under [workload.{table}], not both"),
                )
                .with_hint("remove one of the two keys"),
            );
            InsertArrivals::Clients(1)
        }
        (None, None) => InsertArrivals::Clients(1),
    };
    if errors.len() > before {
        return None;
    }
    Some(InsertSpec {
        rows: rows?,
        arrivals,
        batch_rows: batch_rows?,
        start: i.start.map(|d| d.0).unwrap_or(SimDuration::ZERO),
        flush: i.flush.unwrap_or(true),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assertions_parse() {
        assert_eq!(
            parse_assert("requests.search.p99_ms <= 50").unwrap(),
            ("requests.search.p99_ms".into(), CmpOp::Le, 50.0)
        );
        assert!(parse_assert("a ~ 3").is_err());
        assert!(parse_assert("a < x").is_err());
    }

    /// An assertion on a section the run will not write is refused when the
    /// experiment is read, and accepted once the workload writes it.
    #[test]
    fn assertions_on_absent_sections_are_refused_up_front() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
        let base = std::fs::read_to_string(dir.join("control-ok.toml")).expect("fixture");
        let read = |extra: &str, expr: &str| {
            let text = format!("{base}\n{extra}\n[[assert]]\nexpr = \"{expr} >= 0\"\n");
            load_experiment_text(&dir.join("case.toml"), &text, &[])
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let refused = |extra: &str, expr: &str, needs: &str| {
            let e = read(extra, expr).expect_err(expr);
            assert!(e.contains(needs), "{expr}: {e}");
        };
        refused("", "requests.delete.p50_ms", "[workload.delete]");
        refused("", "requests.query.qps", "[workload.query]");
        refused("", "ingest.rows", "[workload.insert] or [workload.upsert]");
        refused("", "ddl.loaded_s", "under [workload.ddl]");
        refused("", "storage.peak_bytes", "object storage");
        let query = "[workload.query]\nqps = 10\nids = 1";
        read(query, "requests.query.qps").expect("a query workload writes requests.query");
        read("", "requests.search.p99_ms").expect("searches always have a table");
        read("", "hardware.cores").expect("top-level figures are always written");
    }
}
