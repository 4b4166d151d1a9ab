//! Query coordinator: answers the proxies' shard-leader lookups and runs failover and
//! balance for the loaded collection (reference §1.7, §2.1 item 2, §2.2).
//!
//! Detection is the distribution pull: a node without a good pull for
//! `heartbeat_offline_after` counts as offline for GetShardLeaders, but nothing moves
//! until its session lease runs out (handleNodeDown). Then the segment and channel
//! checkers (every `checker_interval`) assign what the node held to the nodes left in
//! its replica, the nodes load it from MinIO, and the leader observer (every
//! `leader_observer_interval`) puts it into the delegators' view. A node that comes
//! back joins a replica once every node looks healthy, and the balance checker (every
//! `balance_interval`, only while no segment task runs) moves segments back to it.

use std::collections::{BTreeMap, BTreeSet};

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};

use super::ingest::SegState;
use super::layout::Segment;
use super::msg::Msg;
use super::overheads::{CONTROL_RPC_BYTES, SHARD_LEADERS_NS};
use super::world::{run_cpu, send_to, World};
use crate::hw::cost::segment_memory_bytes;
use crate::scenario::topology::ServiceKind;

/// reference §1.7 task.retryinterval: a failed load task is retried after 10 s.
const LOAD_RETRY: SimDuration = SimDuration::from_secs(10);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct LoadTask {
    node: usize,
    gen: u8,
    /// A balance move: the node that serves the segment until the copy is in view.
    from: Option<usize>,
}

/// What a query node that querycoord could not reach (cut off, or dead before its
/// session is gone) held of the collection when it was released.
struct HeldBack {
    /// The incarnation that holds it.
    gen: u8,
    /// Segment copies, by (replica, segment).
    copies: Vec<(usize, usize)>,
    /// Its delegators' growing rows.
    growing_bytes: u64,
}

/// A release() under way: when its answer reaches the application unless a node
/// held back delays it, the answer's way back from querycoord, and whether the
/// answer waits for `held_back`.
#[derive(Clone, Copy)]
struct ReleaseWait {
    answer_at: SimTime,
    back: SimDuration,
    answer_due: bool,
}

pub struct QueryCoord {
    pub task: usize,
    /// reference §1.7 overloadedMemoryThresholdPercentage (the loaders' guard).
    pub guard: f64,
    /// Per replica, the query nodes in it.
    members: Vec<Vec<usize>>,
    /// Nodes marked offline by the heartbeat (no good distribution pull).
    offline: Vec<bool>,
    /// Nodes whose pulls fail since (node incarnation, time).
    unreachable: BTreeMap<usize, u8>,
    /// Load tasks in flight, by (replica, segment).
    loads: BTreeMap<(usize, usize), LoadTask>,
    /// Loaded copies waiting for the leader observer.
    ready: Vec<((usize, usize), LoadTask)>,
    /// Channel tasks in flight, by (replica, shard): the new leader (node,
    /// incarnation) and when its delegator has subscribed the channel.
    channels: BTreeMap<(usize, usize), (usize, u8, SimTime)>,
    channels_ready: Vec<((usize, usize), usize)>,
    /// Failed loads wait until this time before the checker retries them.
    retry_at: BTreeMap<(usize, usize), SimTime>,
    /// Nodes registered again and waiting for handleNodeUp.
    pending_up: BTreeSet<usize>,
    /// Whether the last checker round found nowhere to load (reported once).
    stuck_reported: bool,
    /// False from a crash until the restarted coordinator has recovered.
    serving: bool,
    /// Proxies whose GetShardLeaders call is being answered.
    lookups: Vec<ActorId>,
    /// Query nodes in graceful stop, being drained.
    stopping: BTreeSet<usize>,
    /// Index loads in flight, by (replica, segment).
    index_loads: BTreeSet<(usize, usize)>,
    /// Replicas of the collection as loaded now; `members` has room for the more a
    /// later load_replicas asks for.
    loaded: usize,
    /// A reload with more replicas is under way since then.
    reloading_since: Option<SimTime>,
    /// Loads in flight when the collection was released: their copies are dropped
    /// as soon as they finish.
    drop_on_load: Vec<((usize, usize), LoadTask)>,
    /// The application's first load() (`[workload.ddl]`): channels whose new
    /// delegator replays what is not flushed yet.
    first_load: BTreeSet<(usize, usize)>,
    /// Segment copies (replica, segment) the application's load() has yet to place:
    /// loading them is its doing, not a fault's (they are no fault's reloaded bytes).
    app_pending: BTreeSet<(usize, usize)>,
    /// By query node: what a node querycoord could not reach at a release still
    /// holds, until querycoord reaches it again or its session goes.
    held_back: BTreeMap<usize, HeldBack>,
    release_wait: Option<ReleaseWait>,
}

/// reference §1.7 checkIndexInterval (code default 10 s).
pub const INDEX_CHECK_INTERVAL: SimDuration = SimDuration::from_secs(10);

impl QueryCoord {
    pub fn new(
        task: usize,
        guard: f64,
        members: Vec<Vec<usize>>,
        loaded: usize,
        nodes: usize,
    ) -> Self {
        QueryCoord {
            task,
            guard,
            members,
            loaded,
            reloading_since: None,
            drop_on_load: Vec::new(),
            first_load: BTreeSet::new(),
            app_pending: BTreeSet::new(),
            held_back: BTreeMap::new(),
            release_wait: None,
            offline: vec![false; nodes],
            unreachable: BTreeMap::new(),
            loads: BTreeMap::new(),
            ready: Vec::new(),
            channels: BTreeMap::new(),
            channels_ready: Vec::new(),
            retry_at: BTreeMap::new(),
            pending_up: BTreeSet::new(),
            stuck_reported: false,
            serving: true,
            lookups: Vec::new(),
            stopping: BTreeSet::new(),
            index_loads: BTreeSet::new(),
        }
    }

    /// Arms the periodic checkers; called at time zero and after a restart.
    pub fn arm(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let f = &ctx.world.failover;
        let (c, l, b, h) = (
            f.checker_interval,
            f.leader_observer_interval,
            f.balance_interval,
            f.health_check_interval,
        );
        ctx.set_timer(c, Msg::CheckerTick);
        ctx.set_timer(l, Msg::LeaderObserverTick);
        ctx.set_timer(b, Msg::BalanceTick);
        ctx.set_timer(h, Msg::HealthTick);
        // As at time zero: the target and index checkers run when the workload writes
        // (a delete-only workload's compactions make new segments too).
        if ctx.world.ingest.writes() {
            let t = ctx.world.ingest.target_interval;
            ctx.set_timer(t, Msg::TargetTick);
            ctx.set_timer(INDEX_CHECK_INTERVAL, Msg::IndexCheckerTick);
        }
    }

    fn rearm(&self, delay: SimDuration, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        if ctx.now() < ctx.world.end {
            ctx.set_timer(delay, msg);
        }
    }

    pub fn on_shard_leaders_requested(&mut self, proxy: ActorId, ctx: &mut Ctx<'_, Msg, World>) {
        self.lookups.push(proxy);
        let me = ctx.me();
        run_cpu(
            ctx,
            self.task,
            SHARD_LEADERS_NS,
            1,
            me,
            Msg::ShardLeadersAnswered { proxy },
        );
    }

    pub fn on_shard_leaders_answered(&mut self, proxy: ActorId, ctx: &mut Ctx<'_, Msg, World>) {
        if let Some(i) = self.lookups.iter().position(|&p| p == proxy) {
            self.lookups.swap_remove(i);
        }
        let ok = self.serving;
        send_to(
            ctx,
            self.task,
            proxy,
            CONTROL_RPC_BYTES,
            Msg::ShardLeadersFetched { ok },
        );
    }

    /// reference §2.1 item 2: every shard whose leader, or any of whose segments, sits
    /// on an offline node is reported unavailable, as is a shard lacking segments.
    fn publish_view(&self, ctx: &mut Ctx<'_, Msg, World>) {
        let w = &mut *ctx.world;
        let shards = w.params.shards as usize;
        for r in 0..w.dist.leader.len() {
            for s in 0..shards {
                let mut view = w.dist.leader[r][s].filter(|&n| !self.offline[n]);
                if w.dist.lacking[r][s] > 0 {
                    view = None;
                }
                if view.is_some() {
                    let on_offline = w.layout.segments.iter().enumerate().any(|(i, seg)| {
                        seg.shard as usize == s
                            && w.dist.holder[r][i].is_some_and(|n| self.offline[n])
                    });
                    if on_offline {
                        view = None;
                    }
                }
                w.shard_view[r * shards + s] = view;
            }
        }
        // A shard no replica serves because the application's load() has not placed
        // its delegator or a segment of it yet fails searches without any fault.
        let placing = (0..shards).any(|s| {
            self.loaded > 0
                && (0..self.loaded).all(|r| {
                    let of_shard = |&(_, i): &(usize, usize)| {
                        w.layout.segments[i].shard as usize == s && !w.dist.retired[i]
                    };
                    w.shard_view[r * shards + s].is_none()
                        && (self.first_load.contains(&(r, s))
                            || self.app_pending.range((r, 0)..(r + 1, 0)).any(of_shard))
                })
        });
        w.ddl.placing = placing;
    }

