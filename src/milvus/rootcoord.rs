//! Root coordinator: the timestamp oracle and the time-tick broadcast.

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
    /// False from a restart until the metadata is reloaded.
    pub serving: bool,
}

impl RootCoord {
    pub fn new(task: usize, tick_interval: SimDuration) -> Self {
        RootCoord {
            task,
            tick_interval,
            lock_free_at: SimTime::ZERO,
            last_physical_ms: u64::MAX,
            logical: 0,
            stalled: false,
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
        let proxy_task = ctx.world.task_of(proxy);
        send_net_from(
            ctx,
            done,
            Endpoint::Task(self.task),
            Endpoint::Task(proxy_task),
            CONTROL_RPC_BYTES,
            proxy,
            Msg::TsoAllocated { req, ts, insert },
        );
    }

    /// reference §1.1 / §3.2: a time tick goes into every DML channel each
    /// `proxy.timeTickInterval`; delegators advance their serviceable time from it.
    pub fn on_time_tick_due(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        // reference §2.6: the tick goes out only when every registered proxy session
        // has reported; the session of a killed proxy stays registered, silent, until
        // its lease runs out, and holds every tick back.
        // A running proxy behind a network cut is silent too, while its session
        // lives.
        let w = &*ctx.world;
        let silent = (0..w.tasks.len()).find(|&p| {
            let t = &w.tasks[p];
            t.kind == ServiceKind::Proxy
                && if t.up {
                    !w.session_lost[p] && !w.tasks_reachable(p, self.task)
                } else {
                    t.stale_session
                }
        });
        if let Some(p) = silent {
            if !self.stalled {
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
            if ctx.now() < ctx.world.end {
                let interval = self.tick_interval;
                ctx.set_timer(interval, Msg::TimeTickDue);
            }
            return;
        }
        if self.stalled {
            self.stalled = false;
            let now = ctx.now();
            ctx.world.task_event(
                now,
                "timetick_resumed",
                self.task,
                "rootcoord: every proxy session reports again; time ticks resume".into(),
            );
        }
        if let Some((done, ts)) = self.allocate(ctx.now(), ctx.world.etcd_lost_at) {
            let shards = ctx.world.params.shards as usize;
            if ctx.world.ingest.broker_actors.is_empty() {
                // No Pulsar in the topology: the tick reaches each channel's current
                // delegators after a fixed delivery time.
                let arrive = done + SimDuration::from_nanos(MQ_DELIVERY_NS);
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
            } else {
                // reference §1.1, §2.8: the tick is a message in each DML channel,
                // produced to the broker owning it and persisted like any other; a
                // broker or bookie outage stops it.
                for shard in 0..shards {
                    let b = ctx.world.broker_for(shard, done);
                    let (actor, task) = (
                        ctx.world.ingest.broker_actors[b],
                        ctx.world.ingest.broker_tasks[b],
                    );
                    send_net_from(
                        ctx,
                        done,
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
        }
        if ctx.now() < ctx.world.end {
            let interval = self.tick_interval;
            ctx.set_timer(interval, Msg::TimeTickDue);
        }
    }

    /// A restarted rootcoord reloads its metadata and restores the TSO from etcd
    /// (reference §2.5) before it serves and ticks again.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        self.lock_free_at = ctx.now();
        self.stalled = false;
        self.serving = false;
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
