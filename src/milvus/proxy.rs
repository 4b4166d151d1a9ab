//! Proxy: the search path's entry (reference §3.1 steps 1-3 and 6) and its part in
//! failover: replica retries and the look-aside balancer (reference §2.1, §2.2).

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::hw::cost::REDUCE_NS_PER_RESULT;
use crate::scenario::experiment::{Consistency, DeleteBy, SessionScope};

use super::ingest::{Part, WriteKind};
use super::msg::{Fail, Msg, Req, Ts};
use super::overheads::{
    insert_on, search_beside_on, search_stage_on, CONTROL_RPC_BYTES, PROXY_PRE_EXECUTE_SHARE,
    PROXY_REDUCE_SHARE, PROXY_SHARE,
};
use super::retrieve::ReqKind;
use super::world::{run_cpu, send_net_from, send_to, Endpoint, World};

pub const ERR_QUEUE_FULL: &str = "proxy task queue is full";
/// Milvus 2.3's answer to a search or query of a collection not loaded.
pub const ERR_NOT_LOADED: &str = "collection not loaded";
/// Milvus 2.3's answer to any request on a dropped collection (merr
/// ErrCollectionNotFound: the proxy's meta cache asks rootcoord, which no longer
/// lists a collection in the state "dropping").
pub const ERR_COLLECTION_NOT_FOUND: &str = "collection not found";
/// reference §2.11: GetShardLeaders found a channel with no serviceable replica.
pub const ERR_CHANNEL_UNAVAILABLE: &str = "channel not available in any replica";
/// reference §2.5: every proxy task needs a timestamp from rootcoord.
pub const ERR_TSO: &str = "allocate timestamp failed: rootcoord unavailable";
/// reference §2.5: the shard-leader refresh fails while querycoord is down.
pub const ERR_QUERYCOORD: &str = "get shard leaders failed: querycoord unavailable";
pub const ERR_PROXY_CRASHED: &str = "proxy crashed: connection reset";
/// reference §2.5: AssignSegmentID fails while datacoord is down or etcd has no quorum.
pub const ERR_DATACOORD: &str = "assign segment id failed: datacoord unavailable";
/// reference §2.8: the producer's send failed or timed out.
pub const ERR_MQ: &str = "insert failed: message send timeout";

/// GUESS (not in the reference): how long after a sample of the ticker its report
/// loop runs. Milvus starts both loops one after the other when the proxy starts;
/// any lag longer than the sample's timestamp call (well under 1 ms) gives the same
/// reports.
const REPORT_LAG: SimDuration = SimDuration::from_millis(10);

/// The first messages of a ticker's two loops, `gen` being the process's.
pub fn ticker_loops(interval: SimDuration, gen: u8) -> [(SimDuration, Msg); 2] {
    [
        (half(interval), Msg::ProxyTickSample { gen }),
        (first_tick_report(interval), Msg::ProxyTickReport { gen }),
    ]
}

/// When a ticker started at time zero first reports.
pub fn first_tick_report(interval: SimDuration) -> SimDuration {
    interval + REPORT_LAG
}

fn half(d: SimDuration) -> SimDuration {
    SimDuration::from_nanos(d.0 / 2)
}

pub struct Proxy {
    pub task: usize,
    /// Index of this proxy among the proxies (the `proxy` column of requests).
    pub index: u32,
    rootcoord: ActorId,
    querycoord: ActorId,
    /// reference §1.4 proxy.maxTaskNum: tasks beyond it are refused.
    max_tasks: u32,
    /// reference §1.4 proxy.shardLeaderCacheInterval.
    cache_interval: SimDuration,
    leaders_valid_until: SimTime,
    /// The shard-leader cache: per (replica, shard), the leading query node as
    /// querycoord last reported it, or none when it reported the shard unavailable.
    leaders: Vec<Option<usize>>,
    refreshing: bool,
    waiting_for_leaders: Vec<Req>,
    /// Shards to send again once fresh leaders arrive (their leader moved).
    stale_shards: Vec<(Req, u8)>,
    /// Tasks accepted and not yet answered (their searches have `at_proxy` set).
    inflight: u32,
    /// Queries outstanding at each (replica, shard) leader: the look-aside balancer's
    /// signal when it has no cost metrics yet (reference §1.4 replicaSelectionPolicy).
    executing_nq: Vec<u32>,
    replicas: usize,
    shards: usize,
    /// Insert tasks accepted and not yet answered (the DML queue, reference §1.4).
    dml_inflight: u32,
    /// The channels time ticker (reference §1.1, §3.3 step 3).
    ticker: Ticker,
    /// `proxy.timeTickInterval`: the report period; the ticker samples twice as often.
    tick_interval: SimDuration,
}

