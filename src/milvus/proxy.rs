//! Proxy: the search path's entry (reference §3.1 steps 1-3 and 6).

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::hw::cost::REDUCE_NS_PER_RESULT;
use crate::scenario::experiment::Consistency;

use super::msg::{Msg, Req, Ts};
use super::overheads::{
    search_request_bytes, search_result_bytes, CONTROL_RPC_BYTES, PROXY_PRE_EXECUTE_NS,
    PROXY_REDUCE_BASE_NS,
};
use super::world::{run_cpu, send_net, Endpoint, World};

pub struct Proxy {
    pub task: usize,
    /// Index of this proxy among the proxies (the `proxy` column of requests).
    pub index: u32,
    rootcoord: ActorId,
    querycoord: ActorId,
    client_actor: ActorId,
    /// reference §1.4 proxy.maxTaskNum: tasks beyond it are refused.
    max_tasks: u32,
    /// reference §1.4 proxy.shardLeaderCacheInterval.
    cache_interval: SimDuration,
    leaders_valid_until: SimTime,
    refreshing: bool,
    waiting_for_leaders: Vec<Req>,
    inflight: u32,
    /// Queries outstanding at each (replica, shard) leader: the look-aside balancer's
    /// signal when it has no cost metrics yet (reference §1.4 replicaSelectionPolicy).
    executing_nq: Vec<u32>,
    replicas: usize,
}

impl Proxy {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        task: usize,
        index: u32,
        rootcoord: ActorId,
        querycoord: ActorId,
        client_actor: ActorId,
        max_tasks: u32,
        cache_interval: SimDuration,
        replicas: usize,
        shards: usize,
    ) -> Self {
        Proxy {
            task,
            index,
            rootcoord,
            querycoord,
            client_actor,
            max_tasks,
            cache_interval,
            leaders_valid_until: SimTime::ZERO,
            refreshing: false,
            waiting_for_leaders: Vec::new(),
            inflight: 0,
            executing_nq: vec![0; replicas * shards],
            replicas,
        }
    }

    fn note_queue(&self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let u = ctx.world.tasks[self.task].usage;
        ctx.world.usage[u].note_queue(now, self.inflight as usize);
    }

    pub fn on_search_arrived(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        if self.inflight >= self.max_tasks {
            ctx.world.searches[req as usize].error = Some("proxy task queue is full");
            self.reply(req, ctx);
            return;
        }
        self.inflight += 1;
        self.note_queue(ctx);
        let me = ctx.me();
        run_cpu(
            ctx,
            self.task,
            PROXY_PRE_EXECUTE_NS,
            1,
            me,
            Msg::ProxyPreExecuted { req },
        );
    }

    /// reference §1.1: every proxy task gets a timestamp from rootcoord.
    pub fn on_pre_executed(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let rc = self.rootcoord;
        let rc_task = ctx.world.task_of(rc);
        let me = ctx.me();
        send_net(
            ctx,
            Endpoint::Task(self.task),
            Endpoint::Task(rc_task),
            CONTROL_RPC_BYTES,
            rc,
            Msg::TsoRequested { req, proxy: me },
        );
    }

    pub fn on_tso_allocated(&mut self, req: Req, ts: Ts, ctx: &mut Ctx<'_, Msg, World>) {
        let p = &ctx.world.params;
        // reference §1.12: guarantee timestamp by consistency level.
        let guarantee = match p.consistency {
            Consistency::Strong => ts,
            Consistency::Bounded => ts.saturating_sub(p.graceful_ts),
            // No writes in this workload, so a session's last write is the beginning.
            Consistency::Session | Consistency::Eventually => 1,
        };
        let s = &mut ctx.world.searches[req as usize];
        s.ts = ts;
        s.guarantee = guarantee;
        if ctx.now() < self.leaders_valid_until {
            self.dispatch(req, ctx);
            return;
        }
        // reference §1.4: a stale shard-leader cache is refreshed from querycoord.
        self.waiting_for_leaders.push(req);
        if !self.refreshing {
            self.refreshing = true;
            let qc = self.querycoord;
            let qc_task = ctx.world.task_of(qc);
            let me = ctx.me();
            send_net(
                ctx,
                Endpoint::Task(self.task),
                Endpoint::Task(qc_task),
                CONTROL_RPC_BYTES,
                qc,
                Msg::ShardLeadersRequested { proxy: me },
            );
        }
    }

    pub fn on_shard_leaders_fetched(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        self.refreshing = false;
        self.leaders_valid_until = ctx.now() + self.cache_interval;
        for req in std::mem::take(&mut self.waiting_for_leaders) {
            self.dispatch(req, ctx);
        }
    }

    /// reference §3.1 step 3: one request per shard to a leader of some replica.
    fn dispatch(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let shards = ctx.world.params.shards as usize;
        let nq = ctx.world.params.nq;
        let bytes = search_request_bytes(nq, ctx.world.params.dim);
        ctx.world.searches[req as usize].shards_pending = shards as u16;
        for shard in 0..shards {
            let replica = (0..self.replicas)
                .min_by_key(|&r| (self.executing_nq[r * shards + shard], r))
                .expect("at least one replica");
            self.executing_nq[replica * shards + shard] += nq;
            ctx.world.searches[req as usize].replica_of_shard[shard] = replica as u8;
            let leader = ctx.world.layout.replicas[replica].leaders[shard];
            let qn_actor = ctx.world.query_node_actors[leader];
            let qn_task = ctx.world.query_node_tasks[leader];
            send_net(
                ctx,
                Endpoint::Task(self.task),
                Endpoint::Task(qn_task),
                bytes,
                qn_actor,
                Msg::DelegatorSearchArrived {
                    req,
                    shard: shard as u8,
                    replica: replica as u8,
                },
            );
        }
    }

    pub fn on_shard_searched(&mut self, req: Req, shard: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let shards = ctx.world.params.shards as usize;
        let nq = ctx.world.params.nq;
        let s = &mut ctx.world.searches[req as usize];
        let replica = s.replica_of_shard[shard as usize] as usize;
        self.executing_nq[replica * shards + shard as usize] -= nq;
        s.shards_pending -= 1;
        if s.shards_pending > 0 {
            return;
        }
        // reference §3.1 step 6: merge cost grows with nq x topk x shards.
        let p = &ctx.world.params;
        let demand =
            PROXY_REDUCE_BASE_NS + (p.nq * p.topk) as f64 * shards as f64 * REDUCE_NS_PER_RESULT;
        let me = ctx.me();
        run_cpu(ctx, self.task, demand, 1, me, Msg::ProxyReduced { req });
    }

    pub fn on_reduced(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        self.inflight -= 1;
        self.note_queue(ctx);
        self.reply(req, ctx);
    }

    fn reply(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let p = &ctx.world.params;
        let bytes = search_result_bytes(p.nq, p.topk);
        let client = self.client_actor;
        send_net(
            ctx,
            Endpoint::Task(self.task),
            Endpoint::Clients,
            bytes,
            client,
            Msg::SearchReplied { req },
        );
    }
}