    /// The application calls load() with `n` replicas. Milvus 2.3 refuses to change
    /// the replica number of a loaded collection ("can't change the replica number
    /// for loaded collection": querycoordv2 LoadCollectionJob, not in the reference;
    /// §2.2 "replica_number is set at load time"). With `release_first` the collection
    /// is released (every copy dropped, searches fail) and loaded again: the nodes are
    /// spread over the replicas round-robin by the resource group (§2.2), and the
    /// segment and channel checkers load every replica from MinIO under the load guard.
    pub fn on_load_replicas(
        &mut self,
        n: usize,
        release_first: bool,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        if !self.serving {
            let detail = "load() failed: querycoord unavailable".to_string();
            return ctx.world.task_event(now, "load_failed", self.task, detail);
        }
        if !ctx.world.ddl.collection_loaded() {
            // Validation refuses a load_replicas before a load() at a known time;
            // one after load = "after_index" may still come first.
            let detail = format!(
                "load() with {n} replica(s) ignored: the collection is not loaded yet (the application's load() has not run); simctl changes the replicas of a loaded collection only, and the first load uses collection.replicas"
            );
            return ctx.world.task_event(now, "load_failed", self.task, detail);
        }
        if !release_first {
            let detail = if n == self.loaded {
                format!("load() with {n} replica(s): already loaded so; nothing changes")
            } else {
                format!(
                    "load() with {n} replica(s) refused: can't change the replica number for loaded collection; it stays at {} (release it first)",
                    self.loaded
                )
            };
            return ctx
                .world
                .task_event(now, "replica_change_refused", self.task, detail);
        }
        let shards = ctx.world.params.shards as usize;
        let released = self.release_every_copy(ctx);
        let mut nodes: Vec<usize> = self.members.iter().flatten().copied().collect();
        nodes.sort_unstable();
        self.members.iter_mut().for_each(|m| m.clear());
        for (k, &node) in nodes.iter().enumerate() {
            self.members[k % n].push(node);
        }
        let old = std::mem::replace(&mut self.loaded, n);
        let w = &mut *ctx.world;
        for r in 0..w.dist.leader.len() {
            w.dist.leader[r].iter_mut().for_each(|l| *l = None);
            let retired = w.dist.retired.clone();
            for (i, t) in w.dist.in_target[r].iter_mut().enumerate() {
                *t = !retired[i];
            }
            let indexed = w.dist.indexed[0].clone();
            w.dist.indexed[r] = indexed;
        }
        for r in 0..w.dist.leader.len() {
            w.refresh_routing(r);
        }
        self.publish_view(ctx);
        self.reloading_since = Some(now);
        let detail = format!(
            "release(): {} bytes dropped from {old} replica(s); load() with {n} replica(s) of {} node(s) starts ({} shard(s) each)",
            released,
            nodes.len(),
            shards
        );
        ctx.world
            .task_event(now, "collection_reloading", self.task, detail);
    }

    /// The node's distribution pulls start failing (it died).
    pub fn on_node_unreachable(&mut self, node: usize, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        self.unreachable.insert(node, gen);
        let after = ctx.world.failover.heartbeat_offline_after;
        ctx.set_timer(
            after,
            Msg::NodeOfflineMark {
                node: node as u16,
                gen,
            },
        );
    }

    /// A network cut between querycoord and the node healed: the next distribution
    /// pull succeeds, and the node counts as online again.
    pub fn on_node_reachable(&mut self, node: usize, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        if self.unreachable.get(&node) != Some(&gen) {
            return;
        }
        self.unreachable.remove(&node);
        self.let_go_when_reached(node, ctx);
        if !std::mem::take(&mut self.offline[node]) {
            return;
        }
        let now = ctx.now();
        let task = ctx.world.query_node_tasks[node];
        ctx.world.task_event(
            now,
            "node_reachable",
            task,
            "querycoord: the distribution pull succeeds again; the node's shards are served".into(),
        );
        self.publish_view(ctx);
    }

    /// reference §1.7 heartbeatAvailableInterval: offline for GetShardLeaders.
    pub fn on_node_offline_mark(&mut self, node: usize, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        if self.unreachable.get(&node) != Some(&gen) || self.offline[node] {
            return;
        }
        self.offline[node] = true;
        let now = ctx.now();
        ctx.world.note_detected(now);
        let task = ctx.world.query_node_tasks[node];
        let name = ctx.world.tasks[task].name.clone();
        ctx.world.task_event(
            now,
            "node_offline",
            task,
            format!("querycoord: no distribution pull from {name} for the heartbeat interval; its shards are reported unavailable"),
        );
        self.publish_view(ctx);
    }

    /// reference §2.2 handleNodeDown: the node leaves its replica; its segments and
    /// channels are cleared from the distribution and its tasks cancelled.
    pub fn on_node_session_gone(&mut self, node: usize, ctx: &mut Ctx<'_, Msg, World>) {
        if !self.serving {
            return;
        }
        self.handle_node_down(node, ctx);
    }

    fn handle_node_down(&mut self, node: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.note_detected(now);
        for m in &mut self.members {
            m.retain(|&n| n != node);
        }
        self.offline[node] = false;
        self.stopping.remove(&node);
        self.unreachable.remove(&node);
        // Its distribution is cleared: a release waiting for it is done with it.
        if self.held_back.remove(&node).is_some() {
            self.note_let_go(SimDuration::ZERO, ctx);
        }
        self.loads.retain(|_, t| t.node != node);
        self.ready.retain(|(_, t)| t.node != node);
        self.channels.retain(|_, (n, _, _)| *n != node);
        self.channels_ready.retain(|(_, n)| *n != node);
        let mut segments = 0;
        let mut bytes = 0;
        let mut leaders = 0;
        let w = &mut *ctx.world;
        for r in 0..w.dist.holder.len() {
            for (i, h) in w.dist.holder[r].iter_mut().enumerate() {
                if *h == Some(node) {
                    *h = None;
                    segments += 1;
                    bytes += w.layout.segments[i].memory_bytes;
                }
            }
            for l in w.dist.leader[r].iter_mut() {
                if *l == Some(node) {
                    *l = None;
                    leaders += 1;
                }
            }
        }
        for r in 0..ctx.world.dist.holder.len() {
            ctx.world.refresh_routing(r);
        }
        let task = ctx.world.query_node_tasks[node];
        ctx.world.task_event(
            now,
            "node_down_handled",
            task,
            format!("querycoord: session gone; {segments} segment(s) ({bytes} bytes) and {leaders} shard leader(s) to reassign"),
        );
        self.publish_view(ctx);
    }

    /// A query node process started; it joins once the health loop allows.
    pub fn on_node_registered(&mut self, node: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let _ = ctx;
        self.pending_up.insert(node);
    }

