//! Root coordinator: the timestamp oracle and the time-tick broadcast.

use rand::RngExt;

use crate::engine::{ActorId, Ctx, SimDuration, SimTime, NS_PER_MS};

use super::msg::{Msg, Req, Ts};
use super::overheads::{CONTROL_RPC_BYTES, MQ_DELIVERY_NS, TSO_ALLOC_NS};
use super::world::{send_net_from, Endpoint, World};
use crate::scenario::topology::ServiceKind;

/// reference §1.1: the physical part advances every 50 ms (UpdateTimestampStep);
/// allocations within a step take increasing logical values.
const TSO_STEP_MS: u64 = 50;
/// reference §1.1: the TSO upper bound is saved to etcd 3 s ahead.
const TSO_SAVE_WINDOW: SimDuration = SimDuration::from_secs(3);
pub const LOGICAL_BITS: u32 = 18;

/// Converts a duration to the hybrid-timestamp offset it spans.
pub fn ts_offset(d: SimDuration) -> Ts {
    (d.0 / NS_PER_MS) << LOGICAL_BITS
}

pub struct RootCoord {
    pub task: usize,
    tick_interval: SimDuration,
    lock_free_at: SimTime,
    last_physical_ms: u64,
    logical: u64,
    /// Whether the last tick was held back by a silent proxy session.
    stalled: bool,
    /// reference §2.6: what each proxy session (by task) reported since the last
    /// tick went out.
    reports: std::collections::BTreeMap<usize, Ts>,
    /// Rootcoord's own session's report since the last tick went out (see
    /// `on_time_tick_due`).
    own: Option<Ts>,
    /// The loop's first period after the warm tick, which puts it `tick_phase`
    /// after the proxies' reports; then every interval.
    align: Option<SimDuration>,
    /// The experiment's `stale_ticks`: the chance that rootcoord's own report has not
    /// changed since its last one.
    stale_ticks: f64,
    /// Rootcoord's own last report, which a stale tick carries again.
    own_last: Option<Ts>,
    /// The last tick sent: ticks only move forward.
    last_sent: Ts,
    /// Until the first tick: the run starts from a running cluster (no cold start).
    warm: bool,
    /// False from a restart until the metadata is reloaded.
    pub serving: bool,
}

impl RootCoord {
    /// `align`: the loop's first period after time zero (see `align`).
    pub fn new(
        task: usize,
        tick_interval: SimDuration,
        warm: bool,
        align: Option<SimDuration>,
        stale_ticks: f64,
    ) -> Self {
        RootCoord {
            task,
            tick_interval,
            lock_free_at: SimTime::ZERO,
            last_physical_ms: u64::MAX,
            logical: 0,
            stalled: false,
            reports: Default::default(),
            own: None,
            align,
            stale_ticks,
            own_last: None,
            last_sent: 0,
            warm,
            serving: true,
        }
    }

    /// Allocates one timestamp; the TSO lock makes allocations a one-server queue.
    /// `frozen_from`: when etcd lost its quorum, the TSO window cannot be saved and
    /// the physical clock stops `TSO_SAVE_WINDOW` later (reference §1.1, §2.7); the
    /// logical part keeps counting until it overflows, then allocations fail.
    fn allocate(&mut self, now: SimTime, frozen_from: Option<SimTime>) -> Option<(SimTime, Ts)> {
        let done = now.max(self.lock_free_at) + SimDuration::from_nanos(TSO_ALLOC_NS as u64);
        self.lock_free_at = done;
        let clock = match frozen_from {
            Some(t) => done.min(t + TSO_SAVE_WINDOW),
            None => done,
        };
        let physical = clock.0 / NS_PER_MS / TSO_STEP_MS * TSO_STEP_MS;
        if physical != self.last_physical_ms {
            self.last_physical_ms = physical;
            self.logical = 0;
        }
        if self.logical + 1 >= 1 << LOGICAL_BITS {
            return None;
        }
        self.logical += 1;
        Some((done, (physical << LOGICAL_BITS) | self.logical))
    }

