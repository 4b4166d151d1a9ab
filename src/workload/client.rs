//! Clients: open-loop Poisson arrivals or closed-loop clients with think time.

use rand::RngExt;

use crate::engine::{rng, ActorId, Ctx, SimDuration};
use crate::milvus::msg::{Msg, Req};
use crate::milvus::overheads::search_request_bytes;
use crate::milvus::world::{send_net, Endpoint, World};
use crate::scenario::experiment::{Arrivals, ProxySelection};

pub struct Clients {
    arrivals: Arrivals,
    selection: ProxySelection,
    /// (actor, task) of each proxy the clients can reach.
    proxies: Vec<(ActorId, usize)>,
    next_proxy: usize,
}

impl Clients {
    pub fn new(
        arrivals: Arrivals,
        selection: ProxySelection,
        proxies: Vec<(ActorId, usize)>,
    ) -> Self {
        assert!(!proxies.is_empty(), "clients need at least one proxy");
        Clients {
            arrivals,
            selection,
            proxies,
            next_proxy: 0,
        }
    }

    /// The first events: one arrival for open loop, one request per closed-loop client.
    pub fn start_messages(&self) -> Vec<Msg> {
        match self.arrivals {
            Arrivals::OpenLoop { .. } => vec![Msg::ClientNext { client: 0 }],
            Arrivals::ClosedLoop { clients, .. } => (0..clients)
                .map(|client| Msg::ClientNext { client })
                .collect(),
        }
    }

    pub fn on_next(&mut self, client: u32, ctx: &mut Ctx<'_, Msg, World>) {
        if ctx.now() >= ctx.world.end {
            return;
        }
        self.send_search(client, ctx);
        if let Arrivals::OpenLoop { qps } = self.arrivals {
            let gap = rng::exponential(ctx.rng(), 1.0 / qps);
            ctx.set_timer(SimDuration::from_secs_f64(gap), Msg::ClientNext { client });
        }
    }

    fn send_search(&mut self, client: u32, ctx: &mut Ctx<'_, Msg, World>) {
        // The users publish the proxies' port on each manager and have no balancer in
        // front (reference §2.6), so the client picks a proxy itself.
        let i = match self.selection {
            ProxySelection::RoundRobin => {
                let i = self.next_proxy;
                self.next_proxy = (i + 1) % self.proxies.len();
                i
            }
            ProxySelection::Random => ctx.rng().random_range(0..self.proxies.len()),
        };
        let (proxy, task) = self.proxies[i];
        let now = ctx.now();
        let req = ctx.world.open_search(client, i as u32, proxy, now);
        let p = &ctx.world.params;
        let bytes = search_request_bytes(p.nq, p.dim);
        send_net(
            ctx,
            Endpoint::Clients,
            Endpoint::Task(task),
            bytes,
            proxy,
            Msg::SearchArrived { req },
        );
    }

    pub fn on_replied(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let client = ctx.world.searches[req as usize].client;
        ctx.world.close_search(req, now);
        if let Arrivals::ClosedLoop { think, .. } = self.arrivals {
            ctx.set_timer(think, Msg::ClientNext { client });
        }
    }
}
