//! Clients: open-loop Poisson arrivals or closed-loop clients with think time.

use rand::RngExt;

use crate::engine::{rng, ActorId, Ctx, SimDuration, SimTime};
use crate::milvus::msg::{Msg, Req};
use crate::milvus::overheads::search_request_bytes;
use crate::milvus::world::{send_net, Endpoint, World};
use crate::scenario::experiment::{Arrivals, ProxySelection};

/// A call to a proxy that is not there (connection refused or no route).
pub const ERR_PROXY_UNREACHABLE: &str = "proxy unreachable: connection refused";

/// reference §2.8: what a client sees when its deadline passes.
pub const ERR_DEADLINE: &str =
    "rpc error: code = DeadlineExceeded desc = context deadline exceeded";

/// GUESS: how long a reconnecting client avoids a proxy it could not reach.
const AVOID_UNREACHABLE_PROXY: SimDuration = SimDuration::from_secs(10);

pub struct Clients {
    arrivals: Arrivals,
    selection: ProxySelection,
    /// (actor, task) of each proxy the clients can reach.
    proxies: Vec<(ActorId, usize)>,
    next_proxy: usize,
    /// reference §2.6: whether a client tries another proxy when its own is gone.
    reconnect: bool,
    /// Per proxy: a reconnecting client avoids it until then.
    avoid_until: Vec<SimTime>,
    /// Client-side deadline of each search.
    timeout: Option<SimDuration>,
}

impl Clients {
    pub fn new(
        arrivals: Arrivals,
        selection: ProxySelection,
        proxies: Vec<(ActorId, usize)>,
        reconnect: bool,
        timeout: Option<SimDuration>,
    ) -> Self {
        assert!(!proxies.is_empty(), "clients need at least one proxy");
        let n = proxies.len();
        Clients {
            arrivals,
            selection,
            proxies,
            next_proxy: 0,
            reconnect,
            avoid_until: vec![SimTime::ZERO; n],
            timeout,
        }
    }

    /// The first events: one arrival for open loop, one request per closed-loop client.
    pub fn start_messages(&self) -> Vec<Msg> {
        match self.arrivals {
            Arrivals::Off => Vec::new(),
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
        let now = ctx.now();
        let i = self.usable(i, now);
        let (proxy, _) = self.proxies[i];
        let req = ctx.world.open_search(client, i as u32, proxy, now);
        if let Some(t) = self.timeout {
            let id = ctx.world.searches[req as usize].id;
            ctx.set_timer(t, Msg::SearchTimeout { req, id });
        }
        self.send_to(req, i, ctx);
    }

    /// `i`, or for a reconnecting client the next proxy it does not avoid.
    fn usable(&self, i: usize, now: SimTime) -> usize {
        if !self.reconnect {
            return i;
        }
        let n = self.proxies.len();
        (0..n)
            .map(|k| (i + k) % n)
            .find(|&j| self.avoid_until[j] <= now)
            .unwrap_or(i)
    }

    fn send_to(&mut self, req: Req, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let (proxy, task) = self.proxies[i];
        let s = &mut ctx.world.searches[req as usize];
        s.proxy = proxy;
        s.proxy_index = i as u32;
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

    /// The deadline passed: the client records the error and moves on.
    pub fn on_timeout(&mut self, req: Req, id: u64, ctx: &mut Ctx<'_, Msg, World>) {
        let s = &ctx.world.searches[req as usize];
        if s.id != id || s.closed {
            return;
        }
        let (now, client) = (ctx.now(), s.client);
        ctx.world.time_out_search(req, now, ERR_DEADLINE);
        if let Arrivals::ClosedLoop { think, .. } = self.arrivals {
            ctx.set_timer(think, Msg::ClientNext { client });
        }
    }

    pub fn on_replied(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if ctx.world.searches[req as usize].timed_out {
            return ctx.world.release_timed_out(req);
        }
        let s = &ctx.world.searches[req as usize];
        if self.reconnect && s.error == Some(ERR_PROXY_UNREACHABLE) {
            // reference §2.6: a client that fails over tries the next proxy it has
            // not found dead, once per proxy.
            let failed = s.proxy_index as usize;
            self.avoid_until[failed] = now + AVOID_UNREACHABLE_PROXY;
            let next = self.usable(failed, now);
            if next != failed {
                ctx.world.searches[req as usize].error = None;
                self.send_to(req, next, ctx);
                return;
            }
        }
        let client = ctx.world.searches[req as usize].client;
        ctx.world.close_search(req, now);
        if let Arrivals::ClosedLoop { think, .. } = self.arrivals {
            ctx.set_timer(think, Msg::ClientNext { client });
        }
    }
}