    /// reference §1.7 checkHealthInterval: node-up events are processed only while
    /// every query node of the replicas looks healthy.
    pub fn on_health_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let every = ctx.world.failover.health_check_interval;
        self.rearm(every, Msg::HealthTick, ctx);
        if !self.serving || self.pending_up.is_empty() {
            return;
        }
        // A node behind a network cut fails the health check like a dead one.
        let healthy = self.members.iter().flatten().all(|&n| {
            let t = &ctx.world.tasks[ctx.world.query_node_tasks[n]];
            t.up && !self.unreachable.contains_key(&n)
        });
        if !healthy {
            return;
        }
        let now = ctx.now();
        for node in std::mem::take(&mut self.pending_up) {
            let up = ctx.world.tasks[ctx.world.query_node_tasks[node]].up;
            if !up || self.members.iter().any(|m| m.contains(&node)) {
                continue;
            }
            // The replica with the fewest nodes takes it (ties to the first).
            // While the collection is not loaded (deferred or released), replica 0.
            let r = (0..self.loaded.max(1))
                .min_by_key(|&r| (self.members[r].len(), r))
                .expect("a replica");
            self.members[r].push(node);
            self.members[r].sort_unstable();
            self.offline[node] = false;
            let task = ctx.world.query_node_tasks[node];
            ctx.world.task_event(
                now,
                "node_joined",
                task,
                format!("querycoord: handleNodeUp added the node to replica {r}"),
            );
        }
    }

    fn node_ready(&self, node: usize, ctx: &Ctx<'_, Msg, World>) -> bool {
        let t = &ctx.world.tasks[ctx.world.query_node_tasks[node]];
        t.up && !self.offline[node] && !self.stopping.contains(&node)
    }

    /// reference §1.7 / §2.2: segments and channels of a stopping node are moved
    /// first, to the other nodes of its replica (score balancer, fewest channels).
    pub fn on_node_stopping(&mut self, node: usize, ctx: &mut Ctx<'_, Msg, World>) {
        self.stopping.insert(node);
        let shards = ctx.world.params.shards as usize;
        for r in 0..self.members.len() {
            if !self.members[r].contains(&node) {
                continue;
            }
            let ready: Vec<usize> = self.members[r]
                .iter()
                .copied()
                .filter(|&n| self.node_ready(n, ctx))
                .collect();
            if ready.is_empty() {
                continue; // nowhere to go: the stop timeout ends it
            }
            for s in 0..shards {
                if ctx.world.dist.leader[r][s] == Some(node) && !self.channels.contains_key(&(r, s))
                {
                    let to = *ready
                        .iter()
                        .min_by_key(|&&n| {
                            let led = ctx.world.dist.leader[r]
                                .iter()
                                .filter(|l| **l == Some(n))
                                .count();
                            (led, n)
                        })
                        .expect("ready nodes");
                    self.start_channel(r, s, to, ctx);
                }
            }
            let mut rows = self.rows_by_node(r, ctx);
            rows.retain(|n, _| ready.contains(n));
            let mut held: Vec<usize> = (0..ctx.world.layout.segments.len())
                .filter(|&i| {
                    ctx.world.dist.holder[r][i] == Some(node) && !self.loads.contains_key(&(r, i))
                })
                .collect();
            held.sort_by_key(|&i| {
                let s = &ctx.world.layout.segments[i];
                (std::cmp::Reverse(s.rows), s.id)
            });
            for i in held {
                let (&to, _) = rows
                    .iter()
                    .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
                    .expect("ready nodes");
                *rows.get_mut(&to).expect("listed") += ctx.world.layout.segments[i].rows;
                self.start_load(r, i, to, Some(node), ctx);
            }
        }
        self.check_drained(ctx);
    }

    /// Tells the control actor when a stopping node holds nothing any more.
    fn check_drained(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let w = &*ctx.world;
        let drained: Vec<usize> = self
            .stopping
            .iter()
            .copied()
            .filter(|&n| {
                !w.dist.holder.iter().flatten().any(|h| *h == Some(n))
                    && !w.dist.leader.iter().flatten().any(|l| *l == Some(n))
            })
            .collect();
        for n in drained {
            self.stopping.remove(&n);
            let control = ctx.world.control;
            ctx.send(
                control,
                Msg::NodeDrained { node: n as u16 },
                SimDuration::ZERO,
            );
        }
    }

    /// Rows each member of `replica` holds or is loading, for the score balancer.
    fn rows_by_node(&self, replica: usize, ctx: &Ctx<'_, Msg, World>) -> BTreeMap<usize, u64> {
        let w = &*ctx.world;
        let mut rows: BTreeMap<usize, u64> =
            self.members[replica].iter().map(|&n| (n, 0)).collect();
        for (i, seg) in w.layout.segments.iter().enumerate() {
            if let Some(n) = w.dist.holder[replica][i] {
                if let Some(r) = rows.get_mut(&n) {
                    *r += seg.rows;
                }
            }
        }
        for (&(r, i), t) in self
            .loads
            .iter()
            .chain(self.ready.iter().map(|(k, t)| (k, t)))
        {
            if r == replica {
                if let Some(x) = rows.get_mut(&t.node) {
                    *x += w.layout.segments[i].rows;
                }
            }
        }
        rows
    }

    /// reference §2.2: the segment and channel checkers create tasks for what the
    /// distribution lacks.
    pub fn on_checker_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let every = ctx.world.failover.checker_interval;
        self.rearm(every, Msg::CheckerTick, ctx);
        // reference §2.7: without an etcd quorum (one it can reach, behind a network
        // cut) no task can be recorded.
        if !self.serving || !ctx.world.etcd_writable() || !ctx.world.has_etcd(self.task) {
            return;
        }
        self.load_when_due(ctx);
        let now = ctx.now();
        let shards = ctx.world.params.shards as usize;
        let replicas = self.loaded;
        let mut stuck = false;
        for r in 0..replicas {
            let ready: Vec<usize> = self.members[r]
                .iter()
                .copied()
                .filter(|&n| self.node_ready(n, ctx))
                .collect();
            // Channels: a lost shard leader is re-created on the node with the fewest
            // channels (reference §2.2 "+1 s").
            for s in 0..shards {
                if ctx.world.dist.leader[r][s].is_some() || self.channels.contains_key(&(r, s)) {
                    continue;
                }
                let Some(&node) = ready.iter().min_by_key(|&&n| {
                    let led = ctx.world.dist.leader[r]
                        .iter()
                        .filter(|l| **l == Some(n))
                        .count()
                        + self.channels.values().filter(|(x, _, _)| *x == n).count();
                    (led, n)
                }) else {
                    stuck = true;
                    continue;
                };
                self.start_channel(r, s, node, ctx);
                let task = ctx.world.query_node_tasks[node];
                ctx.world.task_event(
                    now,
                    "channel_reassigned",
                    task,
                    format!("querycoord: replica {r} shard {s} gets a new delegator here; it replays the channel from its checkpoint"),
                );
            }
            // Segments, largest first, to the node with the lowest score (reference
            // §1.7 score-based balancer). Only for a shard that has its leader: Milvus
            // 2.3 querycoordv2 task/executor.go (not in the reference) fails a segment
            // load task with "no shard leader for the segment to execute loading", so
            // a load() places the channels first and the segments one checker round
            // later, as the real standalone's log shows (profile_load.py).
            let led: Vec<bool> = (0..ctx.world.dist.leader[r].len())
                .map(|shard| {
                    ctx.world.dist.leader[r][shard].is_some()
                        || self
                            .channels
                            .get(&(r, shard))
                            .is_some_and(|&(_, _, done)| done <= now)
                        || self.channels_ready.iter().any(|(k, _)| *k == (r, shard))
                })
                .collect();
            let mut lacking: Vec<usize> = (0..ctx.world.layout.segments.len())
                .filter(|&i| {
                    led[ctx.world.layout.segments[i].shard as usize]
                        && ctx.world.dist.holder[r][i].is_none()
                        && !ctx.world.dist.retired[i]
                        && !self.loads.contains_key(&(r, i))
                        && !self.ready.iter().any(|(k, _)| *k == (r, i))
                        && self.retry_at.get(&(r, i)).is_none_or(|&t| t <= now)
                })
                .collect();
            if lacking.is_empty() {
                continue;
            }
            if ready.is_empty() {
                stuck = true;
                continue;
            }
            lacking.sort_by_key(|&i| {
                let s = &ctx.world.layout.segments[i];
                (std::cmp::Reverse(s.rows), s.id)
            });
            let mut rows = self.rows_by_node(r, ctx);
            rows.retain(|n, _| ready.contains(n));
            let weight = 1.0 + ctx.world.layout_global_factor;
            let mut score: BTreeMap<usize, f64> =
                rows.iter().map(|(&n, &x)| (n, x as f64 * weight)).collect();
            for i in lacking {
                let (&node, _) = score
                    .iter()
                    .min_by(|a, b| a.1.total_cmp(b.1).then(a.0.cmp(b.0)))
                    .expect("ready nodes");
                *score.get_mut(&node).expect("listed") +=
                    ctx.world.layout.segments[i].rows as f64 * weight;
                self.start_load(r, i, node, None, ctx);
            }
        }
        if stuck && !self.stuck_reported {
            ctx.world.rec.event(
                now,
                "load_stalled",
                "",
                "",
                "querycoord: a replica has lost segments or channels and no serviceable node to put them on".into(),
            );
        }
        self.stuck_reported = stuck;
    }

    /// The application's load() (`[workload.ddl]`), at its time or once every
    /// flushed segment is indexed ("after_index", pymilvus
    /// wait_for_index_building_complete, whose progress counts flushed segments: a
    /// merge result still being written does not hold it back): the replicas take every segment of the
    /// target and a delegator per channel, as the checkers then place them. Milvus
    /// 2.3 refuses to load a collection without an index.
    fn load_when_due(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        use crate::scenario::experiment::DdlWhen;
        let now = ctx.now();
        let w = &*ctx.world;
        // The application calls it once create_collection() returned.
        if w.ddl.collection_loaded() || w.ddl.load_error.is_some() || !w.ddl.collection_exists() {
            return;
        }
        if w.ddl.load_called.is_some() {
            return;
        }
        let due = match w.ddl.spec.load {
            DdlWhen::At(t) => now >= SimTime::ZERO + t,
            DdlWhen::AfterIndex => {
                w.ddl.index_exists()
                    && w.ingest.inserts_done
                    && w.ingest.segments.iter().all(|s| match s.state {
                        SegState::Growing | SegState::Sealed => false,
                        SegState::Flushing => s.merged_by.is_some(),
                        SegState::Flushed | SegState::Indexing => false,
                        SegState::Indexed | SegState::Compacting | SegState::Dropped => true,
                    })
            }
            DdlWhen::Start | DdlWhen::AfterFlush => false,
        };
        if !due {
            return;
        }
        // The call crosses the control plane before querycoord records the load; a
        // step that cannot be taken now fails it, and the application calls again
        // at the next tick.
        let Ok(path) = super::ddl::path(w, super::ddl::Call::Load) else {
            return;
        };
        ctx.world.ddl.load_called = Some(now);
        ctx.world.ddl.load_returned = Some(now + path.returned);
        let gen = ctx.world.tasks[self.task].gen;
        ctx.set_timer(path.applied, Msg::DdlLoadApplied { reload: false, gen });
    }

    /// load() reached querycoord and its meta is in etcd: the replicas take every
    /// segment of the target and a delegator per channel, as the checkers place
    /// them. After a release (`reload`), the same as the first load.
    pub fn on_load_applied(&mut self, reload: bool, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        // An incarnation that died meanwhile, or one still recovering, did not
        // record the load: the call failed.
        if gen != ctx.world.tasks[self.task].gen || !self.serving {
            let lost = if reload {
                super::ddl::Lost::Reload
            } else {
                super::ddl::Lost::Load
            };
            return super::ddl::lost(ctx.world, now, lost);
        }
        let w = &*ctx.world;
        if !w.ddl.index_exists() {
            let detail =
                "load() failed: index not found (create_index() has not run yet)".to_string();
            ctx.world.ddl.load_error = Some(detail.clone());
            return ctx.world.task_event(now, "load_failed", self.task, detail);
        }
        // Milvus 2.3 querycoordv2 job_load.go (not in the reference): the load job
        // pulls the collection's next target from datacoord before it returns, so a
        // load() takes every segment flushed by then, not only those the target
        // observer's last tick (every 10 s, reference §1.7) had seen. The harness's
        // loads show it: 3-7 s after a flush, never the tick's 10 s
        // (experiments/fidelity results files, `load_s`).
        self.pull_next_target(ctx);
        let w = &*ctx.world;
        let n = w.ddl.replicas;
        let shards = w.params.shards as usize;
        if reload {
            ctx.world.ddl.reload_started = Some(now);
        } else {
            ctx.world.ddl.load_started = Some(now);
        }
        self.loaded = n;
        let w = &mut *ctx.world;
        // Nothing was consumed by a delegator before: what was flushed is loaded
        // sealed, what is not yet is replayed from the channel.
        for s in w.ingest.segments.iter_mut() {
            if !matches!(
                s.state,
                SegState::Growing | SegState::Sealed | SegState::Flushing
            ) {
                s.growing_copy = false;
            }
        }
        for r in 0..n {
            // Every segment joins the replica through a hand-off; retired ones are
            // never held, and the routing leaves them out. After a release, segments
            // served sealed before it (loaded at the start, or handed off) are in
            // the target at once: searches need them, and no growing copy has
            // their rows.
            for i in 0..w.layout.segments.len() {
                let handed = match w.ingest.of_layout.get(&i) {
                    Some(&k) => w.ingest.segments[k as usize].loaded.is_some(),
                    None => true,
                };
                w.dist.in_target[r][i] = reload && handed && !w.dist.retired[i];
                if !w.dist.retired[i] {
                    self.app_pending.insert((r, i));
                }
            }
            for s in 0..shards {
                self.first_load.insert((r, s));
            }
        }
        for r in 0..n {
            w.refresh_routing(r);
        }
        let segments = w.layout.segments.len();
        let again = if reload {
            " again after the release"
        } else {
            ""
        };
        ctx.world.task_event(
            now,
            "collection_loading",
            self.task,
            format!("load(){again} with {n} replica(s): {segments} segment(s) and {shards} channel(s) per replica to place"),
        );
        self.publish_view(ctx);
    }

    /// Every replica of a load() serves every shard and every segment of the
    /// target: the collection is loaded (what pymilvus's load() waits for).
    fn note_loaded(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let w = &*ctx.world;
        let first = w.ddl.load_started.is_some() && w.ddl.loaded.is_none();
        let again = w.ddl.reload_started.is_some() && w.ddl.reloaded.is_none();
        // A dropped collection has no replicas left to serve it: a load still under
        // way ended with the drop (`on_drop_release`).
        if !first && !again || w.ddl.collection_dropped() || self.loaded == 0 {
            return;
        }
        let shards = w.params.shards as usize;
        let all = (0..self.loaded).all(|r| {
            (0..shards).all(|s| serviceable(w, r, s))
                && (0..w.layout.segments.len())
                    .all(|i| w.dist.retired[i] || w.dist.holder[r][i].is_some())
        });
        if !all {
            return;
        }
        let now = ctx.now();
        let segments = ctx.world.layout.segments.len();
        let detail = if first {
            ctx.world.ddl.loaded = Some(now);
            format!("load() done: {segments} segment(s) served by every replica")
        } else {
            ctx.world.ddl.reloaded = Some(now);
            let since = ctx.world.ddl.reload_called.unwrap_or(now);
            format!(
                "load() again done: {segments} segment(s) served by every replica, {:.1} s after the call",
                now.since(since).as_secs_f64()
            )
        };
        ctx.world
            .task_event(now, "collection_loaded", self.task, detail);
    }

    /// The application calls release() (`[workload.ddl] release`): it crosses the
    /// control plane to querycoord, which removes the collection's load info and
    /// replicas from etcd; then it takes effect.
    pub fn on_release_called(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.ddl.release_called = Some(now);
        let path = match super::ddl::path(ctx.world, super::ddl::Call::Release) {
            Ok(_) if !self.serving => Err("querycoord unavailable".to_string()),
            p => p,
        };
        let path = match path {
            Ok(p) => p,
            Err(e) => return self.release_failed(e, ctx),
        };
        let gen = ctx.world.tasks[self.task].gen;
        ctx.set_timer(path.applied, Msg::DdlReleaseApplied { gen });
        ctx.set_timer(path.returned, Msg::DdlReleased { gen });
        self.release_wait = Some(ReleaseWait {
            answer_at: now + path.returned,
            back: path.back,
            answer_due: false,
        });
    }

    /// querycoord reaches `node` again: what it held back of a release it lets go
    /// now (the checkers' release tasks), unless the incarnation died meanwhile or
    /// holds the copy again; the distribution shows it after the next pull.
    fn let_go_when_reached(&mut self, node: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let Some(held) = self.held_back.remove(&node) else {
            return;
        };
        let task = ctx.world.query_node_tasks[node];
        if ctx.world.alive(task, held.gen) {
            let now = ctx.now();
            for (r, i) in held.copies {
                let again = ctx.world.dist.holder[r][i] == Some(node)
                    || self.loads.get(&(r, i)).is_some_and(|t| t.node == node)
                    || self
                        .ready
                        .iter()
                        .any(|(k, t)| *k == (r, i) && t.node == node);
                if !again {
                    release_copy(node, r, i, ctx);
                }
            }
            ctx.world
                .hold_memory(task, -(held.growing_bytes as i64), now);
        }
        let seen = super::ddl::release_seen(ctx.world, self.task, task)
            .unwrap_or(super::ddl::DIST_PULL_INTERVAL);
        self.note_let_go(seen, ctx);
    }

    /// A node held back by a release let go, shown in the distribution `seen` from
    /// now; once none is left, a waiting answer goes back.
    fn note_let_go(&mut self, seen: SimDuration, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let Some(wait) = self.release_wait.as_mut() else {
            return;
        };
        wait.answer_at = wait.answer_at.max(now + seen + wait.back);
        if self.held_back.is_empty() && std::mem::take(&mut wait.answer_due) {
            let gen = ctx.world.tasks[self.task].gen;
            ctx.set_timer(wait.answer_at.since(now), Msg::DdlReleased { gen });
        }
    }

    fn release_failed(&mut self, why: String, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let detail = format!("release() failed: {why}; the collection stays loaded");
        ctx.world.ddl.release_error = Some(detail.clone());
        ctx.world
            .task_event(now, "release_failed", self.task, detail);
    }

    /// Every replica lets go of every segment copy it holds (the bytes of those in
    /// the leader views are returned); copies loaded but not yet in the leader view
    /// are dropped too, loads in flight as soon as they finish, and the channel and
    /// index tasks are forgotten. A node querycoord cannot reach keeps its copies
    /// until it can (`held_back`).
    fn release_every_copy(&mut self, ctx: &mut Ctx<'_, Msg, World>) -> u64 {
        let mut released = 0u64;
        for r in 0..self.loaded {
            for i in 0..ctx.world.layout.segments.len() {
                let w = &mut *ctx.world;
                let Some(node) = w.dist.holder[r][i].take() else {
                    continue;
                };
                released += w.layout.segments[i].memory_bytes;
                self.release_or_hold(node, r, i, ctx);
            }
        }
        // Copies loaded but not yet in the leader view are dropped too, and loads in
        // flight as soon as they finish.
        for ((r, i), t) in std::mem::take(&mut self.ready) {
            self.release_or_hold(t.node, r, i, ctx);
        }
        self.drop_on_load.extend(std::mem::take(&mut self.loads));
        self.app_pending.clear();
        self.channels.clear();
        self.channels_ready.clear();
        self.retry_at.clear();
        self.index_loads.clear();
        released
    }

    /// Query node `node` drops its copy of segment `i` in replica `r`, or keeps it
    /// until querycoord reaches it again.
    fn release_or_hold(&mut self, node: usize, r: usize, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        match self.hold_back(node) {
            Some(h) => h.copies.push((r, i)),
            None => release_copy(node, r, i, ctx),
        }
    }

    /// What `node` keeps of a release while querycoord's pulls of it fail (it is cut
    /// off, or dead before its session is gone); None while querycoord reaches it.
    fn hold_back(&mut self, node: usize) -> Option<&mut HeldBack> {
        let gen = *self.unreachable.get(&node)?;
        Some(self.held_back.entry(node).or_insert(HeldBack {
            gen,
            copies: Vec::new(),
            growing_bytes: 0,
        }))
    }

    /// Milvus 2.3 querycoord ReleaseCollection (not in the reference; its effects
    /// follow §2.2 and §3.3): the collection's replicas are gone, every query node
    /// releases its segments and its delegators (their growing rows with them), so
    /// searches find the collection not loaded. The data nodes and Pulsar go on:
    /// inserts are still acknowledged and flushed.
    ///
    /// A query node querycoord cannot reach (cut off, or dead before its session is
    /// gone) neither fails the release nor is skipped by it. GUESS, from the 2.3
    /// querycoordv2 ReleaseCollectionJob as we read it (the reference is silent on
    /// release): the job removes the collection from the meta first (in force now),
    /// then waits, with no time limit, until the distribution shows no segment or
    /// channel of it on any node (waitCollectionReleased), and pymilvus's release()
    /// sets no deadline. A node whose pulls fail keeps its last distribution
    /// (reference §2.1 item 2: nothing moves on the offline mark) until a pull
    /// succeeds again, once the node has let go (the checkers send it the release
    /// as soon as they reach it), or until its session is gone (§2.2 handleNodeDown
    /// clears its distribution). Meanwhile the node keeps the memory, unless it
    /// stops itself for its lost lease (§2.1 item 5).
    pub fn on_release_applied(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        // An incarnation that died meanwhile never wrote the release.
        if gen != ctx.world.tasks[self.task].gen {
            return super::ddl::lost(ctx.world, now, super::ddl::Lost::Release);
        }
        let released = self.release_collection(ctx);
        ctx.world.ddl.release_applied = Some(now);
        self.publish_view(ctx);
        self.releasing_event("release()", released, ctx);
    }

    /// drop_collection()'s release step (rootcoord's releaseCollectionStep calls
    /// querycoord's ReleaseCollection): the collection's replicas go as in a
    /// release(); querycoord answers once its distribution pulls show the nodes it
    /// reaches empty, and rootcoord goes on with datacoord's DropIndex.
    pub fn on_drop_release(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        if !super::ddl::drop_step_ready(ctx, self.task, Msg::DdlDropRelease) {
            return;
        }
        let now = ctx.now();
        let released = self.release_collection(ctx);
        let d = &mut ctx.world.ddl;
        d.drop_released = Some(now);
        // A load() (first or again) still placing copies ends here, unserved.
        let dropped =
            || Some("the collection was dropped before every replica served it".to_string());
        if d.load_started.is_some() && d.loaded.is_none() && d.load_error.is_none() {
            d.load_error = dropped();
        }
        if d.reload_started.is_some() && d.reloaded.is_none() && d.reload_error.is_none() {
            d.reload_error = dropped();
        }
        self.publish_view(ctx);
        self.releasing_event("drop_collection()", released, ctx);
        let w = &*ctx.world;
        let rootcoord = super::ddl::running(w, ServiceKind::Rootcoord).unwrap_or(self.task);
        let answer =
            super::ddl::release_wait(w, self.task) + super::ddl::drop_hop(w, self.task, rootcoord);
        let to = super::ddl::drop_step(w, rootcoord, ServiceKind::Datacoord, true);
        ctx.send(w.ingest.datacoord, Msg::DdlDropIndex, answer + to);
    }

    /// The event of a release in force, by `call`: the (replicas, sealed bytes,
    /// growing rows) it let go.
    fn releasing_event(
        &self,
        call: &str,
        (replicas, released, growing): (usize, u64, u64),
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        let cut_off = self.cut_off_note();
        let detail = format!(
            "{call}: {replicas} replica(s) dropped; {released} bytes of sealed segments and {growing} growing row(s) released{cut_off}"
        );
        ctx.world
            .task_event(now, "collection_releasing", self.task, detail);
    }

    fn cut_off_note(&self) -> String {
        match self.held_back.len() {
            0 => String::new(),
            n => format!("; {n} query node(s) querycoord cannot reach let go once it reaches them or their session is gone, and the answer waits for them"),
        }
    }

    /// Every replica of the collection goes: the copies and delegators are let go
    /// (held back for nodes querycoord cannot reach) and the routing forgets them.
    /// Returns the replicas dropped, the sealed bytes and the growing rows released.
    fn release_collection(&mut self, ctx: &mut Ctx<'_, Msg, World>) -> (usize, u64, u64) {
        let now = ctx.now();
        let released = self.release_every_copy(ctx);
        self.first_load.clear();
        let leaders: BTreeSet<usize> = (ctx.world.dist.leader.iter())
            .flat_map(|l| l.iter().flatten().copied())
            .collect();
        for node in leaders {
            release_delegator(node, ctx);
        }
        let w = &mut *ctx.world;
        let mut growing = 0u64;
        for r in 0..w.dist.leader.len() {
            w.dist.leader[r].iter_mut().for_each(|l| *l = None);
            for s in 0..w.ingest.growing_rows.get(r).map_or(0, |g| g.len()) {
                let rows = w.ingest.growing_rows[r][s];
                growing += rows;
                // A delegator querycoord cannot reach keeps its rows until it can.
                let cut_off = w.ingest.growing_holder[r][s]
                    .filter(|&(t, g)| w.alive(t, g))
                    .and_then(|(t, _)| w.node_of_task(t))
                    .and_then(|n| self.hold_back(n));
                match cut_off {
                    Some(h) => {
                        h.growing_bytes += rows * w.ingest.row_bytes;
                        w.ingest.growing_rows[r][s] = 0;
                    }
                    None => drop_growing(w, r, s, u64::MAX, now),
                }
                w.ingest.growing_holder[r][s] = None;
            }
        }
        let replicas = self.loaded;
        self.loaded = 0;
        for r in 0..w.dist.leader.len() {
            w.refresh_routing(r);
        }
        (replicas, released, growing)
    }

    /// release() returns: querycoord's distribution pulls show every node empty.
    /// With reload = "after_release" the application loads again at once; a
    /// load() again called meanwhile goes out now. An answer from an incarnation
    /// that died meanwhile never comes (the release took effect, if it did).
    pub fn on_released(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if gen != ctx.world.tasks[self.task].gen {
            super::ddl::lost(ctx.world, now, super::ddl::Lost::ReleaseAnswer);
        } else if ctx.world.ddl.release_error.is_none() {
            // The distribution still shows a node it could not reach, or one it
            // reached later has not been pulled empty yet: the answer waits.
            if let Some(wait) = self.release_wait.as_mut() {
                if !self.held_back.is_empty() {
                    wait.answer_due = true;
                    return;
                }
                if now < wait.answer_at {
                    ctx.set_timer(wait.answer_at.since(now), Msg::DdlReleased { gen });
                    return;
                }
            }
            self.release_wait = None;
            ctx.world.ddl.released = Some(now);
            let called = ctx.world.ddl.release_called;
            let event = ("collection_released", self.task);
            super::ddl::answered(ctx.world, now, called, "release()", event);
        }
        if super::ddl::reload_step(&ctx.world.ddl) == super::ddl::ReloadStep::Go {
            self.on_reload_called(ctx);
        }
    }

    /// The application calls load() again (at its time, or when release() has
    /// answered). Called before release() answered, it waits for it (the
    /// application calls one after the other); `reload_s` stays the time of the
    /// application's call.
    pub fn on_reload_called(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.ddl.reload_called.get_or_insert(now);
        if super::ddl::reload_step(&ctx.world.ddl) != super::ddl::ReloadStep::Go {
            return;
        }
        match super::ddl::path(ctx.world, super::ddl::Call::Load) {
            Ok(path) if self.serving => {
                ctx.world.ddl.reload_returned = Some(now + path.returned);
                let gen = ctx.world.tasks[self.task].gen;
                ctx.set_timer(path.applied, Msg::DdlLoadApplied { reload: true, gen });
            }
            Ok(_) => self.reload_failed("querycoord unavailable".into(), ctx),
            Err(e) => self.reload_failed(e, ctx),
        }
    }

    fn reload_failed(&mut self, why: String, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let detail = format!("load() again failed: {why}; the collection stays released");
        ctx.world.ddl.reload_error = Some(detail.clone());
        ctx.world.task_event(now, "load_failed", self.task, detail);
    }

    /// A channel task: a new delegator for (replica, shard) on `node`, serving once it
    /// has replayed the channel.
    fn start_channel(&mut self, r: usize, s: usize, node: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let gen = ctx.world.tasks[ctx.world.query_node_tasks[node]].gen;
        let recovery = ctx.world.failover.channel_recovery;
        self.channels
            .insert((r, s), (node, gen, ctx.now() + recovery));
        ctx.set_timer(
            recovery,
            Msg::ChannelRecovered {
                replica: r as u8,
                shard: s as u8,
                node: node as u16,
                gen,
            },
        );
    }

    fn start_load(
        &mut self,
        replica: usize,
        segment: usize,
        node: usize,
        from: Option<usize>,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let task = ctx.world.query_node_tasks[node];
        let gen = ctx.world.tasks[task].gen;
        self.loads
            .insert((replica, segment), LoadTask { node, gen, from });
        self.retry_at.remove(&(replica, segment));
        let actor = ctx.world.query_node_actors[node];
        send_to(
            ctx,
            self.task,
            actor,
            CONTROL_RPC_BYTES,
            Msg::LoadSegment {
                replica: replica as u8,
                segment: segment as u32,
                gen,
            },
        );
    }

    pub fn on_segment_loaded(
        &mut self,
        node: usize,
        replica: usize,
        segment: usize,
        gen: u8,
        ok: bool,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let key = (replica, segment);
        if let Some(k) = self
            .drop_on_load
            .iter()
            .position(|(x, t)| *x == key && t.node == node && t.gen == gen)
        {
            self.drop_on_load.remove(k);
            if ok {
                release_copy(node, replica, segment, ctx);
            }
            return;
        }
        let Some(task) = self.loads.get(&key).copied() else {
            return;
        };
        if task.node != node || task.gen != gen {
            return;
        }
        self.loads.remove(&key);
        if ok {
            self.ready.push((key, task));
        } else {
            let now = ctx.now();
            self.retry_at.insert(key, now + LOAD_RETRY);
            let t = ctx.world.query_node_tasks[node];
            let seg = &ctx.world.layout.segments[segment];
            let detail = format!(
                "segment {} replica {replica}: load failed (no object storage reachable, or OOM if load: the load guard); retried in {LOAD_RETRY}",
                seg.id
            );
            ctx.world.task_event(now, "segment_load_failed", t, detail);
        }
    }

    pub fn on_channel_recovered(
        &mut self,
        replica: usize,
        shard: usize,
        node: usize,
        gen: u8,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        if self
            .channels
            .get(&(replica, shard))
            .is_none_or(|&(n, g, _)| (n, g) != (node, gen))
        {
            return;
        }
        if !ctx.world.alive(ctx.world.query_node_tasks[node], gen) {
            self.channels.remove(&(replica, shard));
            return;
        }
        self.channels.remove(&(replica, shard));
        self.channels_ready.push(((replica, shard), node));
    }

    /// reference §1.7 leader observer: pushes distribution changes to the delegators.
    pub fn on_leader_observer_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let every = ctx.world.failover.leader_observer_interval;
        self.rearm(every, Msg::LeaderObserverTick, ctx);
        self.note_loaded(ctx);
        if self.ready.is_empty() && self.channels_ready.is_empty() {
            return;
        }
        let now = ctx.now();
        let shards = ctx.world.params.shards as usize;
        let before: Vec<Vec<bool>> = (0..self.members.len())
            .map(|r| (0..shards).map(|s| serviceable(ctx.world, r, s)).collect())
            .collect();
        let mut touched = BTreeSet::new();
        for ((r, s), node) in std::mem::take(&mut self.channels_ready) {
            if !self.node_ready(node, ctx) {
                continue;
            }
            let before = ctx.world.dist.leader[r][s].replace(node);
            if let Some(old) = before.filter(|&o| o != node) {
                release_delegator(old, ctx);
            }
            if self.first_load.remove(&(r, s)) {
                // The first delegator of a load replays the channel from its
                // checkpoint: the rows not flushed yet become its growing rows.
                let w = &mut *ctx.world;
                w.ingest.growing_rows[r][s] = w
                    .ingest
                    .segments
                    .iter()
                    .filter(|x| x.shard as usize == s && x.growing_copy && x.merged_by.is_none())
                    .filter(|x| {
                        matches!(
                            x.state,
                            SegState::Growing | SegState::Sealed | SegState::Flushing
                        )
                    })
                    .map(|x| x.rows)
                    .sum();
            }
            move_growing(ctx.world, r, s, node, now);
            touched.insert(r);
            let task = ctx.world.query_node_tasks[node];
            ctx.world.task_event(
                now,
                "shard_leader_assigned",
                task,
                format!(
                    "replica {r} shard {s} led by {}",
                    ctx.world.tasks[task].name
                ),
            );
        }
        for ((r, i), t) in std::mem::take(&mut self.ready) {
            if !ctx.world.alive(ctx.world.query_node_tasks[t.node], t.gen) {
                continue;
            }
            // The application's load() placing a copy is no fault's reload.
            let by_application = self.app_pending.remove(&(r, i));
            if ctx.world.dist.retired[i] {
                // Merged away while it loaded: the copy is released at once.
                release_copy(t.node, r, i, ctx);
                continue;
            }
            let old = ctx.world.dist.holder[r][i];
            ctx.world.dist.holder[r][i] = Some(t.node);
            touched.insert(r);
            let seg = ctx.world.layout.segments[i].clone();
            if ctx.world.dist.in_target[r][i] {
                if !by_application {
                    ctx.world.note_reloaded(seg.memory_bytes, t.from.is_some());
                }
            } else {
                self.hand_off(r, i, ctx);
            }
            let task = ctx.world.query_node_tasks[t.node];
            let kind = if t.from.is_some() {
                "segment_moved"
            } else {
                "segment_loaded"
            };
            ctx.world.task_event(
                now,
                kind,
                task,
                format!(
                    "segment {} shard {} rows {} bytes {} replica {r}",
                    seg.id, seg.shard, seg.rows, seg.memory_bytes
                ),
            );
            // A moved segment is released on the node that served it.
            if let Some(from) = old.filter(|&f| f != t.node) {
                release_copy(from, r, i, ctx);
            }
        }
        for &r in &touched {
            ctx.world.refresh_routing(r);
        }
        self.check_drained(ctx);
        for &r in &touched {
            for (s, &was) in before[r].iter().enumerate() {
                if !was && serviceable(ctx.world, r, s) {
                    let leader = ctx.world.dist.leader[r][s].expect("serviceable");
                    let task = ctx.world.query_node_tasks[leader];
                    ctx.world.task_event(
                        now,
                        "shard_serviceable",
                        task,
                        format!("replica {r} shard {s}: every segment is in the leader view again"),
                    );
                }
            }
        }
        self.publish_view(ctx);
        if let Some(since) = self.reloading_since {
            let done = (0..self.loaded).all(|r| (0..shards).all(|s| serviceable(ctx.world, r, s)));
            if done {
                self.reloading_since = None;
                let detail = format!(
                    "load() done: {} replica(s) serve every shard, {:.1} s after the release",
                    self.loaded,
                    now.since(since).as_secs_f64()
                );
                ctx.world
                    .task_event(now, "collection_loaded", self.task, detail);
            }
        }
    }

    /// reference §1.7: the balance checker moves the smallest segment from the fullest
    /// node to the emptiest while (from - to) >= 0.05 x to; a move that overshoots is
    /// kept only if 1.3 x the new imbalance < the old. Only while no segment task runs.
    pub fn on_balance_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let every = ctx.world.failover.balance_interval;
        self.rearm(every, Msg::BalanceTick, ctx);
        if !self.serving
            || !self.loads.is_empty()
            || !self.ready.is_empty()
            || !ctx.world.etcd_writable()
        {
            return;
        }
        let now = ctx.now();
        for r in 0..self.members.len() {
            let ready: Vec<usize> = self.members[r]
                .iter()
                .copied()
                .filter(|&n| self.node_ready(n, ctx))
                .collect();
            if ready.len() < 2 {
                continue;
            }
            // Channels too: a node leading two more shards than another hands one over
            // (reference §1.7 balancer; a new delegator replays the channel, the old one
            // serves until the leader observer switches).
            if self.channels.is_empty() {
                let shards = ctx.world.params.shards as usize;
                let led = |n: usize| {
                    ctx.world.dist.leader[r]
                        .iter()
                        .filter(|l| **l == Some(n))
                        .count()
                };
                let most = ready
                    .iter()
                    .copied()
                    .max_by_key(|&n| (led(n), usize::MAX - n));
                let least = ready.iter().copied().min_by_key(|&n| (led(n), n));
                if let (Some(from), Some(to)) = (most, least) {
                    if led(from) >= led(to) + 2 {
                        let s = (0..shards)
                            .find(|&s| ctx.world.dist.leader[r][s] == Some(from))
                            .expect("leads a shard");
                        self.start_channel(r, s, to, ctx);
                        let task = ctx.world.query_node_tasks[to];
                        ctx.world.task_event(
                            now,
                            "channel_reassigned",
                            task,
                            format!("querycoord: balance moves replica {r} shard {s} here"),
                        );
                    }
                }
            }
            let mut rows = self.rows_by_node(r, ctx);
            rows.retain(|n, _| ready.contains(n));
            // Segments per node, smallest first.
            let mut held: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
            for (i, h) in ctx.world.dist.holder[r].iter().enumerate() {
                if let Some(n) = h.filter(|n| rows.contains_key(n)) {
                    held.entry(n).or_default().push(i);
                }
            }
            for v in held.values_mut() {
                v.sort_by_key(|&i| {
                    let s = &ctx.world.layout.segments[i];
                    (std::cmp::Reverse(s.rows), std::cmp::Reverse(s.id))
                });
            }
            let mut moves = Vec::new();
            loop {
                let (&from, &hi) = rows
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                    .expect("nodes");
                let (&to, &lo) = rows
                    .iter()
                    .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
                    .expect("nodes");
                let diff = hi - lo;
                if from == to || diff == 0 || (diff as f64) < 0.05 * lo as f64 {
                    break;
                }
                let Some(&seg) = held.get(&from).and_then(|v| v.last()) else {
                    break;
                };
                let x = ctx.world.layout.segments[seg].rows;
                let (new_from, new_to) = (hi - x, lo + x);
                if new_to > new_from && 1.3 * (new_to - new_from) as f64 >= diff as f64 {
                    break;
                }
                held.get_mut(&from).expect("listed").pop();
                rows.insert(from, new_from);
                rows.insert(to, new_to);
                moves.push((seg, from, to));
            }
            if moves.is_empty() {
                continue;
            }
            ctx.world.rec.event(
                now,
                "balance_planned",
                "",
                "",
                format!("querycoord: replica {r}: {} segment move(s)", moves.len()),
            );
            for (seg, from, to) in moves {
                self.start_load(r, seg, to, Some(from), ctx);
            }
        }
    }

    /// The process dies: what it knew is gone; the proxies' lookups fail.
    pub fn on_crash(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let at = ctx.now() + ctx.world.rpc_error_after();
        for proxy in std::mem::take(&mut self.lookups) {
            ctx.send_at(proxy, Msg::ShardLeadersFetched { ok: false }, at);
        }
        self.serving = false;
        // The release job waiting for a node dies with the process: no answer.
        if self.release_wait.take().is_some_and(|w| w.answer_due) {
            let now = ctx.now();
            super::ddl::lost(ctx.world, now, super::ddl::Lost::ReleaseAnswer);
            if super::ddl::reload_step(&ctx.world.ddl) == super::ddl::ReloadStep::Go {
                self.on_reload_called(ctx);
            }
        }
        self.loads.clear();
        self.ready.clear();
        self.channels.clear();
        self.channels_ready.clear();
        self.retry_at.clear();
        self.pending_up.clear();
        self.unreachable.clear();
    }

    /// A restarted coordinator reloads its metadata (reference §2.5), then serves.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let recovery = ctx.world.failover.coordinator_recovery;
        ctx.set_timer(recovery, Msg::CoordinatorRecovered);
    }

    /// Recovery: membership and distribution from etcd and the nodes' pulls.
    pub fn on_recovered(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        self.serving = true;
        let now = ctx.now();
        let nodes = ctx.world.query_node_tasks.len();
        for node in 0..nodes {
            let t = &ctx.world.tasks[ctx.world.query_node_tasks[node]];
            let (up, stale, never_ran) = (t.up, t.stale_session, t.down_at.is_none());
            let member = self.members.iter().any(|m| m.contains(&node));
            if !up && member && never_ran {
                // A cold start: it joins when it registers.
                for m in &mut self.members {
                    m.retain(|&n| n != node);
                }
            } else if !up && member && !stale {
                self.handle_node_down(node, ctx);
            } else if !up && member {
                // Its pulls fail at once; the lease expiry will hand it down.
                self.offline[node] = true;
            } else if up && !member {
                self.pending_up.insert(node);
            } else if up {
                // A new process pulls every node's distribution afresh: what the
                // previous one marked offline counts again if it answers now (it ran
                // elsewhere, maybe behind a cut this one is not behind).
                let w = &*ctx.world;
                let (me, it) = (self.task, ctx.world.query_node_tasks[node]);
                let src = w.hosts[w.tasks[me].host].endpoint;
                let dst = w.hosts[w.tasks[it].host].endpoint;
                if w.net.reachable(src, dst) {
                    self.offline[node] = false;
                } else {
                    self.offline[node] = true;
                    self.unreachable.insert(node, w.tasks[it].gen);
                }
            }
        }
        ctx.world.task_event(
            now,
            "coordinator_recovered",
            self.task,
            "querycoord: metadata reloaded, distribution pulled".into(),
        );
        self.publish_view(ctx);
        self.arm(ctx);
    }
}

