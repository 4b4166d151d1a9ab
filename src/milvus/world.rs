//! State the actors share: hosts and their resources, the network, the request table
//! and the recorder. Actors reach it through their context, one at a time.

use rand::RngExt;

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::hw::{
    BandwidthServer, HostCost, HostSpec, IndexSpec, Memory, Network, PsCpu, SearchSpec,
    SecondBuckets,
};
use crate::report::recorder::{Recorder, RequestRow, Status};
use crate::scenario::experiment::{Consistency, SessionScope};
use crate::scenario::faults::Failover;
use crate::scenario::topology::ServiceKind;

use super::layout::Layout;
use super::msg::{Fail, Msg, Req, Ts};
use super::retrieve::{filter_segment_ns, query_segment_ns, QueryParams, ReqKind};

pub const MAX_SHARDS: usize = 16;

pub struct HostRt {
    pub spec: HostSpec,
    pub cpu: PsCpu<(ActorId, Msg)>,
    pub memory: Memory,
    pub cost: HostCost,
    pub endpoint: usize,
    /// Reads from the host's disk (object storage serving segment loads).
    pub disk_read: BandwidthServer,
    pub disk_write: BandwidthServer,
    pub up: bool,
    /// A `disk_full` fault: writes to the disk fail (a bookie turns read-only, MinIO's
    /// drives on the host refuse new objects).
    pub disk_full: bool,
    /// The slow_disk factors in force: an etcd member's fsync takes this many times
    /// its spec's latency.
    pub fsync_slowdown: f64,
    /// Its memory went past its capacity once (reported once).
    pub overcommitted: bool,
    /// Swarm declared the node down (reference §2.10): its tasks are out of their
    /// services' virtual IPs, so a connect to such a service is refused at once.
    pub swarm_down: bool,
}

/// Resource use of one service on one host, for the time series.
pub struct Usage {
    pub host: usize,
    pub service: String,
    /// The service is simulated (it appears in the time series).
    pub simulated: bool,
    /// Index of this service among the CPU owners of its host.
    pub cpu_owner: usize,
    pub net_tx: SecondBuckets,
    pub net_rx: SecondBuckets,
    pub disk_read: SecondBuckets,
    pub disk_write: SecondBuckets,
    pub queue_max: Vec<u32>,
    /// Memory held now.
    pub memory_bytes: u64,
    /// Largest memory held in each second, for the time series.
    pub memory_by_second: Vec<u64>,
}

impl Usage {
    pub fn new(host: usize, service: String, simulated: bool, cpu_owner: usize) -> Self {
        Usage {
            host,
            service,
            simulated,
            cpu_owner,
            net_tx: Default::default(),
            net_rx: Default::default(),
            disk_read: Default::default(),
            disk_write: Default::default(),
            queue_max: Vec::new(),
            memory_bytes: 0,
            memory_by_second: Vec::new(),
        }
    }

    pub fn note_queue(&mut self, t: SimTime, len: usize) {
        let s = (t.0 / crate::engine::NS_PER_S) as usize;
        if s >= self.queue_max.len() {
            self.queue_max.resize(s + 1, 0);
        }
        let len = len.min(u32::MAX as usize) as u32;
        self.queue_max[s] = self.queue_max[s].max(len);
    }

    /// Records that this service now holds `bytes`.
    pub fn set_memory(&mut self, t: SimTime, bytes: u64) {
        let s = (t.0 / crate::engine::NS_PER_S) as usize;
        if s >= self.memory_by_second.len() {
            let last = self.memory_bytes;
            self.memory_by_second.resize(s + 1, last);
        }
        self.memory_by_second[s] = self.memory_by_second[s].max(bytes);
        self.memory_bytes = bytes;
    }

    /// Memory of second `s`: the largest held during it.
    pub fn memory_at(&self, s: usize) -> u64 {
        self.memory_by_second
            .get(s)
            .copied()
            .unwrap_or(self.memory_bytes)
    }
}

/// A placed, simulated task.
pub struct TaskRt {
    pub name: String,
    pub service: String,
    pub kind: ServiceKind,
    pub host: usize,
    pub usage: usize,
    /// The process runs (it may still be starting its work).
    pub up: bool,
    /// Incarnation: bumped each time the process dies.
    pub gen: u8,
    pub down_at: Option<SimTime>,
    /// The session key of a crashed incarnation still exists: it lingers until its
    /// lease runs out (reference §2.1 item 1).
    pub stale_session: bool,
    /// Memory a fresh incarnation holds before any data: a process's base, or none
    /// for a role sharing the process of another (a standalone).
    pub base_bytes: u64,
    /// The task is one of its service's replicas now: false for the slots a
    /// `scale_service` adds until it runs, and for those a scale-down removed.
    pub in_service: bool,
}