    pub fn on_tso_requested(
        &mut self,
        req: Req,
        proxy: ActorId,
        insert: bool,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let Some((done, ts)) = self.allocate(ctx.now(), ctx.world.etcd_lost_at) else {
            ctx.send(proxy, Msg::TsoFailed { req, insert }, SimDuration::ZERO);
            return;
        };
        self.answer_at(done, proxy, Msg::TsoAllocated { req, ts, insert }, ctx);
    }

    /// A timestamp call's answer, leaving when the allocation is `done`.
    fn answer_at(&self, done: SimTime, proxy: ActorId, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        let proxy_task = ctx.world.task_of(proxy);
        send_net_from(
            ctx,
            done,
            Endpoint::Task(self.task),
            Endpoint::Task(proxy_task),
            CONTROL_RPC_BYTES,
            proxy,
            msg,
        );
    }

    /// The proxy ticker's timestamp call (AllocOne, reference §1.1).
    pub fn on_tick_tso_requested(&mut self, proxy: ActorId, ctx: &mut Ctx<'_, Msg, World>) {
        let Some((done, ts)) = self.allocate(ctx.now(), ctx.world.etcd_lost_at) else {
            return;
        };
        let gen = ctx.world.tasks[ctx.world.task_of(proxy)].gen;
        self.answer_at(done, proxy, Msg::TickTsoAllocated { ts, gen }, ctx);
    }

    /// A proxy's report (UpdateChannelTimeTick, reference §1.1, §2.6).
    pub fn on_channel_time_tick(&mut self, proxy: usize, ts: Ts, ctx: &mut Ctx<'_, Msg, World>) {
        self.reports.insert(proxy, ts);
        let now = ctx.now();
        self.send_if_complete(now, ctx);
    }

    /// Rootcoord's own loop (reference §1.1: every `proxy.timeTickInterval`): its own
    /// session reports a fresh timestamp (its DDL has none pending), and it notes a
    /// registered proxy session that has gone silent.
    ///
    /// Its report gates the tick as a proxy's does (Milvus's `timetickSync` waits
    /// for every session it knows, rootcoord's own included: `sendToChannel`,
    /// `sendMinDdlTsAsTt`). So the tick goes out at the later of the two loops and
    /// carries the proxies' timestamp: when rootcoord's loop falls after the
    /// proxies' reports, every tick is that much older when it reaches the channels.
    /// The two loops start with their processes, so their phase changes from one
    /// server start to the next; this is why a closed-loop Strong search takes one
    /// interval at one start and two at another (reference real-milvus: "~200 ms,
    /// sometimes ~400 ms"; experiments/fidelity: the restarted server's lifetimes).
    pub fn on_time_tick_due(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        if ctx.now() < ctx.world.end {
            let next = self.align.take().unwrap_or(self.tick_interval);
            ctx.set_timer(next, Msg::TimeTickDue);
        }
        // reference §2.6: the session of a killed proxy stays registered, silent,
        // until its lease runs out, and holds every tick back. A running proxy
        // behind a network cut is silent too, while its session lives.
        let w = &*ctx.world;
        let silent = (0..w.tasks.len()).find(|&p| {
            Self::registered(w, p) && !(w.tasks[p].up && w.tasks_reachable(p, self.task))
        });
        match (silent, self.stalled) {
            (Some(p), false) => {
                self.stalled = true;
                let now = ctx.now();
                let name = ctx.world.tasks[p].name.clone();
                ctx.world.task_event(
                    now,
                    "timetick_stalled",
                    self.task,
                    format!("rootcoord: proxy session of {name} is registered but silent; no time tick goes out"),
                );
            }
            (None, true) => {
                self.stalled = false;
                let now = ctx.now();
                ctx.world.task_event(
                    now,
                    "timetick_resumed",
                    self.task,
                    "rootcoord: every proxy session reports again; time ticks resume".into(),
                );
            }
            _ => {}
        }
        // With no proxy session registered, rootcoord's own (its DDL timestamps)
        // keeps the channels ticking; so does the first tick of a cluster that ran
        // before time zero.
        if std::mem::take(&mut self.warm) || !self.any_proxy_registered(ctx.world) {
            if let Some((done, ts)) = self.allocate(ctx.now(), ctx.world.etcd_lost_at) {
                self.last_sent = self.last_sent.max(ts);
                self.reports.clear();
                self.own = None;
                self.broadcast(done, ts, ctx);
            }
            return;
        }
        // A timestamp the TSO cannot give leaves the gate shut, as in Milvus.
        let Some((done, ts)) = self.allocate(ctx.now(), ctx.world.etcd_lost_at) else {
            return;
        };
        // A stale tick (the experiment's `stale_ticks`): rootcoord's report is still
        // the one of its last round, one interval old, and the fresh timestamp comes
        // just after the send: it is the next round's, so no tick is older than that.
        let stale = self.stale_ticks > 0.0
            && self.own_last.is_some()
            && ctx.rng().random::<f64>() < self.stale_ticks;
        self.own = if stale { self.own_last } else { Some(ts) };
        self.own_last = Some(ts);
        self.send_if_complete(done, ctx);
    }