impl QueryCoord {
    /// reference §3.3 step 8: the target observer pulls the next target from
    /// datacoord; flushed segments with their index join it, and the segment checker
    /// then loads them.
    pub fn on_target_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let every = ctx.world.ingest.target_interval;
        self.rearm(every, Msg::TargetTick, ctx);
        if !self.serving {
            return;
        }
        self.pull_next_target(ctx);
    }

    /// The next target as datacoord has it now: flushed segments not in the layout yet
    /// join it. The target observer's tick pulls it, and so does load() (below).
    fn pull_next_target(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let w = &mut *ctx.world;
        let mut retire = Vec::new();
        for k in 0..w.ingest.segments.len() {
            let s = &w.ingest.segments[k];
            // reference §3.3 step 8: flushed segments join the next target, indexed or
            // not; inputs of a running merge stay valid until its result is served.
            let ready = matches!(
                s.state,
                SegState::Flushed | SegState::Indexing | SegState::Indexed | SegState::Compacting
            );
            if !ready || s.layout.is_some() || s.loaded.is_some() {
                continue;
            }
            // A compaction's result joins the target only once indexed (or empty); its
            // indexed inputs serve until then. Milvus 2.3 datacoord handler.go
            // GetQueryVChanPositions (not in the reference): "unIndexed" segments made
            // by compaction are replaced by the segments they were compacted from.
            if s.merged_by.is_some() && s.state != SegState::Indexed && s.rows > 0 {
                continue;
            }
            if s.rows == 0 {
                // Nothing reached it (its inserts failed, or compaction removed every
                // row as deleted): nothing to serve; a merge's inputs go at once.
                retire.extend(s.merged_by);
                w.ingest.segments[k].loaded = Some(now);
                continue;
            }
            let i = w.layout.segments.len();
            w.layout.segments.push(Segment {
                id: s.id,
                shard: s.shard,
                rows: s.rows,
                memory_bytes: segment_memory_bytes(&w.index, s.rows, w.ingest.row_bytes),
            });
            for r in 0..w.dist.holder.len() {
                w.dist.holder[r].push(None);
                // A replica not loaded yet takes the segment in with the rest.
                w.dist.in_target[r].push(r >= self.loaded);
                w.dist.indexed[r].push(false);
            }
            w.dist.retired.push(false);
            w.ingest.of_layout.insert(i, k as u32);
            w.ingest.segments[k].layout = Some(i);
        }
        for plan in retire {
            self.retire_inputs(plan as usize, ctx);
        }
    }

    /// A handed-off segment is loaded in replica `r`: the delegator drops the growing
    /// copy of its rows (reference §3.3 step 8).
    fn hand_off(&mut self, r: usize, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let w = &mut *ctx.world;
        w.dist.in_target[r][i] = true;
        let seg = w.layout.segments[i].clone();
        let shard = seg.shard as usize;
        let k = w
            .ingest
            .segments
            .iter()
            .position(|s| s.layout == Some(i))
            .expect("a handed-off segment is in the segment table");
        if w.ingest.segments[k].growing_copy {
            drop_growing(w, r, shard, seg.rows, now);
        }
        if (0..w.dist.in_target.len()).all(|r| w.dist.in_target[r][i]) {
            w.ingest.segments[k].loaded = Some(now);
            if let Some(plan) = w.ingest.segments[k].merged_by {
                self.retire_inputs(plan as usize, ctx);
            }
            let detail = format!(
                "segment {} shard {shard} rows {}: served sealed by every replica; growing copies dropped",
                seg.id, seg.rows
            );
            ctx.world
                .task_event(now, "segment_handed_off", self.task, detail);
        }
    }
}