/// One search in flight.
#[derive(Clone, Debug)]
pub struct SearchState {
    pub id: u64,
    pub client: u32,
    pub proxy_index: u32,
    pub proxy: ActorId,
    pub start: SimTime,
    pub proxy_gen: u8,
    pub ts: Ts,
    pub guarantee: Ts,
    pub shards_pending: u16,
    pub workers_pending: [u16; MAX_SHARDS],
    pub replica_of_shard: [u8; MAX_SHARDS],
    /// Replicas already tried for each shard (a bit per replica): reference §2.2, a
    /// failed node is excluded for the rest of the request.
    pub tried: [u8; MAX_SHARDS],
    /// Shards sitting at a delegator (a bit per shard), which delegator (query node
    /// index), and the first failure a worker reported for each.
    pub at_delegator: u16,
    pub delegator: [u8; MAX_SHARDS],
    pub shard_error: [Option<Fail>; MAX_SHARDS],
    /// Accepted by its proxy and not yet answered.
    pub at_proxy: bool,
    /// Shard retries after a stale leader cache (reference §2.2: at most leaders x 2
    /// attempts per request).
    pub retries: u8,
    pub error: Option<&'static str>,
    /// Answered early (its proxy died) while parts of it may still be in flight: the
    /// slot is never reused, so late messages find it and are ignored.
    pub leaked: bool,
    /// Its row is recorded (a free slot, or a leaked or timed-out one kept).
    pub closed: bool,
    /// The client gave up at its deadline; the slot is freed when the late answer
    /// comes.
    pub timed_out: bool,
    /// Attempts the client made before this one (its retry policy).
    pub attempts: u8,
    /// A vector search, a query by primary key, or an expression delete's query.
    pub kind: ReqKind,
    /// An expression delete's query: the keys its filter matches, and the delete
    /// (an index into `World::ingest.inserts`) that waits for them.
    pub keys: u32,
    pub delete_of: Req,
}

impl SearchState {
    fn new(
        id: u64,
        kind: ReqKind,
        client: u32,
        proxy_index: u32,
        proxy: ActorId,
        start: SimTime,
    ) -> Self {
        SearchState {
            kind,
            id,
            client,
            proxy_index,
            proxy,
            proxy_gen: 0,
            start,
            ts: 0,
            guarantee: 0,
            shards_pending: 0,
            workers_pending: [0; MAX_SHARDS],
            replica_of_shard: [0; MAX_SHARDS],
            tried: [0; MAX_SHARDS],
            retries: 0,
            at_delegator: 0,
            delegator: [0; MAX_SHARDS],
            shard_error: [None; MAX_SHARDS],
            at_proxy: false,
            error: None,
            leaked: false,
            closed: false,
            timed_out: false,
            attempts: 0,
            keys: 0,
            delete_of: 0,
        }
    }
}

/// Search parameters every actor needs.
pub struct SearchParams {
    pub nq: u32,
    pub topk: u32,
    pub dim: u32,
    pub shards: u32,
    pub consistency: Consistency,
    pub session: SessionScope,
    /// reference §1.1 common.gracefulTime, as a hybrid-timestamp offset.
    pub graceful_ts: Ts,
}

/// Where the loaded collection is served from now: the leader view the delegators
/// hold, which the query coordinator's leader observer keeps in step (reference §2.2).
#[derive(Clone, Debug)]
pub struct Dist {
    /// Per replica, per segment: the query node whose copy searches use.
    pub holder: Vec<Vec<Option<usize>>>,
    /// Per replica, per shard: the query node leading it.
    pub leader: Vec<Vec<Option<usize>>>,
    /// Per replica, per shard: segments no node serves.
    pub lacking: Vec<Vec<u32>>,
    /// Per replica, per segment: whether it is in the current target, i.e. searches
    /// need it. A handed-off segment joins once loaded; until then its rows are
    /// served from the delegator's growing copy (reference §3.3 step 8).
    pub in_target: Vec<Vec<bool>>,
    /// Per segment: merged away by compaction and released; nothing loads it again.
    pub retired: Vec<bool>,
    /// Per replica, per segment: whether the served copy has its index (a segment
    /// handed off before its build finished is served by brute force until the
    /// index checker loads the index, reference §3.3 step 8).
    pub indexed: Vec<Vec<bool>>,
}

/// What each fault cost, filled in as the run plays.
#[derive(Clone, Debug, Default)]
pub struct FaultStats {
    pub detected_at: Option<SimTime>,
    /// Bytes loaded to replace what the fault took away.
    pub bytes_reloaded: u64,
    /// Bytes moved by the balancer afterwards (e.g. back to a returned node).
    pub bytes_rebalanced: u64,
}