    /// reference §2.6: a proxy's session counts while its process runs and etcd
    /// holds it, or while a dead process's session waits for its lease to run out.
    fn registered(w: &World, p: usize) -> bool {
        let t = &w.tasks[p];
        t.kind == ServiceKind::Proxy
            && if t.up {
                !w.session_lost[p]
            } else {
                t.stale_session
            }
    }

    fn any_proxy_registered(&self, w: &World) -> bool {
        (0..w.tasks.len()).any(|p| Self::registered(w, p))
    }

    /// reference §2.6 (`timetickSync`): the next tick goes out only when every
    /// registered proxy session has reported since the last one; it carries the
    /// lowest report, so every message below it is in the channels. Rootcoord's own
    /// session (its DDL timestamps, a fresh one with no DDL under way) gates too;
    /// see `on_time_tick_due`.
    fn send_if_complete(&mut self, at: SimTime, ctx: &mut Ctx<'_, Msg, World>) {
        let w = &*ctx.world;
        let Some(mut low) = self.own else {
            return;
        };
        for p in (0..w.tasks.len()).filter(|&p| Self::registered(w, p)) {
            match self.reports.get(&p) {
                Some(&r) => low = low.min(r),
                None => return,
            }
        }
        self.reports.clear();
        self.own = None;
        if low <= self.last_sent {
            return;
        }
        self.last_sent = low;
        self.broadcast(at, low, ctx);
    }

    /// reference §1.1 / §3.2: the tick goes into every DML channel; delegators
    /// advance their serviceable time from it, data nodes close a pack with it.
    fn broadcast(&mut self, at: SimTime, ts: Ts, ctx: &mut Ctx<'_, Msg, World>) {
        let shards = ctx.world.params.shards as usize;
        if ctx.world.ingest.broker_actors.is_empty() {
            // No Pulsar in the topology: the tick reaches each channel's current
            // delegators after a fixed delivery time.
            let arrive = at + SimDuration::from_nanos(MQ_DELIVERY_NS);
            for shard in 0..shards {
                for qn in ctx.world.delegators_of(shard) {
                    // A delegator cut off from the message queue gets no tick
                    // (reference §2.8: its tsafe stops).
                    if ctx.world.tasks_reachable(ctx.world.task_of(qn), self.task) {
                        let msg = Msg::TimeTickArrived {
                            ts,
                            shard: shard as u8,
                        };
                        ctx.send_at(qn, msg, arrive);
                    }
                }
            }
            return;
        }
        // reference §1.1, §2.8: the tick is a message in each DML channel,
        // produced to the broker owning it and persisted like any other; a
        // broker or bookie outage stops it.
        for shard in 0..shards {
            let b = ctx.world.broker_for(shard, at);
            let (actor, task) = (
                ctx.world.ingest.broker_actors[b],
                ctx.world.ingest.broker_tasks[b],
            );
            send_net_from(
                ctx,
                at,
                Endpoint::Task(self.task),
                Endpoint::Task(task),
                CONTROL_RPC_BYTES,
                actor,
                Msg::TickProduce {
                    shard: shard as u8,
                    ts,
                },
            );
        }
    }

