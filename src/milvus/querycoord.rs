//! Query coordinator: in this release it answers the proxies' shard-leader lookups
//! from the distribution it holds (the layout planned at load).

use crate::engine::{ActorId, Ctx};

use super::msg::Msg;
use super::overheads::{CONTROL_RPC_BYTES, SHARD_LEADERS_NS};
use super::world::{run_cpu, send_net, Endpoint, World};

pub struct QueryCoord {
    pub task: usize,
}

impl QueryCoord {
    pub fn on_shard_leaders_requested(&mut self, proxy: ActorId, ctx: &mut Ctx<'_, Msg, World>) {
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
        let proxy_task = ctx.world.task_of(proxy);
        send_net(
            ctx,
            Endpoint::Task(self.task),
            Endpoint::Task(proxy_task),
            CONTROL_RPC_BYTES,
            proxy,
            Msg::ShardLeadersFetched,
        );
    }
}