/// Precomputed work of one sub-request: (replica, shard, node) -> CPU demand.
#[derive(Clone, Copy, Debug, Default)]
pub struct SubCost {
    pub demand_core_ns: f64,
    pub threads: u32,
    /// The same for a query by primary key (see `retrieve`).
    pub query_core_ns: f64,
    /// The same for an expression delete's query, a filter over every row, and the
    /// rows it scans.
    pub filter_core_ns: f64,
    pub rows: u64,
}

pub struct World {
    pub hosts: Vec<HostRt>,
    pub net: Network,
    pub client_endpoint: usize,
    pub tasks: Vec<TaskRt>,
    pub usage: Vec<Usage>,
    pub rec: Recorder,
    pub searches: Vec<SearchState>,
    free: Vec<Req>,
    next_request_id: u64,
    pub layout: Layout,
    pub params: SearchParams,
    /// Indexed by (replica * shards + shard) * query nodes + node.
    pub sub_cost: Vec<SubCost>,
    /// Query nodes holding each (replica, shard), indexed replica * shards + shard.
    pub workers: Vec<Vec<usize>>,
    pub hardware: ActorId,
    pub query_node_actors: Vec<ActorId>,
    /// Task index of each query node.
    pub query_node_tasks: Vec<usize>,
    /// Task index of each actor that runs as a task (`usize::MAX` for others).
    pub task_of_actor: Vec<usize>,
    pub end: SimTime,
    pub dist: Dist,
    /// What querycoord answers GetShardLeaders with, per (replica, shard): the
    /// leader, or none when the shard is unavailable there (reference §2.1 item 2).
    pub shard_view: Vec<Option<usize>>,
    pub index: IndexSpec,
    pub search: SearchSpec,
    /// reference §1.8 queryNode.segcore.cgoPoolSizeRatio.
    pub cgo_ratio: f64,
    /// Knowhere's search threads per core: reference §1.8
    /// queryNode.segcore.knowhereThreadPoolNumRatio (clamped to 1-32) with
    /// `enableDisk`, else 1.
    pub knowhere_ratio: f64,
    /// reference §1.7 queryCoord.globalRowCountFactor (score-based balancer).
    pub layout_global_factor: f64,
    pub failover: Failover,
    /// Placement tasks of the object storage (MinIO) servers.
    pub minio_tasks: Vec<usize>,
    /// Placement tasks of the nginx load balancer in front of MinIO, and per host
    /// the next one its IPVS sends a connection to (an index into them).
    pub nginx_tasks: Vec<usize>,
    pub next_nginx: Vec<usize>,
    /// The nginx workers' view of the MinIO servers (reference §1.10, §2.9).
    pub upstream: super::nginx::Upstream,
    /// Object storage is a standalone's local disk (no erasure coding).
    pub local_storage: bool,
    pub faults: Vec<FaultStats>,
    /// The fault whose consequences are playing out (the latest one started).
    pub current_fault: Option<usize>,
    pub querycoord: ActorId,
    pub rootcoord: ActorId,
    pub control: ActorId,
    /// Write-path messages a network cut or a dead receiver held back, sent again
    /// by the control actor (see [`hold_back`]).
    pub held_back: Vec<HeldBack>,
    pub clients: ActorId,
    /// The clients sending queries by primary key, and their shape (if any).
    pub query_clients: ActorId,
    pub query: Option<QueryParams>,
    /// Placement tasks of the etcd members.
    pub etcd_tasks: Vec<usize>,
    /// When etcd lost its quorum (while it has none).
    pub etcd_lost_at: Option<SimTime>,
    /// The etcd member leading the Raft group, if any.
    pub etcd_leader: Option<usize>,
    /// While a leader election runs: when it ends.
    pub etcd_electing_until: Option<SimTime>,
    /// reference §1.8 load guard, as a share of host memory.
    pub load_guard: f64,
    pub ingest: super::ingest::Ingest,
    /// The application's create_index() and load().
    pub ddl: super::ddl::Ddl,
    /// What object storage holds (see `storage`).
    pub storage: super::storage::Storage,
    /// Per task: its session was deleted while the process ran on, cut off from etcd
    /// (reference §2.1 item 1); it exits once its keep-alive retries fail.
    pub session_lost: Vec<bool>,
}

impl World {
    /// Of the proxies' tasks, starting at `i` and going round, the first one that is
    /// one of its service's replicas now (clients know the proxies that exist).
    pub fn proxy_in_service(&self, proxies: &[(crate::engine::ActorId, usize)], i: usize) -> usize {
        let n = proxies.len();
        (0..n)
            .map(|k| (i + k) % n)
            .find(|&j| self.tasks[proxies[j].1].in_service)
            .unwrap_or(i)
    }