impl QueryCoord {
    /// reference §3.3 step 9: once a merged segment is served everywhere, the
    /// segments it replaces leave the target and the query nodes release them.
    fn retire_inputs(&mut self, plan: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let inputs = ctx.world.ingest.plans[plan].inputs.clone();
        let mut touched = BTreeSet::new();
        for k in inputs {
            let w = &mut *ctx.world;
            // reference §1.5: its files stay until garbage collection.
            let files = std::mem::take(&mut w.ingest.segments[k as usize].files_bytes);
            w.storage.drop_files(now, files);
            let s = &mut w.ingest.segments[k as usize];
            s.state = SegState::Dropped;
            // Rows merged before their own handoff are served sealed from now on.
            s.loaded.get_or_insert(now);
            let (id, shard, rows, layout, growing) =
                (s.id, s.shard as usize, s.rows, s.layout, s.growing_copy);
            for r in 0..w.dist.holder.len() {
                let handed = layout.is_some_and(|i| w.dist.in_target[r][i]);
                if growing && !handed {
                    drop_growing(w, r, shard, rows, now);
                }
            }
            let mut releases = Vec::new();
            if let Some(i) = layout {
                w.dist.retired[i] = true;
                for r in 0..w.dist.holder.len() {
                    w.dist.in_target[r][i] = false;
                    if let Some(n) = w.dist.holder[r][i].take() {
                        let task = w.query_node_tasks[n];
                        let (actor, gen) = (w.query_node_actors[n], w.tasks[task].gen);
                        releases.push((actor, i as u32, r as u8, gen));
                    }
                    touched.insert(r);
                }
            }
            for (actor, segment, replica, gen) in releases {
                ctx.send(
                    actor,
                    Msg::ReleaseSegment {
                        segment,
                        replica,
                        gen,
                    },
                    SimDuration::ZERO,
                );
            }
            ctx.world.task_event(
                now,
                "segment_dropped",
                self.task,
                format!("segment {id} shard {shard} rows {rows}: compacted into another segment and released"),
            );
        }
        for r in touched {
            ctx.world.refresh_routing(r);
        }
    }
}

