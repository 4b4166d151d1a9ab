//! Root coordinator: the timestamp oracle and the time-tick broadcast.

use crate::engine::{ActorId, Ctx, SimDuration, SimTime, NS_PER_MS};

use super::msg::{Msg, Req, Ts};
use super::overheads::{CONTROL_RPC_BYTES, MQ_DELIVERY_NS, TSO_ALLOC_NS};
use super::world::{send_net_from, Endpoint, World};

/// reference §1.1: the physical part advances every 50 ms (UpdateTimestampStep);
/// allocations within a step take increasing logical values.
const TSO_STEP_MS: u64 = 50;
pub const LOGICAL_BITS: u32 = 18;

/// Converts a duration to the hybrid-timestamp offset it spans.
pub fn ts_offset(d: SimDuration) -> Ts {
    (d.0 / NS_PER_MS) << LOGICAL_BITS
}

pub struct RootCoord {
    pub task: usize,
    tick_interval: SimDuration,
    /// Delegating query nodes that consume time ticks.
    tick_consumers: Vec<ActorId>,
    lock_free_at: SimTime,
    last_physical_ms: u64,
    logical: u64,
}

impl RootCoord {
    pub fn new(task: usize, tick_interval: SimDuration, tick_consumers: Vec<ActorId>) -> Self {
        RootCoord {
            task,
            tick_interval,
            tick_consumers,
            lock_free_at: SimTime::ZERO,
            last_physical_ms: u64::MAX,
            logical: 0,
        }
    }

    /// Allocates one timestamp; the TSO lock makes allocations a one-server queue.
    fn allocate(&mut self, now: SimTime) -> (SimTime, Ts) {
        let done = now.max(self.lock_free_at) + SimDuration::from_nanos(TSO_ALLOC_NS as u64);
        self.lock_free_at = done;
        let physical = done.0 / NS_PER_MS / TSO_STEP_MS * TSO_STEP_MS;
        if physical != self.last_physical_ms {
            self.last_physical_ms = physical;
            self.logical = 0;
        }
        self.logical += 1;
        assert!(
            self.logical < 1 << LOGICAL_BITS,
            "TSO logical counter overflow within one step"
        );
        (done, (physical << LOGICAL_BITS) | self.logical)
    }

    pub fn on_tso_requested(&mut self, req: Req, proxy: ActorId, ctx: &mut Ctx<'_, Msg, World>) {
        let (done, ts) = self.allocate(ctx.now());
        let proxy_task = ctx.world.task_of(proxy);
        send_net_from(
            ctx,
            done,
            Endpoint::Task(self.task),
            Endpoint::Task(proxy_task),
            CONTROL_RPC_BYTES,
            proxy,
            Msg::TsoAllocated { req, ts },
        );
    }

    /// reference §1.1 / §3.2: a time tick goes into every DML channel each
    /// `proxy.timeTickInterval`; delegators advance their serviceable time from it.
    pub fn on_time_tick_due(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let (done, ts) = self.allocate(ctx.now());
        let arrive = done + SimDuration::from_nanos(MQ_DELIVERY_NS);
        for &qn in &self.tick_consumers {
            ctx.send_at(qn, Msg::TimeTickArrived { ts }, arrive);
        }
        if ctx.now() < ctx.world.end {
            let interval = self.tick_interval;
            ctx.set_timer(interval, Msg::TimeTickDue);
        }
    }
}