    #[allow(clippy::too_many_arguments)]
    pub fn new(
        hosts: Vec<HostRt>,
        net: Network,
        client_endpoint: usize,
        tasks: Vec<TaskRt>,
        usage: Vec<Usage>,
        layout: Layout,
        params: SearchParams,
        end: SimTime,
        index: IndexSpec,
        search: SearchSpec,
        failover: Failover,
    ) -> World {
        let replicas = layout.replicas.len();
        let shards = params.shards as usize;
        let dist = Dist {
            holder: layout
                .replicas
                .iter()
                .map(|r| r.holder.iter().map(|&n| Some(n)).collect())
                .collect(),
            leader: layout
                .replicas
                .iter()
                .map(|r| r.leaders.iter().map(|&n| Some(n)).collect())
                .collect(),
            lacking: vec![vec![0; shards]; replicas],
            in_target: vec![vec![true; layout.segments.len()]; replicas],
            retired: vec![false; layout.segments.len()],
            indexed: vec![vec![true; layout.segments.len()]; replicas],
        };
        let session_lost = vec![false; tasks.len()];
        let shard_view = layout
            .replicas
            .iter()
            .flat_map(|r| r.leaders.iter().map(|&n| Some(n)))
            .collect();
        World {
            hosts,
            net,
            client_endpoint,
            tasks,
            usage,
            rec: Recorder::default(),
            searches: Vec::new(),
            free: Vec::new(),
            next_request_id: 1,
            layout,
            params,
            sub_cost: Vec::new(),
            workers: Vec::new(),
            hardware: ActorId(0),
            query_node_actors: Vec::new(),
            query_node_tasks: Vec::new(),
            task_of_actor: Vec::new(),
            end,
            shard_view,
            dist,
            index,
            search,
            cgo_ratio: 2.0,
            knowhere_ratio: 1.0,
            layout_global_factor: 0.1,
            failover,
            minio_tasks: Vec::new(),
            nginx_tasks: Vec::new(),
            next_nginx: Vec::new(),
            upstream: Default::default(),
            local_storage: false,
            faults: Vec::new(),
            current_fault: None,
            querycoord: ActorId(0),
            rootcoord: ActorId(0),
            control: ActorId(0),
            held_back: Vec::new(),
            clients: ActorId(0),
            query_clients: ActorId(0),
            query: None,
            etcd_tasks: Vec::new(),
            etcd_lost_at: None,
            etcd_leader: None,
            etcd_electing_until: None,
            load_guard: 0.9,
            ingest: Default::default(),
            ddl: Default::default(),
            storage: Default::default(),
            session_lost,
        }
    }

    /// Room for `k` more replicas that no node serves yet (a later load_replicas).
    pub fn add_unloaded_replicas(&mut self, k: usize) {
        let shards = self.params.shards as usize;
        let segments = self.layout.segments.len();
        for _ in 0..k {
            self.dist.holder.push(vec![None; segments]);
            self.dist.leader.push(vec![None; shards]);
            self.dist.lacking.push(vec![0; shards]);
            self.dist.in_target.push(vec![true; segments]);
            self.dist.indexed.push(vec![true; segments]);
            self.shard_view.extend(std::iter::repeat_n(None, shards));
        }
    }