/// A proxy's channels time ticker (reference §1.1: it reports its channels' ticks to
/// rootcoord; §3.3 step 3). Every half interval it takes a timestamp from rootcoord;
/// its report carries that timestamp, or just below its oldest DML task not yet
/// answered, whichever is lower: every message with an earlier timestamp is then in
/// the channel, so a tick never passes an insert still being produced. A sample
/// that arrives while DML tasks still wait for their timestamps is held until they
/// have them: theirs may be the lower ones, and the network can deliver the
/// sample's answer first (a degraded or lossy link delays each message on its own).
/// A task that starts waiting after the sample arrived gets a later timestamp.
///
/// An expression delete's query is no DML task: it takes its timestamp as a search
/// does, and the delete enters the DML queue (with a timestamp of its own) only once
/// the query returned its keys (see `Proxy::query_delete_keys`). Were the query's
/// timestamp held here, the report would stay below it and the query's wait for
/// tsafe would never end.
///
/// Milvus 2.3's ticker reports the timestamp of the sample before the latest one
/// (`channelsTimeTickerImpl`), which would make every Strong search wait over 100 ms
/// more than the real server's (experiments/fidelity: a closed-loop Strong search
/// of 40 ms takes one 200 ms interval, not two); the model follows the measurement.
#[derive(Default)]
struct Ticker {
    /// What the next report carries; 0 before the first sample.
    min_ts: Ts,
    /// Timestamps of DML tasks allocated and not yet answered, with their counts.
    pending: std::collections::BTreeMap<Ts, u32>,
    /// DML tasks (by request id) waiting for their timestamp.
    awaited: std::collections::BTreeSet<u64>,
    /// The latest sample, while tasks that waited when it arrived still wait.
    held: Option<(Ts, std::collections::BTreeSet<u64>)>,
}

impl Ticker {
    fn sample(&mut self, now: Ts) {
        if self.awaited.is_empty() {
            self.held = None;
            self.apply(now);
        } else {
            self.held = Some((now, self.awaited.clone()));
        }
    }

    fn apply(&mut self, now: Ts) {
        let oldest = self.pending.keys().next().map(|&t| t - 1);
        self.min_ts = oldest.map_or(now, |o| o.min(now));
    }

    /// DML task `id` has its timestamp (registered with `begin`), or failed to get
    /// one; a sample held for it applies once no task it waited for is left.
    fn answered(&mut self, id: u64) {
        self.awaited.remove(&id);
        if let Some((now, waiting)) = &mut self.held {
            waiting.remove(&id);
            if waiting.is_empty() {
                let now = *now;
                self.held = None;
                self.apply(now);
            }
        }
    }

    /// The timestamp the next report carries, once the ticker has sampled.
    fn report(&self) -> Option<Ts> {
        (self.min_ts > 0).then_some(self.min_ts)
    }

    fn begin(&mut self, ts: Ts) {
        *self.pending.entry(ts).or_default() += 1;
    }

    fn end(&mut self, ts: Ts) {
        if let Some(n) = self.pending.get_mut(&ts) {
            *n -= 1;
            if *n == 0 {
                self.pending.remove(&ts);
            }
        }
    }
}