    /// The application calls create_collection() (`[workload.ddl] create`): the
    /// call takes [`ddl::create_path`](super::ddl::create_path); datacoord's watch of
    /// the new vchannels reaches the data nodes on its way.
    pub fn on_create_called(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.ddl.create_called = Some(now);
        let path = match super::ddl::create_path(ctx.world) {
            Ok(_) if !self.serving => Err("rootcoord unavailable".to_string()),
            p => p,
        };
        let (p, watch) = match path {
            Ok(p) => p,
            Err(e) => return create_failed(ctx.world, now, &e),
        };
        let gen = ctx.world.tasks[self.task].gen;
        ctx.set_timer(p.applied, Msg::DdlCreateApplied { gen });
        ctx.set_timer(p.returned, Msg::DdlCreateReturned { gen });
        let w = &*ctx.world;
        let datacoord = super::ddl::running(w, ServiceKind::Datacoord).unwrap_or(self.task);
        let mut nodes: Vec<ActorId> = w.ingest.data_node_of_shard.clone();
        nodes.sort_unstable();
        nodes.dedup();
        let hops: Vec<(ActorId, SimDuration)> = nodes
            .into_iter()
            .map(|dn| (dn, super::ddl::drop_hop(w, datacoord, w.task_of(dn))))
            .collect();
        for (dn, hop) in hops {
            ctx.send(dn, Msg::DdlCreateWatch, watch + hop);
        }
    }

    /// The collection's state "created" is in etcd: the proxies find it. An
    /// incarnation that died meanwhile never wrote it: the call fails (GUESS: its
    /// undo steps remove what it wrote; the collection does not exist).
    pub fn on_create_applied(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if gen != ctx.world.tasks[self.task].gen {
            return create_failed(
                ctx.world,
                now,
                "rootcoord went down before it wrote the state",
            );
        }
        ctx.world.ddl.created = Some(now);
        let shards = ctx.world.ingest.consumed_ts.len();
        // reference §1.3: each shard on the least-used of the 16 physical channels;
        // this collection is the only one, so shard s takes rootcoord-dml_s.
        let channels: Vec<String> = (0..shards)
            .map(|s| format!("rootcoord-dml_{s}_<id>v{s}"))
            .collect();
        ctx.world.task_event(
            now,
            "collection_created",
            self.task,
            format!(
                "create_collection(): state \"created\" written; {shards} shard(s) on {}",
                channels.join(", ")
            ),
        );
    }

    /// create_collection() returns to the application, unless the incarnation that
    /// took it died.
    pub fn on_create_returned(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if ctx.world.ddl.create_error.is_some() {
            return;
        }
        if gen != ctx.world.tasks[self.task].gen {
            return create_failed(ctx.world, now, "rootcoord went down before it answered");
        }
        ctx.world.ddl.create_returned = Some(now);
        let called = ctx.world.ddl.create_called;
        let event = ("create_returned", self.task);
        super::ddl::answered(ctx.world, now, called, "create_collection()", event);
    }

    /// The application calls drop_collection() (`[workload.ddl] drop`): the call
    /// takes [`ddl::drop_path`](super::ddl::drop_path) to rootcoord's state write.
    pub fn on_drop_called(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.ddl.drop_called = Some(now);
        let d = &ctx.world.ddl;
        if d.spec.create.is_some() && d.created.is_none() {
            // Milvus 2.3's dropCollectionTask answers success for a collection it
            // does not find and runs no step (as we read the 2.3 source): the failed
            // create_collection() left nothing to drop.
            ctx.world.ddl.drop_returned = Some(now);
            return ctx.world.task_event(
                now,
                "collection_dropped",
                self.task,
                "drop_collection(): no such collection (create_collection() failed); nothing to drop".into(),
            );
        }
        let path = match super::ddl::drop_path(ctx.world) {
            Ok(_) if !self.serving => Err("rootcoord unavailable".to_string()),
            p => p,
        };
        match path {
            Ok(p) => {
                let gen = ctx.world.tasks[self.task].gen;
                ctx.set_timer(p.applied, Msg::DdlDropApplied { gen });
                ctx.set_timer(p.returned, Msg::DdlDropReturned { gen });
            }
            Err(e) => drop_failed(ctx.world, now, &e),
        }
    }