    /// Recomputes which nodes serve each shard of `replica` and what each
    /// sub-request costs there, after the leader view changed.
    pub fn refresh_routing(&mut self, replica: usize) {
        let shards = self.params.shards as usize;
        let nodes = self.layout.query_nodes.len();
        for shard in 0..shards {
            let mut demand = vec![0.0; nodes];
            let mut query_demand = vec![0.0; nodes];
            let mut filter_demand = vec![0.0; nodes];
            let mut rows = vec![0u64; nodes];
            let ids = self.query.map_or(0, |q| q.ids);
            let mut count = vec![0u32; nodes];
            let mut threads = vec![0u32; nodes];
            let mut lacking = 0;
            let flat = IndexSpec {
                kind: crate::hw::IndexKind::Flat,
                ..self.index.clone()
            };
            for (i, seg) in self.layout.segments.iter().enumerate() {
                if seg.shard as usize != shard {
                    continue;
                }
                match self.dist.holder[replica][i] {
                    Some(n) => {
                        let host = &self.hosts[self.tasks[self.layout.query_nodes[n]].host];
                        let spec = if self.dist.indexed[replica][i] {
                            &self.index
                        } else {
                            &flat
                        };
                        demand[n] += host.cost.segment_search_ns(spec, seg.rows, &self.search);
                        query_demand[n] += query_segment_ns(seg.rows, ids);
                        filter_demand[n] += filter_segment_ns(&host.cost, seg.rows);
                        rows[n] += seg.rows;
                        count[n] += 1;
                        threads[n] += self.search.nq.clamp(1, self.knowhere_pool(host));
                    }
                    None if self.dist.in_target[replica][i] => lacking += 1,
                    None => {}
                }
            }
            self.dist.lacking[replica][shard] = lacking;
            let mut workers = Vec::new();
            for n in 0..nodes {
                if count[n] > 0 {
                    workers.push(n);
                }
                let host = &self.hosts[self.tasks[self.layout.query_nodes[n]].host];
                // reference §3.1 step 5: one goroutine per segment, through the cgo pool.
                // knowhere 2.x runs each query of a segment's search as its own task on
                // its search pool, raw data (brute force, HostCost::brute_force_ns) and
                // indexes alike, so a segment keeps up to min(nq, pool) threads busy.
                // The quiet fidelity records (results-full-quiet.json, nothing else
                // running) show it: one search at nq 10 used 1.34-1.74 of the two
                // cores, at nq 100 1.83-1.96, for IVF_FLAT and HNSW as for FLAT
                // (1.99-2.16); at nq 1 one core. (The earlier records, taken beside
                // about one busy core, could not tell one thread from min(nq, pool).)
                let cgo = ((host.spec.cores as f64 * self.cgo_ratio) as u32).max(1);
                let pool = cgo.max(self.knowhere_pool(host));
                self.sub_cost[(replica * shards + shard) * nodes + n] = SubCost {
                    demand_core_ns: demand[n],
                    threads: threads[n].clamp(1, pool),
                    query_core_ns: query_demand[n],
                    filter_core_ns: filter_demand[n],
                    rows: rows[n],
                };
            }
            self.workers[replica * shards + shard] = workers;
        }
    }

    /// Knowhere's search threads on a query node's `host` (reference §1.8).
    fn knowhere_pool(&self, host: &HostRt) -> u32 {
        ((host.spec.cores as f64 * self.knowhere_ratio) as u32).max(1)
    }

    /// reference §2.7: etcd serves while a majority of its members runs (a topology
    /// without etcd members is taken to have a working one).
    /// A network partition can split the members: the quorum is a majority that
    /// reaches each other.
    pub fn etcd_quorum(&self) -> bool {
        self.etcd_tasks.is_empty() || self.etcd_tasks.iter().any(|&m| self.etcd_majority(m))
    }

    /// Whether etcd member `m` runs and reaches a majority of the members (itself
    /// included).
    fn etcd_majority(&self, m: usize) -> bool {
        if !self.tasks[m].up {
            return false;
        }
        let with = self
            .etcd_tasks
            .iter()
            .filter(|&&o| self.tasks[o].up && self.tasks_reachable(m, o))
            .count();
        with * 2 > self.etcd_tasks.len()
    }

    /// Whether placement task `t` reaches an etcd member of the quorum (its session
    /// keep-alives go through).
    pub fn has_etcd(&self, t: usize) -> bool {
        self.etcd_tasks.is_empty()
            || self
                .etcd_tasks
                .iter()
                .any(|&m| self.tasks_reachable(t, m) && self.etcd_majority(m))
    }

    /// The network endpoint of placement task `t`'s host.
    pub fn task_endpoint(&self, t: usize) -> usize {
        self.hosts[self.tasks[t].host].endpoint
    }

    /// Whether no network cut separates the hosts of tasks `a` and `b`.
    pub fn tasks_reachable(&self, a: usize, b: usize) -> bool {
        self.net
            .reachable(self.task_endpoint(a), self.task_endpoint(b))
    }

    /// Since when task `to` is unreachable from task `from`: it died, or a network
    /// cut separates them (none while both hold).
    pub fn unreachable_since(&self, from: usize, to: usize) -> Option<SimTime> {
        let t = &self.tasks[to];
        if !t.up {
            return t.down_at;
        }
        let (a, b) = (self.task_endpoint(from), self.task_endpoint(to));
        if self.net.reachable(a, b) {
            return None;
        }
        self.net.cut_started(a, b)
    }

    /// Whether etcd takes writes now: a quorum and a leader (reference §2.7).
    pub fn etcd_writable(&self) -> bool {
        self.etcd_quorum() && self.etcd_electing_until.is_none()
    }