impl Proxy {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        task: usize,
        index: u32,
        rootcoord: ActorId,
        querycoord: ActorId,
        max_tasks: u32,
        cache_interval: SimDuration,
        replicas: usize,
        shards: usize,
        tick_interval: SimDuration,
    ) -> Self {
        Proxy {
            task,
            index,
            rootcoord,
            querycoord,
            max_tasks,
            cache_interval,
            leaders_valid_until: SimTime::ZERO,
            leaders: vec![None; replicas * shards],
            refreshing: false,
            waiting_for_leaders: Vec::new(),
            stale_shards: Vec::new(),
            inflight: 0,
            executing_nq: vec![0; replicas * shards],
            replicas,
            shards,
            dml_inflight: 0,
            ticker: Ticker::default(),
            tick_interval,
        }
    }

    /// The process starts its ticker's two loops (reference §1.1): sampling every
    /// half interval, reporting every interval, a `REPORT_LAG` after a sample.
    pub fn start_ticker(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        self.ticker = Ticker::default();
        let gen = ctx.world.tasks[self.task].gen;
        for (after, msg) in ticker_loops(self.tick_interval, gen) {
            ctx.set_timer(after, msg);
        }
    }

    pub fn on_tick_sample_due(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let proxy = ctx.me();
        let msg = Msg::TickTsoRequested { proxy };
        send_to(ctx, self.task, self.rootcoord, CONTROL_RPC_BYTES, msg);
        ctx.set_timer(half(self.tick_interval), Msg::ProxyTickSample { gen });
    }

    pub fn on_tick_tso(&mut self, ts: Ts) {
        self.ticker.sample(ts);
    }

    pub fn on_tick_report_due(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        if let Some(ts) = self.ticker.report() {
            let msg = Msg::ChannelTimeTickReported {
                proxy: self.task as u32,
                ts,
            };
            send_to(ctx, self.task, self.rootcoord, CONTROL_RPC_BYTES, msg);
        }
        ctx.set_timer(self.tick_interval, Msg::ProxyTickReport { gen });
    }

    fn note_queue(&self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let u = ctx.world.tasks[self.task].usage;
        ctx.world.usage[u].note_queue(now, self.inflight as usize);
    }

    /// Whether a message about `req` belongs to this incarnation.
    fn mine(&self, req: Req, ctx: &Ctx<'_, Msg, World>) -> bool {
        let s = &ctx.world.searches[req as usize];
        !s.leaked && s.proxy_gen == ctx.world.tasks[self.task].gen
    }

    pub fn on_search_arrived(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let gen = ctx.world.tasks[self.task].gen;
        ctx.world.searches[req as usize].proxy_gen = gen;
        if self.inflight >= self.max_tasks {
            ctx.world.searches[req as usize].error = Some(ERR_QUEUE_FULL);
            self.reply(req, ctx);
            return;
        }
        if !ctx.world.ddl.collection_exists() {
            ctx.world.searches[req as usize].error = Some(ERR_COLLECTION_NOT_FOUND);
            self.reply(req, ctx);
            return;
        }
        if !ctx.world.ddl.collection_loaded() {
            ctx.world.searches[req as usize].error = Some(ERR_NOT_LOADED);
            self.reply(req, ctx);
            return;
        }
        self.inflight += 1;
        ctx.world.searches[req as usize].at_proxy = true;
        self.note_queue(ctx);
        let me = ctx.me();
        let demand = search_stage_on(ctx.world, self.task, PROXY_PRE_EXECUTE_SHARE, req);
        run_cpu(ctx, self.task, demand, 1, me, Msg::ProxyPreExecuted { req });
        let beside = search_beside_on(ctx.world, self.task, PROXY_SHARE, req);
        run_cpu(ctx, self.task, beside, 1, me, Msg::BesideDone);
    }

    /// reference §1.1: every proxy task gets a timestamp from rootcoord.
    pub fn on_pre_executed(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        if !self.mine(req, ctx) {
            return;
        }
        self.request_tso(req, false, ctx);
    }

    /// reference §1.1: a task's timestamp comes from rootcoord; `insert` says which
    /// request table `req` indexes.
    fn request_tso(&self, req: Req, insert: bool, ctx: &mut Ctx<'_, Msg, World>) {
        let proxy = ctx.me();
        let msg = Msg::TsoRequested { req, proxy, insert };
        send_to(ctx, self.task, self.rootcoord, CONTROL_RPC_BYTES, msg);
    }

    pub fn on_tso_failed(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        if !self.mine(req, ctx) {
            return;
        }
        ctx.world.searches[req as usize].error = Some(ERR_TSO);
        self.finish(req, ctx);
    }

    pub fn on_tso_allocated(&mut self, req: Req, ts: Ts, ctx: &mut Ctx<'_, Msg, World>) {
        if !self.mine(req, ctx) {
            return;
        }
        let p = &ctx.world.params;
        let kind = ctx.world.req_kind(req);
        // reference §1.12: guarantee timestamp by consistency level; an expression
        // delete's query must see every write before its own timestamp, as a Strong
        // query (GUESS, see `query_delete_keys`).
        let consistency = match kind {
            ReqKind::DeleteQuery => Consistency::Strong,
            ReqKind::Search | ReqKind::Query => p.consistency,
        };
        let guarantee = match consistency {
            Consistency::Strong => ts,
            Consistency::Bounded => ts.saturating_sub(p.graceful_ts),
            // reference §1.12: a session waits for its own last write: the newest
            // acknowledged write when the searchers share the writers' process,
            // none (1, as Eventually) when they run apart (`SessionScope`).
            Consistency::Session => match p.session {
                SessionScope::Shared => ctx.world.ingest.last_acked_ts.max(1),
                SessionScope::Separate => 1,
            },
            Consistency::Eventually => 1,
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
        self.refresh_leaders(ctx);
    }

    fn refresh_leaders(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        if self.refreshing {
            return;
        }
        self.refreshing = true;
        let qc = self.querycoord;
        let me = ctx.me();
        send_to(
            ctx,
            self.task,
            qc,
            CONTROL_RPC_BYTES,
            Msg::ShardLeadersRequested { proxy: me },
        );
    }

    /// reference §2.1 item 2: querycoord reports a shard unavailable when its leader
    /// or any of its segments sits on an offline node; a channel with no available
    /// replica fails the whole call.
    pub fn on_shard_leaders_fetched(&mut self, ok: bool, ctx: &mut Ctx<'_, Msg, World>) {
        self.refreshing = false;
        let waiting = std::mem::take(&mut self.waiting_for_leaders);
        let error = if !ok {
            Some(ERR_QUERYCOORD)
        } else {
            let view = &ctx.world.shard_view;
            for (i, l) in self.leaders.iter_mut().enumerate() {
                *l = view[i];
            }
            let lost = (0..self.shards)
                .any(|s| (0..self.replicas).all(|r| self.leaders[r * self.shards + s].is_none()));
            if lost {
                Some(ERR_CHANNEL_UNAVAILABLE)
            } else {
                self.leaders_valid_until = ctx.now() + self.cache_interval;
                None
            }
        };
        for req in waiting {
            if !self.mine(req, ctx) {
                continue;
            }
            match error {
                Some(e) => {
                    ctx.world.searches[req as usize].error = Some(e);
                    self.finish(req, ctx);
                }
                None => self.dispatch(req, ctx),
            }
        }
        for (req, shard) in std::mem::take(&mut self.stale_shards) {
            if !self.mine(req, ctx) {
                continue;
            }
            match error {
                Some(e) => {
                    ctx.world.searches[req as usize].error.get_or_insert(e);
                    self.shard_done(req, ctx);
                }
                None => self.send_shard(req, shard as usize, Some(Fail::NotLeader), ctx),
            }
        }
    }

    /// reference §3.1 step 3: one request per shard to a leader of some replica.
    fn dispatch(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let shards = self.shards;
        ctx.world.searches[req as usize].shards_pending = shards as u16;
        for shard in 0..shards {
            self.send_shard(req, shard, None, ctx);
        }
    }

    /// Sends one shard's search to the best replica not yet tried, or fails the shard
    /// with `last_error` (or "channel not available") when none is left.
    fn send_shard(
        &mut self,
        req: Req,
        shard: usize,
        last_error: Option<Fail>,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        let shards = self.shards;
        let tried = ctx.world.searches[req as usize].tried[shard];
        let unreachable_after = ctx.world.failover.lookaside_unreachable_after;
        let candidate = (0..self.replicas)
            .filter(|&r| tried & (1 << r) == 0)
            .filter_map(|r| self.leaders[r * shards + shard].map(|n| (r, n)))
            .filter(|&(_, n)| {
                // reference §2.1 item 3: an unreachable node (dead, or behind a
                // network cut) is excluded once the look-aside balancer's probes
                // have failed.
                let qn = ctx.world.query_node_tasks[n];
                ctx.world
                    .unreachable_since(self.task, qn)
                    .is_none_or(|d| now < d + unreachable_after)
            })
            .min_by_key(|&(r, _)| (self.executing_nq[r * shards + shard], r));
        let Some((replica, leader)) = candidate else {
            let s = &mut ctx.world.searches[req as usize];
            s.error
                .get_or_insert(last_error.map_or(ERR_CHANNEL_UNAVAILABLE, Fail::text));
            self.shard_done(req, ctx);
            return;
        };
        let nq = ctx.world.lookaside_weight(req);
        self.executing_nq[replica * shards + shard] += nq;
        let s = &mut ctx.world.searches[req as usize];
        s.replica_of_shard[shard] = replica as u8;
        s.tried[shard] |= 1 << replica;
        let bytes = ctx.world.request_bytes(req);
        let qn_actor = ctx.world.query_node_actors[leader];
        let qn_task = ctx.world.query_node_tasks[leader];
        let gen = ctx.world.tasks[qn_task].gen;
        send_to(
            ctx,
            self.task,
            qn_actor,
            bytes,
            Msg::DelegatorSearchArrived {
                req,
                shard: shard as u8,
                replica: replica as u8,
                gen,
            },
        );
    }

    pub fn on_shard_searched(
        &mut self,
        req: Req,
        shard: u8,
        error: Option<Fail>,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        if !self.mine(req, ctx) {
            return;
        }
        let shards = self.shards;
        let nq = ctx.world.lookaside_weight(req);
        let replica = ctx.world.searches[req as usize].replica_of_shard[shard as usize] as usize;
        self.executing_nq[replica * shards + shard as usize] -= nq;
        if let Some(e) = error {
            // reference §2.2: the proxy drops the stale leader cache and retries the
            // shard on another replica's leader.
            self.leaders_valid_until = SimTime::ZERO;
            let s = &mut ctx.world.searches[req as usize];
            if e == Fail::NotLeader && u32::from(s.retries) < 2 * self.replicas as u32 {
                // The shard moved to another node of the same replica: fetch the
                // leaders again and retry there.
                s.retries += 1;
                s.tried[shard as usize] &= !(1 << replica);
                self.stale_shards.push((req, shard));
                self.refresh_leaders(ctx);
                return;
            }
            self.send_shard(req, shard as usize, Some(e), ctx);
            return;
        }
        self.shard_done(req, ctx);
    }

    fn shard_done(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let s = &mut ctx.world.searches[req as usize];
        s.shards_pending -= 1;
        if s.shards_pending > 0 {
            return;
        }
        if s.error.is_some() {
            self.finish(req, ctx);
            return;
        }
        // reference §3.1 step 6: merge cost grows with nq x topk x shards.
        let demand = search_stage_on(ctx.world, self.task, PROXY_REDUCE_SHARE, req)
            + ctx.world.reduce_results(req) * self.shards as f64 * REDUCE_NS_PER_RESULT;
        let me = ctx.me();
        run_cpu(ctx, self.task, demand, 1, me, Msg::ProxyReduced { req });
    }

    pub fn on_reduced(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        if !self.mine(req, ctx) {
            return;
        }
        self.finish(req, ctx);
    }

    fn finish(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        if !ctx.world.req_kind(req).from_client() {
            ctx.world.searches[req as usize].at_proxy = false;
            return self.delete_query_done(req, ctx);
        }
        self.inflight -= 1;
        ctx.world.searches[req as usize].at_proxy = false;
        self.note_queue(ctx);
        self.reply(req, ctx);
    }

    fn reply(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        self.reply_at(req, now, ctx);
    }

    fn reply_at(&mut self, req: Req, at: SimTime, ctx: &mut Ctx<'_, Msg, World>) {
        let bytes = ctx.world.result_bytes(req, 1, 1);
        let client = ctx.world.client_actor_of(req);
        send_net_from(
            ctx,
            at,
            Endpoint::Task(self.task),
            Endpoint::Clients,
            bytes,
            client,
            Msg::SearchReplied { req },
        );
    }

    /// The process dies: clients see their open calls reset; parts of those searches
    /// still in flight elsewhere are ignored when they come back (the slots leak).
    pub fn on_crash(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let fail_at = ctx.now() + ctx.world.rpc_error_after();
        // Its open searches (a rare scan of the request table).
        let me = ctx.me();
        let gen = ctx.world.tasks[self.task].gen.wrapping_sub(1);
        let open: Vec<Req> = (0..ctx.world.searches.len())
            .filter(|&i| {
                let s = &ctx.world.searches[i];
                s.at_proxy && s.proxy == me && s.proxy_gen == gen && !s.leaked
            })
            .map(|i| i as Req)
            .collect();
        for req in open {
            let s = &mut ctx.world.searches[req as usize];
            s.error = Some(ERR_PROXY_CRASHED);
            s.leaked = true;
            s.at_proxy = false;
            if !s.kind.from_client() {
                // An expression delete's query: its delete fails with the others
                // below; the slot stays for the parts still in flight.
                s.closed = true;
                ctx.world.ingest.deletes.query_failed += 1;
                continue;
            }
            self.reply_at(req, fail_at, ctx);
        }
        self.fail_open_inserts(fail_at, ctx);
        self.inflight = 0;
        self.waiting_for_leaders.clear();
        self.stale_shards.clear();
        self.refreshing = false;
        self.leaders_valid_until = SimTime::ZERO;
        self.executing_nq.iter_mut().for_each(|n| *n = 0);
        let now = ctx.now();
        let u = ctx.world.tasks[self.task].usage;
        ctx.world.usage[u].note_queue(now, 0);
    }

    /// reference §3.3 step 2: an insert is validated and hashed to shards on the
    /// proxy's CPU, then takes a timestamp.
    pub fn on_insert_arrived(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let gen = ctx.world.tasks[self.task].gen;
        let me = ctx.me();
        let ins = &mut ctx.world.ingest.inserts[req as usize];
        ins.proxy_gen = gen;
        ins.proxy = me;
        if ins.kind == WriteKind::Delete && ctx.world.ingest.deletes.by == Some(DeleteBy::Expr) {
            return self.query_delete_keys(req, ctx);
        }
        self.enqueue_dml(req, ctx);
    }

    /// The write enters the DML queue (reference §1.4 proxy.maxTaskNum): refused when
    /// it is full, else validated and hashed to shards on the proxy's CPU.
    fn enqueue_dml(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        if self.dml_inflight >= self.max_tasks {
            ctx.world.ingest.inserts[req as usize].error = Some(ERR_QUEUE_FULL);
            self.reply_insert(req, false, ctx);
            return;
        }
        // Before create_collection() or after drop_collection() took effect (a write
        // in flight when the drop takes effect goes on: its collection was in the
        // proxy's cache when it arrived).
        if !ctx.world.ddl.collection_exists() {
            ctx.world.ingest.inserts[req as usize].error = Some(ERR_COLLECTION_NOT_FOUND);
            self.reply_insert(req, false, ctx);
            return;
        }
        self.dml_inflight += 1;
        // GUESS: an upsert costs the proxy what its insert and its delete would.
        let bytes = ctx.world.ingest.dml_bytes(req);
        let demand = insert_on(ctx.world, self.task, bytes);
        run_cpu(
            ctx,
            self.task,
            demand,
            1,
            me,
            Msg::InsertPreExecuted { req },
        );
    }

    /// A delete by expression (`delete(expr="<scalar filter>")`) first queries the
    /// keys its filter matches. GUESS (the reference does not cover it; we follow the
    /// 2.3 proxy's delete of an expression that is not `pk in [...]`, as recalled
    /// from its source): the proxy allocates the query's timestamp, runs a query on
    /// the search path with that timestamp as its guarantee (so the delegators wait
    /// for tsafe to pass it, as for a Strong query), gets the keys back, and only
    /// then produces their delete as a delete by key: a task in the DML queue with
    /// a timestamp of its own, hashed to the shards' channels, answered when every
    /// message is acknowledged. The query is no task of the DQL queue (the delete
    /// calls the shard leaders itself), so it neither counts against nor waits for
    /// that queue. The delete's row in requests.parquet covers both parts.
    fn query_delete_keys(&mut self, delete: Req, ctx: &mut Ctx<'_, Msg, World>) {
        if !ctx.world.ddl.collection_exists() {
            // Not created yet, or dropped: nothing to query (as a key delete fails).
            ctx.world.ingest.inserts[delete as usize].error = Some(ERR_COLLECTION_NOT_FOUND);
            self.reply_insert(delete, false, ctx);
            return;
        }
        if !ctx.world.ddl.collection_loaded() {
            // Milvus 2.3's answer to a query of a collection not loaded: nothing is
            // deleted (a delete by key needs no loaded collection).
            ctx.world.ingest.inserts[delete as usize].error = Some(ERR_NOT_LOADED);
            ctx.world.ingest.deletes.query_failed += 1;
            self.reply_insert(delete, false, ctx);
            return;
        }
        let now = ctx.now();
        let me = ctx.me();
        let gen = ctx.world.tasks[self.task].gen;
        let d = &ctx.world.ingest.inserts[delete as usize];
        let (client, keys) = (d.client, d.rows as u32);
        let req = ctx
            .world
            .open_search(ReqKind::DeleteQuery, client, self.index, me, now);
        let s = &mut ctx.world.searches[req as usize];
        s.keys = keys;
        s.delete_of = delete;
        s.proxy_gen = gen;
        s.at_proxy = true;
        let demand = search_stage_on(ctx.world, self.task, PROXY_PRE_EXECUTE_SHARE, req);
        run_cpu(ctx, self.task, demand, 1, me, Msg::ProxyPreExecuted { req });
        let beside = search_beside_on(ctx.world, self.task, PROXY_SHARE, req);
        run_cpu(ctx, self.task, beside, 1, me, Msg::BesideDone);
    }

    /// An expression delete's query is over: on success its keys are deleted as a
    /// delete by key's are; on failure the delete fails with the query's error and
    /// nothing is produced.
    fn delete_query_done(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let s = &ctx.world.searches[req as usize];
        let (delete, error, start) = (s.delete_of, s.error, s.start);
        ctx.world.drop_delete_query(req);
        if !self.insert_mine(delete, ctx) {
            // A crash of this proxy answered the delete already (an answer of the
            // query that was on its way then is stale).
            return;
        }
        match error {
            Some(e) => {
                ctx.world.ingest.inserts[delete as usize].error = Some(e);
                ctx.world.ingest.deletes.query_failed += 1;
                self.reply_insert(delete, false, ctx);
            }
            None => {
                let took = now.since(start).as_nanos();
                ctx.world.ingest.deletes.query_ns.push(took);
                self.enqueue_dml(delete, ctx);
            }
        }
    }

    fn insert_mine(&self, req: Req, ctx: &Ctx<'_, Msg, World>) -> bool {
        let i = &ctx.world.ingest.inserts[req as usize];
        !i.closed && i.error.is_none() && i.proxy_gen == ctx.world.tasks[self.task].gen
    }

    pub fn on_insert_pre_executed(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        if !self.insert_mine(req, ctx) {
            return;
        }
        self.ticker
            .awaited
            .insert(ctx.world.ingest.inserts[req as usize].id);
        self.request_tso(req, true, ctx);
    }

    /// reference §3.3 step 2: the insert's rows are assigned to segments by datacoord,
    /// one request for exactly its rows (measured on Milvus 2.3.5, experiments/fidelity
    /// segments.py; no cached quota, see `DataCoord::on_segments_requested`).
    pub fn on_insert_tso(&mut self, req: Req, ts: Option<Ts>, ctx: &mut Ctx<'_, Msg, World>) {
        let mine = self.insert_mine(req, ctx);
        if let Some(ts) = ts.filter(|_| mine) {
            ctx.world.ingest.inserts[req as usize].ts = ts;
            self.ticker.begin(ts);
        }
        let id = ctx.world.ingest.inserts[req as usize].id;
        self.ticker.answered(id);
        if !mine {
            return;
        }
        if ts.is_none() {
            ctx.world.ingest.inserts[req as usize].error = Some(ERR_TSO);
            self.reply_insert(req, true, ctx);
            return;
        }
        if ctx.world.ingest.inserts[req as usize].kind == WriteKind::Delete {
            // A delete by key needs no segment: its keys hash to the shards' channels
            // (reference §3.3 step 2, as an insert's rows do).
            return self.on_segments_assigned(req, true, ctx);
        }
        let dc = ctx.world.ingest.datacoord;
        let me = ctx.me();
        send_to(
            ctx,
            self.task,
            dc,
            CONTROL_RPC_BYTES,
            Msg::SegmentsRequested { req, proxy: me },
        );
    }

    /// reference §3.3 step 2: each shard's rows are split into messages of at most
    /// pulsar.maxMessageSize and produced synchronously to the broker owning the
    /// shard's topic.
    pub fn on_segments_assigned(&mut self, req: Req, ok: bool, ctx: &mut Ctx<'_, Msg, World>) {
        if !self.insert_mine(req, ctx) {
            return;
        }
        if !ok {
            let error = match ctx.world.ddl.collection_dropped() {
                true => ERR_COLLECTION_NOT_FOUND,
                false => ERR_DATACOORD,
            };
            ctx.world.ingest.inserts[req as usize].error = Some(error);
            self.reply_insert(req, true, ctx);
            return;
        }
        let ins = &mut ctx.world.ingest.inserts[req as usize];
        if ins.kind.deletes_keys() {
            // Keys hash to the shards' channels. An upsert's go out before its rows:
            // on a shard's channel its delete then comes first and removes older rows
            // only (GUESS: the reference is silent; both carry the task's one
            // timestamp).
            let keys = Part::keys(ins.rows, ctx.world.params.shards as u64);
            ins.parts.splice(0..0, keys);
        }
        let parts = ins.parts.clone();
        let now = ctx.now();
        let mut pending = 0;
        for (k, p) in parts.iter().enumerate() {
            let row_bytes = ctx.world.ingest.dml_row_bytes(p.delete);
            let max_rows = (ctx.world.ingest.max_message_bytes / row_bytes).max(1);
            let owner = ctx.world.broker_for(p.shard as usize, now);
            let broker = ctx.world.ingest.broker_actors[owner];
            let mut left = p.rows as u64;
            while left > 0 {
                let rows = left.min(max_rows);
                left -= rows;
                pending += 1;
                if !p.delete {
                    ctx.world.ingest.segments[p.segment as usize].in_flight += rows;
                }
                send_to(
                    ctx,
                    self.task,
                    broker,
                    rows * row_bytes,
                    Msg::Produce {
                        req,
                        part: k as u8,
                        rows: rows as u32,
                    },
                );
            }
        }
        ctx.world.ingest.inserts[req as usize].pending = pending;
        if pending == 0 {
            self.acknowledge(req, ctx);
        }
    }

    pub fn on_produced(&mut self, req: Req, ok: bool, ctx: &mut Ctx<'_, Msg, World>) {
        let gen = ctx.world.tasks[self.task].gen;
        let ins = &mut ctx.world.ingest.inserts[req as usize];
        if ins.closed || ins.proxy_gen != gen || ins.pending == 0 {
            return;
        }
        ins.pending -= 1;
        if !ok && ins.error.is_none() {
            // reference §2.8: the producer's send fails; the insert fails as a whole.
            ins.error = Some(ERR_MQ);
        }
        if ins.pending == 0 {
            if ins.error.is_some() {
                self.reply_insert(req, true, ctx);
            } else {
                self.acknowledge(req, ctx);
            }
        }
    }

    /// Every message is persisted: the write is acknowledged (reference §3.3).
    fn acknowledge(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.ingest.acked(req, now);
        self.reply_insert(req, true, ctx);
    }

    fn reply_insert(&mut self, req: Req, counted: bool, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        self.reply_insert_at(req, counted, now, ctx);
    }

    fn reply_insert_at(
        &mut self,
        req: Req,
        counted: bool,
        at: SimTime,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        if counted {
            self.dml_inflight = self.dml_inflight.saturating_sub(1);
            self.ticker.end(ctx.world.ingest.inserts[req as usize].ts);
        }
        let to = ctx.world.ingest.replies_to(req);
        send_net_from(
            ctx,
            at,
            Endpoint::Task(self.task),
            Endpoint::Clients,
            CONTROL_RPC_BYTES,
            to,
            Msg::InsertReplied { req },
        );
    }

    /// A crashing proxy resets its clients' open inserts: they fail, though some of
    /// their messages may be persisted already (reference §2.6).
    fn fail_open_inserts(&mut self, at: SimTime, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        let gen = ctx.world.tasks[self.task].gen.wrapping_sub(1);
        let open: Vec<Req> = (0..ctx.world.ingest.inserts.len())
            .filter(|&i| {
                let s = &ctx.world.ingest.inserts[i];
                !s.closed && s.proxy == me && s.proxy_gen == gen && s.error.is_none()
            })
            .map(|i| i as Req)
            .collect();
        for req in open {
            ctx.world.ingest.inserts[req as usize].error = Some(ERR_PROXY_CRASHED);
            self.reply_insert_at(req, false, at, ctx);
        }
        self.dml_inflight = 0;
        self.ticker = Ticker::default();
    }
}