    /// The collection's state "dropping" is in etcd: the proxies find no collection
    /// (every request fails), and the drop's background steps start with the release
    /// on querycoord (rootcoord's releaseCollectionStep). An incarnation that died
    /// meanwhile never wrote the state: the call fails.
    pub fn on_drop_applied(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if gen != ctx.world.tasks[self.task].gen {
            return drop_failed(
                ctx.world,
                now,
                "rootcoord went down before it wrote the state",
            );
        }
        ctx.world.ddl.drop_applied = Some(now);
        ctx.world.task_event(
            now,
            "collection_dropping",
            self.task,
            "drop_collection(): state \"dropping\" written; the proxies' meta caches are expired, every request now fails (collection not found)".into(),
        );
        let to = super::ddl::drop_step(ctx.world, self.task, ServiceKind::Querycoord, true);
        ctx.send(ctx.world.querycoord, Msg::DdlDropRelease, to);
    }

    /// drop_collection() returns to the application, unless the incarnation that
    /// took it died (the state may be written: the drop goes on, its answer is lost).
    pub fn on_drop_returned(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let d = &ctx.world.ddl;
        if d.drop_error.is_some() {
            return;
        }
        if gen != ctx.world.tasks[self.task].gen {
            return drop_failed(
                ctx.world,
                now,
                "rootcoord went down before it answered; the collection is dropping",
            );
        }
        ctx.world.ddl.drop_returned = Some(now);
        let called = ctx.world.ddl.drop_called;
        let event = ("collection_dropped", self.task);
        super::ddl::answered(ctx.world, now, called, "drop_collection()", event);
    }

    /// Datacoord's garbage collector removed the collection's files: rootcoord's
    /// confirm-GC step sees it and deletes the collection's meta (GUESS: at the pass
    /// that removed them, plus the round trip and rootcoord's etcd write).
    pub fn on_drop_meta_removed(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.ddl.drop_meta_removed = Some(now);
        ctx.world.task_event(
            now,
            "collection_meta_removed",
            self.task,
            "drop_collection(): garbage collection confirmed; rootcoord removed the collection's meta".into(),
        );
    }

    /// A restarted rootcoord reloads its metadata and restores the TSO from etcd
    /// (reference §2.5) before it serves and ticks again.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        self.lock_free_at = ctx.now();
        self.stalled = false;
        self.serving = false;
        self.reports.clear();
        self.own = None;
        self.own_last = None;
        let recovery = ctx.world.failover.coordinator_recovery;
        ctx.set_timer(recovery, Msg::CoordinatorRecovered);
    }

    pub fn on_recovered(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        self.serving = true;
        let now = ctx.now();
        ctx.world.task_event(
            now,
            "coordinator_recovered",
            self.task,
            "rootcoord: TSO restored; time ticks resume".into(),
        );
        self.on_time_tick_due(ctx);
    }
}

/// drop_collection() failed (the proxy's call to rootcoord broke, or an etcd write
/// could not commit): the collection stays, unless its state was written already.
pub fn drop_failed(w: &mut World, now: SimTime, why: &str) {
    if w.ddl.drop_error.is_some() {
        return;
    }
    let rest = if w.ddl.collection_dropped() {
        ""
    } else {
        "; the collection stays"
    };
    let detail = format!("drop_collection() failed: {why}{rest}");
    w.ddl.drop_error = Some(detail.clone());
    failed_event(w, now, "drop_failed", detail);
}

/// The event of a collection DDL call that failed, on rootcoord's task (the call's
/// message reached rootcoord's actor, so the topology has one).
fn failed_event(w: &mut World, now: SimTime, kind: &'static str, detail: String) {
    let task = (0..w.tasks.len())
        .find(|&t| w.tasks[t].kind == ServiceKind::Rootcoord)
        .expect("a rootcoord's message had a rootcoord task");
    w.task_event(now, kind, task, detail);
}

/// create_collection() failed: the collection does not exist, and every request on
/// it fails (collection not found). A state already written stays (GUESS: the call's
/// answer is lost, the collection is there).
pub fn create_failed(w: &mut World, now: SimTime, why: &str) {
    if w.ddl.create_error.is_some() {
        return;
    }
    let rest = if w.ddl.created.is_some() {
        "; the collection was created"
    } else {
        "; the collection does not exist"
    };
    let detail = format!("create_collection() failed: {why}{rest}");
    w.ddl.create_error = Some(detail.clone());
    failed_event(w, now, "create_failed", detail);
}