    /// A query node process started empty: whatever the leader view said it served
    /// is gone (its old incarnation's memory went with it).
    pub fn forget_node(&mut self, node: usize) {
        let mut touched = Vec::new();
        for r in 0..self.dist.holder.len() {
            let mut changed = false;
            for h in self.dist.holder[r]
                .iter_mut()
                .chain(self.dist.leader[r].iter_mut())
            {
                if *h == Some(node) {
                    *h = None;
                    changed = true;
                }
            }
            if changed {
                touched.push(r);
            }
        }
        for r in touched {
            self.refresh_routing(r);
        }
    }

    /// Whether the process of placement task `t` runs and is incarnation `gen`.
    pub fn alive(&self, t: usize, gen: u8) -> bool {
        let task = &self.tasks[t];
        task.up && task.gen == gen
    }

    pub fn gen_of(&self, actor: ActorId) -> u8 {
        self.tasks[self.task_of(actor)].gen
    }

    /// Moves task `t` to `host` (Swarm started its replacement there): it uses that
    /// host's CPU, memory and NIC from now on.
    pub fn move_task(&mut self, t: usize, host: usize) {
        let service = self.tasks[t].service.clone();
        let simulated = self.tasks[t].kind.carries_traffic();
        let u = match self
            .usage
            .iter()
            .position(|u| u.host == host && u.service == service)
        {
            Some(u) => u,
            None => {
                let cpu_owner = self.hosts[host].cpu.add_owner();
                self.usage
                    .push(Usage::new(host, service, simulated, cpu_owner));
                self.usage.len() - 1
            }
        };
        self.tasks[t].host = host;
        self.tasks[t].usage = u;
    }

    /// Records a lifecycle event at `t` for placement task `task`.
    pub fn task_event(&mut self, t: SimTime, kind: &'static str, task: usize, detail: String) {
        let host = self.hosts[self.tasks[task].host].spec.name.clone();
        let service = self.tasks[task].service.clone();
        self.rec.event(t, kind, &host, &service, detail);
    }

    /// Counts `bytes` loaded against the fault playing out: a reload, or a balance
    /// move.
    pub fn note_reloaded(&mut self, bytes: u64, moved: bool) {
        if let Some(f) = self.current_fault {
            if moved {
                self.faults[f].bytes_rebalanced += bytes;
            } else {
                self.faults[f].bytes_reloaded += bytes;
            }
        }
    }

    /// Records that the cluster noticed the fault playing out (first notice wins).
    pub fn note_detected(&mut self, t: SimTime) {
        if let Some(f) = self.current_fault {
            self.faults[f].detected_at.get_or_insert(t);
        }
    }

    /// How long a call to a dead process takes to fail.
    pub fn rpc_error_after(&self) -> SimDuration {
        self.failover.rpc_error_after
    }

    /// The query-node index of placement task `t`, if it is a query node.
    pub fn node_of_task(&self, t: usize) -> Option<usize> {
        self.query_node_tasks.iter().position(|&q| q == t)
    }

    pub fn task_of(&self, actor: ActorId) -> usize {
        let t = self.task_of_actor[actor.index()];
        assert!(t != usize::MAX, "actor {actor:?} is not a task");
        t
    }

    pub fn sub_cost(&self, replica: usize, shard: usize, node: usize) -> SubCost {
        let n = self.layout.query_nodes.len();
        self.sub_cost[(replica * self.params.shards as usize + shard) * n + node]
    }

    pub fn workers_of(&self, replica: usize, shard: usize) -> &[usize] {
        &self.workers[replica * self.params.shards as usize + shard]
    }

    /// Opens a search in the request table.
    pub fn open_search(
        &mut self,
        kind: ReqKind,
        client: u32,
        proxy_index: u32,
        proxy: ActorId,
        start: SimTime,
    ) -> Req {
        let state = SearchState::new(
            self.next_request_id,
            kind,
            client,
            proxy_index,
            proxy,
            start,
        );
        self.next_request_id += 1;
        self.take_slot(state)
    }

    fn take_slot(&mut self, state: SearchState) -> Req {
        match self.free.pop() {
            Some(i) => {
                self.searches[i as usize] = state;
                i
            }
            None => {
                self.searches.push(state);
                (self.searches.len() - 1) as Req
            }
        }
    }

    /// Search `req` failed and its client sends it again: the slot is cleared for the
    /// next attempt, keeping the request's id and start (one row per request, its
    /// latency covering every attempt). If stray messages of the failed attempt may
    /// still come (`leaked`), the request moves to a fresh slot; returns the slot and
    /// whether it moved.
    pub fn retry_search(&mut self, req: Req) -> (Req, bool) {
        let old = &self.searches[req as usize];
        let mut next = SearchState::new(
            old.id,
            old.kind,
            old.client,
            old.proxy_index,
            old.proxy,
            old.start,
        );
        next.attempts = old.attempts.saturating_add(1);
        match old.kind {
            ReqKind::Search => self.rec.search_retries += 1,
            ReqKind::Query => self.rec.query_retries += 1,
            ReqKind::DeleteQuery => unreachable!("a delete's query is not retried by a client"),
        }
        if old.leaked {
            self.searches[req as usize].closed = true;
            (self.take_slot(next), true)
        } else {
            self.searches[req as usize] = next;
            (req, false)
        }
    }

