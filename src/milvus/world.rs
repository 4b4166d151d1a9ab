//! State the actors share: hosts and their resources, the network, the request table
//! and the recorder. Actors reach it through their context, one at a time.

use crate::engine::{ActorId, Ctx, SimTime};
use crate::hw::{HostCost, HostSpec, Memory, Network, PsCpu, SecondBuckets};
use crate::report::recorder::{Recorder, RequestRow, Status};
use crate::scenario::experiment::Consistency;
use crate::scenario::topology::ServiceKind;

use super::layout::Layout;
use super::msg::{Msg, Req, Ts};

pub const MAX_SHARDS: usize = 16;

pub struct HostRt {
    pub spec: HostSpec,
    pub cpu: PsCpu<(ActorId, Msg)>,
    pub memory: Memory,
    pub cost: HostCost,
    pub endpoint: usize,
}

/// Resource use of one service on one host, for the time series.
pub struct Usage {
    pub host: usize,
    pub service: String,
    /// Index of this service among the CPU owners of its host.
    pub cpu_owner: usize,
    pub net_tx: SecondBuckets,
    pub net_rx: SecondBuckets,
    pub disk_read: SecondBuckets,
    pub disk_write: SecondBuckets,
    pub queue_max: Vec<u32>,
    pub memory_bytes: u64,
}

impl Usage {
    pub fn note_queue(&mut self, t: SimTime, len: usize) {
        let s = (t.0 / crate::engine::NS_PER_S) as usize;
        if s >= self.queue_max.len() {
            self.queue_max.resize(s + 1, 0);
        }
        let len = len.min(u32::MAX as usize) as u32;
        self.queue_max[s] = self.queue_max[s].max(len);
    }
}

/// A placed, simulated task.
pub struct TaskRt {
    pub name: String,
    pub service: String,
    pub kind: ServiceKind,
    pub host: usize,
    pub usage: usize,
}

/// One search in flight.
#[derive(Clone, Debug)]
pub struct SearchState {
    pub id: u64,
    pub client: u32,
    pub proxy_index: u32,
    pub proxy: ActorId,
    pub start: SimTime,
    pub ts: Ts,
    pub guarantee: Ts,
    pub shards_pending: u16,
    pub workers_pending: [u16; MAX_SHARDS],
    pub replica_of_shard: [u8; MAX_SHARDS],
    pub error: Option<&'static str>,
}

/// Search parameters every actor needs.
pub struct SearchParams {
    pub nq: u32,
    pub topk: u32,
    pub dim: u32,
    pub shards: u32,
    pub consistency: Consistency,
    /// reference §1.1 common.gracefulTime, as a hybrid-timestamp offset.
    pub graceful_ts: Ts,
}

/// Precomputed work of one sub-request: (replica, shard, node) -> CPU demand.
#[derive(Clone, Copy, Debug, Default)]
pub struct SubCost {
    pub demand_core_ns: f64,
    pub threads: u32,
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
    pub acked_rows: u64,
    pub durable_rows: u64,
}

impl World {
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
    ) -> World {
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
            acked_rows: 0,
            durable_rows: 0,
        }
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
        client: u32,
        proxy_index: u32,
        proxy: ActorId,
        start: SimTime,
    ) -> Req {
        let state = SearchState {
            id: self.next_request_id,
            client,
            proxy_index,
            proxy,
            start,
            ts: 0,
            guarantee: 0,
            shards_pending: 0,
            workers_pending: [0; MAX_SHARDS],
            replica_of_shard: [0; MAX_SHARDS],
            error: None,
        };
        self.next_request_id += 1;
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

    /// Records a finished search and frees its slot.
    pub fn close_search(&mut self, req: Req, end: SimTime) {
        let s = &self.searches[req as usize];
        self.rec.requests.push(RequestRow {
            id: s.id,
            kind: "search",
            start: s.start,
            end: Some(end),
            status: if s.error.is_some() {
                Status::Error
            } else {
                Status::Ok
            },
            error: s.error,
            proxy: s.proxy_index,
        });
        self.free.push(req);
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
            self.rec.requests.push(RequestRow {
                id: s.id,
                kind: "search",
                start: s.start,
                end: None,
                status: Status::Incomplete,
                error: None,
                proxy: s.proxy_index,
            });
        }
        self.searches.clear();
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
    let now = ctx.now();
    let w = &mut *ctx.world;
    let t = &w.tasks[task];
    let host = t.host;
    let owner = w.usage[t.usage].cpu_owner;
    if let Some(at) = w.hosts[host]
        .cpu
        .submit(now, demand_core_ns, threads, owner, (then, msg))
    {
        let hw = w.hardware;
        ctx.send_at(
            hw,
            Msg::CpuWake {
                host: host as u32,
                at,
            },
            at,
        );
    }
}

/// Where a message leaves from or arrives at.
#[derive(Clone, Copy, Debug)]
pub enum Endpoint {
    Task(usize),
    Clients,
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
    let at = w.net.transfer(now, src, dst, bytes);
    ctx.send_at(target, msg, at);
}