/// The delegator of (replica, shard) stops serving `rows` growing rows.
fn drop_growing(w: &mut World, r: usize, shard: usize, rows: u64, now: SimTime) {
    let g = &mut w.ingest.growing_rows[r][shard];
    let rows = rows.min(*g);
    *g -= rows;
    // Freed by the process that holds them; a dead one took them with it.
    if let Some((task, gen)) = w.ingest.growing_holder[r][shard] {
        if w.alive(task, gen) {
            let bytes = (rows * w.ingest.row_bytes) as i64;
            w.hold_memory(task, -bytes, now);
        }
    }
}

/// A new delegator of (replica `r`, `shard`) on `node` replays the channel from its
/// checkpoint: it holds the shard's growing rows now, and a previous delegator still
/// running lets them go.
fn move_growing(w: &mut World, r: usize, shard: usize, node: usize, now: SimTime) {
    let task = w.query_node_tasks[node];
    let to = (task, w.tasks[task].gen);
    let old = w.ingest.growing_holder[r][shard];
    if old == Some(to) {
        return;
    }
    let bytes = (w.ingest.growing_rows[r][shard] * w.ingest.row_bytes) as i64;
    if let Some((t, _)) = old.filter(|&(t, g)| w.alive(t, g)) {
        w.hold_memory(t, -bytes, now);
    }
    w.hold_memory(task, bytes, now);
    w.ingest.growing_holder[r][shard] = Some(to);
}