    /// Records a finished search and frees its slot.
    pub fn close_search(&mut self, req: Req, end: SimTime) {
        let s = &self.searches[req as usize];
        let row = RequestRow::finished(s.id, s.kind.name(), s.start, end, s.error, s.proxy_index);
        let leaked = s.leaked;
        self.record_search(row);
        self.searches[req as usize].closed = true;
        if !leaked {
            self.free.push(req);
        }
    }

    /// An expression delete's query is over: its slot is freed with no row of its
    /// own (its delete's row is the request).
    pub fn drop_delete_query(&mut self, req: Req) {
        let s = &mut self.searches[req as usize];
        assert_eq!(
            s.kind,
            ReqKind::DeleteQuery,
            "only a delete's query has no row"
        );
        s.closed = true;
        if !s.leaked {
            self.free.push(req);
        }
    }

    /// The client's deadline passed: the search is recorded as failed now; its slot
    /// stays until the cluster's late answer arrives.
    pub fn time_out_search(&mut self, req: Req, now: SimTime, error: &'static str) {
        let s = &mut self.searches[req as usize];
        s.error = Some(error);
        s.timed_out = true;
        s.closed = true;
        let row = RequestRow::finished(
            s.id,
            s.kind.name(),
            s.start,
            now,
            Some(error),
            s.proxy_index,
        );
        self.record_search(row);
    }

    /// Records a search's row; a failure answered while the application's own
    /// release() or load() keeps the collection unserved is marked as its doing.
    fn record_search(&mut self, mut row: RequestRow) {
        row.by_application = row.status == Status::Error && self.ddl.unserved_by_application();
        self.rec.requests.push(row);
    }

    /// The late answer of a timed-out search: the slot is free again (unless stray
    /// messages may still come for it).
    pub fn release_timed_out(&mut self, req: Req) {
        if !self.searches[req as usize].leaked {
            self.free.push(req);
        }
    }

    /// Records every search still in flight as incomplete (end of run).
    pub fn close_incomplete(&mut self) {
        let mut free = std::mem::take(&mut self.free);
        free.sort_unstable();
        let mut next_free = free.iter().peekable();
        for (i, s) in self.searches.iter().enumerate() {
            if next_free.peek().is_some_and(|&&f| f as usize == i) {
                next_free.next();
                continue;
            }
            if s.closed || !s.kind.from_client() {
                // A leaked slot whose row is already recorded, or a delete's query
                // (its delete has the row).
                continue;
            }
            (self.rec.requests).push(RequestRow::incomplete(
                s.id,
                s.kind.name(),
                s.start,
                s.proxy_index,
            ));
        }
        self.searches.clear();
        // Writes sent and not answered by the end: in flight, as searches are.
        for s in self.ingest.inserts.iter().filter(|s| !s.closed) {
            (self.rec.requests).push(RequestRow::incomplete(
                super::ingest::INSERT_ID_BASE + s.id,
                s.kind.name(),
                s.start,
                s.proxy_index,
            ));
        }
        self.rec.requests.sort_by_key(|r| r.id);
    }
}

/// Runs `demand_core_ns` of work for `task` on its host's CPU over `threads`
/// threads; `msg` is delivered to `then` when it completes.
pub fn run_cpu(
    ctx: &mut Ctx<'_, Msg, World>,
    task: usize,
    demand_core_ns: f64,
    threads: u32,
    then: ActorId,
    msg: Msg,
) {
    let t = &ctx.world.tasks[task];
    let (host, owner) = (t.host, ctx.world.usage[t.usage].cpu_owner);
    submit_cpu(ctx, host, owner, demand_core_ns, threads, then, msg);
}

/// Starts CPU work of `owner` (a process, or clients placed on the host) on `host`'s
/// processor-sharing CPU; `msg` goes to `then` when it is done.
pub fn submit_cpu(
    ctx: &mut Ctx<'_, Msg, World>,
    host: usize,
    owner: usize,
    demand_core_ns: f64,
    threads: u32,
    then: ActorId,
    msg: Msg,
) {
    let now = ctx.now();
    let next = ctx.world.hosts[host]
        .cpu
        .submit(now, demand_core_ns, threads, owner, (then, msg));
    wake_cpu_at(ctx, host, next);
}

