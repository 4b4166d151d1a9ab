//! The actor that wakes host CPUs when their tasks finish and hands the results on.

use crate::engine::{Actor, Ctx};

use super::msg::Msg;
use super::world::World;

#[derive(Default)]
pub struct Hardware {
    done: Vec<(crate::engine::ActorId, Msg)>,
}

impl Hardware {
    pub fn on_cpu_wake(
        &mut self,
        host: u32,
        at: crate::engine::SimTime,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        let next = ctx.world.hosts[host as usize]
            .cpu
            .wake(now, at, &mut self.done);
        for (to, msg) in self.done.drain(..) {
            ctx.send(to, msg, crate::engine::SimDuration::ZERO);
        }
        if let Some(t) = next {
            let me = ctx.me();
            ctx.send_at(me, Msg::CpuWake { host, at: t }, t);
        }
    }
}

impl Actor for Hardware {
    type Msg = Msg;
    type World = World;
    fn on_message(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        match msg {
            Msg::CpuWake { host, at } => self.on_cpu_wake(host, at, ctx),
            other => unreachable!("hardware got {other:?}"),
        }
    }
}