impl QueryCoord {
    /// reference §1.7 checkIndexInterval / §3.3 step 8: segments served without
    /// their index get it loaded once it is built.
    pub fn on_index_checker_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        self.rearm(INDEX_CHECK_INTERVAL, Msg::IndexCheckerTick, ctx);
        if !self.serving {
            return;
        }
        let mut calls = Vec::new();
        let w = &*ctx.world;
        for (&i, _) in w.ingest.of_layout.iter() {
            if w.dist.retired[i] || !w.index_ready(i) {
                continue;
            }
            for r in 0..w.dist.holder.len() {
                let Some(n) = w.dist.holder[r][i] else {
                    continue;
                };
                if w.dist.indexed[r][i] || self.index_loads.contains(&(r, i)) {
                    continue;
                }
                let task = w.query_node_tasks[n];
                calls.push((r, i, w.query_node_actors[n], w.tasks[task].gen));
            }
        }
        for (r, i, actor, gen) in calls {
            self.index_loads.insert((r, i));
            send_to(
                ctx,
                self.task,
                actor,
                CONTROL_RPC_BYTES,
                Msg::LoadIndex {
                    replica: r as u8,
                    segment: i as u32,
                    gen,
                },
            );
        }
    }

    pub fn on_index_loaded(
        &mut self,
        node: usize,
        replica: usize,
        segment: usize,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        self.index_loads.remove(&(replica, segment));
        if ctx.world.dist.holder[replica][segment] != Some(node) {
            return;
        }
        ctx.world.dist.indexed[replica][segment] = true;
        ctx.world.refresh_routing(replica);
    }
}

/// Whether searches of (replica, shard) can be served: a leader and every segment.
/// Query node `node` drops its copy of segment `i` in replica `r`.
/// Query node `node` no longer leads a shard it led: what waits on its delegator
/// there fails (Milvus closes the delegator, and its waits for tsafe end).
fn release_delegator(node: usize, ctx: &mut Ctx<'_, Msg, World>) {
    let gen = ctx.world.tasks[ctx.world.query_node_tasks[node]].gen;
    let actor = ctx.world.query_node_actors[node];
    ctx.send(actor, Msg::DelegatorReleased { gen }, SimDuration::ZERO);
}

fn release_copy(node: usize, r: usize, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
    let gen = ctx.world.tasks[ctx.world.query_node_tasks[node]].gen;
    let actor = ctx.world.query_node_actors[node];
    ctx.send(
        actor,
        Msg::ReleaseSegment {
            segment: i as u32,
            replica: r as u8,
            gen,
        },
        SimDuration::ZERO,
    );
}

pub fn serviceable(w: &World, replica: usize, shard: usize) -> bool {
    w.dist.leader[replica][shard].is_some() && w.dist.lacking[replica][shard] == 0
}
