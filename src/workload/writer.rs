//! What the inserting and the deleting clients share: the proxies they write
//! through.

use crate::engine::{ActorId, Ctx};
use crate::milvus::msg::{Msg, Req};
use crate::milvus::world::{send_net, Endpoint, World};

/// The proxies a write workload sends its requests to, round robin over those in
/// service.
pub struct WriteProxies {
    /// (actor, task) of each proxy.
    proxies: Vec<(ActorId, usize)>,
    next: usize,
}

impl WriteProxies {
    pub fn new(proxies: Vec<(ActorId, usize)>) -> Self {
        assert!(!proxies.is_empty(), "writing clients need a proxy");
        WriteProxies { proxies, next: 0 }
    }

    /// Sends write request `req` (an insert or a delete) of `bytes` to the next
    /// proxy in service.
    pub fn send(&mut self, req: Req, bytes: u64, ctx: &mut Ctx<'_, Msg, World>) {
        let k = ctx.world.proxy_in_service(&self.proxies, self.next);
        let (proxy, task) = self.proxies[k];
        self.next = (k + 1) % self.proxies.len();
        let i = &mut ctx.world.ingest.inserts[req as usize];
        i.proxy = proxy;
        i.proxy_index = k as u32;
        send_net(
            ctx,
            Endpoint::Clients,
            Endpoint::Task(task),
            bytes,
            proxy,
            Msg::InsertArrived { req },
        );
    }
}