/// The host's CPU needs a wake-up at `at` (when some work may be done).
pub fn wake_cpu_at(ctx: &mut Ctx<'_, Msg, World>, host: usize, at: Option<SimTime>) {
    if let Some(at) = at {
        let hw = ctx.world.hardware;
        let host = host as u32;
        ctx.send_at(hw, Msg::CpuWake { host, at }, at);
    }
}

/// A write-path message that did not get through, to be sent again.
#[derive(Clone, Copy, Debug)]
pub struct HeldBack {
    pub from: Endpoint,
    pub target: ActorId,
    pub bytes: u64,
    pub msg: Msg,
}

/// reference §1.2: Milvus's RPC retries (retry.Do) wait up to 3 s between attempts.
pub const HELD_BACK_RETRY: SimDuration = SimDuration::from_secs(3);

/// A write-path message met a network cut or a dead receiver. Its sender retries
/// the call until it gets through (reference §1.2 retry.Do; a coordinator that
/// restarts polls its workers for what finished meanwhile), and a Pulsar consumer
/// cut off from its broker resumes from its cursor once the cut heals (reference
/// §2.8): the message goes out again every [`HELD_BACK_RETRY`] until the run ends.
pub fn hold_back(
    ctx: &mut Ctx<'_, Msg, World>,
    from: Endpoint,
    target: ActorId,
    bytes: u64,
    msg: Msg,
) {
    if ctx.now() >= ctx.world.end {
        return;
    }
    if ctx.world.held_back.is_empty() {
        let control = ctx.world.control;
        ctx.send(control, Msg::RetryHeldBack, HELD_BACK_RETRY);
    }
    ctx.world.held_back.push(HeldBack {
        from,
        target,
        bytes,
        msg,
    });
}

/// Where a message leaves from or arrives at.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Task(usize),
    Clients,
}

/// Sends `msg` of `bytes` from the process of task `from` to the process of actor
/// `to`, over the network.
pub fn send_to(ctx: &mut Ctx<'_, Msg, World>, from: usize, to: ActorId, bytes: u64, msg: Msg) {
    let task = ctx.world.task_of(to);
    send_net(
        ctx,
        Endpoint::Task(from),
        Endpoint::Task(task),
        bytes,
        to,
        msg,
    );
}

/// Sends `bytes` over the network and delivers `msg` to `target` on arrival.
pub fn send_net(
    ctx: &mut Ctx<'_, Msg, World>,
    from: Endpoint,
    to: Endpoint,
    bytes: u64,
    target: ActorId,
    msg: Msg,
) {
    let now = ctx.now();
    send_net_from(ctx, now, from, to, bytes, target, msg);
}

/// Like [`send_net`], but the message leaves at `start` (not before now).
pub fn send_net_from(
    ctx: &mut Ctx<'_, Msg, World>,
    start: SimTime,
    from: Endpoint,
    to: Endpoint,
    bytes: u64,
    target: ActorId,
    msg: Msg,
) {
    let later = start > ctx.now();
    let now = start.max(ctx.now());
    let w = &mut *ctx.world;
    let mut ep = |e: Endpoint, tx: bool| match e {
        Endpoint::Task(t) => {
            let task = &w.tasks[t];
            let u = &mut w.usage[task.usage];
            if tx {
                u.net_tx.add_at(now, bytes as f64);
            } else {
                u.net_rx.add_at(now, bytes as f64);
            }
            w.hosts[task.host].endpoint
        }
        Endpoint::Clients => w.client_endpoint,
    };
    let src = ep(from, true);
    let dst = ep(to, false);
    if !w.net.reachable(src, dst) {
        // A network cut: the call fails as one to a dead process would, a reply is
        // lost and its caller's call fails.
        return super::netfault::undeliverable(msg, from, target, bytes, ctx);
    }
    let loss = w.net.degradation(src, dst).loss;
    let mut at = if later {
        w.net.transfer_later(now, src, dst, bytes)
    } else {
        w.net.transfer(now, src, dst, bytes)
    };
    if loss > 0.0 {
        // A small message has no duplicate acks to trigger a fast retransmit: a lost
        // segment waits for the retransmission timeout (GUESS: Linux's minimum).
        let segments = bytes.div_ceil(crate::hw::TCP_MSS_BYTES).max(1);
        let p = 1.0 - libm::pow(1.0 - loss, segments as f64);
        let rto = ctx.world.failover.tcp_retransmit_timeout;
        if ctx.rng().random::<f64>() < p {
            at += rto;
        }
    }
    ctx.send_at(target, msg, at);
}
