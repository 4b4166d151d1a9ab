//! Clients: open-loop Poisson arrivals or closed-loop clients with think time.

use rand::RngExt;

use crate::engine::{rng, ActorId, Ctx, SimDuration, SimTime};
use crate::milvus::msg::{Msg, Req};
use crate::milvus::retrieve::ReqKind;
use crate::milvus::world::{send_net, submit_cpu, Endpoint, World};
use crate::scenario::experiment::{Arrivals, ProxySelection, RetryPolicy};

/// A call to a proxy that is not there (connection refused or no route).
pub const ERR_PROXY_UNREACHABLE: &str = "proxy unreachable: connection refused";

/// reference §2.8: what a client sees when its deadline passes.
pub const ERR_DEADLINE: &str =
    "rpc error: code = DeadlineExceeded desc = context deadline exceeded";

/// GUESS: how long a reconnecting client avoids a proxy it could not reach.
const AVOID_UNREACHABLE_PROXY: SimDuration = SimDuration::from_secs(10);

pub struct Clients {
    /// What these clients send: searches, or queries by primary key.
    kind: ReqKind,
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
    retry: RetryPolicy,
    /// Clients on a host of the topology: (host, its CPU owner for them, core-ns a
    /// request costs them).
    cpu: Option<(usize, usize, f64)>,
}

impl Clients {
    pub fn new(
        kind: ReqKind,
        arrivals: Arrivals,
        selection: ProxySelection,
        proxies: Vec<(ActorId, usize)>,
        reconnect: bool,
        timeout: Option<SimDuration>,
        retry: RetryPolicy,
    ) -> Self {
        assert!(!proxies.is_empty(), "clients need at least one proxy");
        let n = proxies.len();
        Clients {
            kind,
            arrivals,
            selection,
            proxies,
            next_proxy: 0,
            reconnect,
            avoid_until: vec![SimTime::ZERO; n],
            timeout,
            retry,
            cpu: None,
        }
    }

    /// The clients run on `host` (CPU owner `owner` there) and each request costs
    /// them `per_request` of one core.
    pub fn on_host(mut self, host: usize, owner: usize, per_request: SimDuration) -> Self {
        self.cpu = Some((host, owner, per_request.as_nanos() as f64));
        self
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

    /// The SDK's work for a request on the clients' host, when they run on one: it
    /// takes cores from the processes there. It runs while the client handles the
    /// reply and prepares its next call (its time is in the clients' think time and
    /// latency already), so a lone client does not slow its own request.
    fn use_cpu(&self, ctx: &mut Ctx<'_, Msg, World>) {
        let Some((host, owner, ns)) = self.cpu else {
            return;
        };
        let me = ctx.me();
        submit_cpu(ctx, host, owner, ns, 1, me, Msg::ClientCpuDone);
    }

    fn send_search(&mut self, client: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let i = self.pick_proxy(ctx);
        let (proxy, _) = self.proxies[i];
        let req = ctx
            .world
            .open_search(self.kind, client, i as u32, proxy, now);
        if let Some(t) = self.timeout {
            let id = ctx.world.searches[req as usize].id;
            ctx.set_timer(t, Msg::SearchTimeout { req, id });
        }
        self.send_to(req, i, ctx);
    }

    fn pick_proxy(&mut self, ctx: &mut Ctx<'_, Msg, World>) -> usize {
        // The users publish the proxies' port on each manager and have no balancer in
        // front (reference §2.6), so the client picks a proxy itself.
        let i = match self.selection {
            ProxySelection::RoundRobin => {
                let i = ctx.world.proxy_in_service(&self.proxies, self.next_proxy);
                self.next_proxy = (i + 1) % self.proxies.len();
                i
            }
            ProxySelection::Random => {
                let i = ctx.rng().random_range(0..self.proxies.len());
                ctx.world.proxy_in_service(&self.proxies, i)
            }
        };
        self.usable(i, ctx.now(), ctx.world)
    }

    /// The wait after a failed attempt is over: the search goes out again, to the
    /// proxy the client would pick for a new one.
    pub fn on_retry(&mut self, req: Req, id: u64, ctx: &mut Ctx<'_, Msg, World>) {
        let s = &ctx.world.searches[req as usize];
        if s.id != id {
            return;
        }
        if s.timed_out {
            // The deadline passed while the client waited: its row is recorded.
            return ctx.world.release_timed_out(req);
        }
        let i = self.pick_proxy(ctx);
        self.send_to(req, i, ctx);
    }

    /// `i`, or for a reconnecting client the next proxy it does not avoid.
    fn usable(&self, i: usize, now: SimTime, w: &World) -> usize {
        if !self.reconnect {
            return i;
        }
        let n = self.proxies.len();
        (0..n)
            .map(|k| (i + k) % n)
            .find(|&j| self.avoid_until[j] <= now && w.tasks[self.proxies[j].1].in_service)
            .unwrap_or(i)
    }

    fn send_to(&mut self, req: Req, i: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let (proxy, task) = self.proxies[i];
        let s = &mut ctx.world.searches[req as usize];
        s.proxy = proxy;
        s.proxy_index = i as u32;
        let bytes = ctx.world.request_bytes(req);
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
        self.use_cpu(ctx);
        if ctx.world.searches[req as usize].timed_out {
            return ctx.world.release_timed_out(req);
        }
        let s = &ctx.world.searches[req as usize];
        if self.reconnect && s.error == Some(ERR_PROXY_UNREACHABLE) {
            // reference §2.6: a client that fails over tries the next proxy it has
            // not found dead, once per proxy.
            let failed = s.proxy_index as usize;
            self.avoid_until[failed] = now + AVOID_UNREACHABLE_PROXY;
            let next = self.usable(failed, now, ctx.world);
            if next != failed {
                ctx.world.searches[req as usize].error = None;
                self.send_to(req, next, ctx);
                return;
            }
        }
        let s = &ctx.world.searches[req as usize];
        if s.error.is_some() && u32::from(s.attempts) < self.retry.retries {
            let wait = self.retry.wait(u32::from(s.attempts) + 1);
            let (req, moved) = ctx.world.retry_search(req);
            let s = &ctx.world.searches[req as usize];
            let (id, start) = (s.id, s.start);
            if let (true, Some(t)) = (moved, self.timeout) {
                // The deadline covers every attempt.
                let left = (start + t).since(now);
                ctx.set_timer(left, Msg::SearchTimeout { req, id });
            }
            ctx.set_timer(wait, Msg::ClientRetry { req, id });
            return;
        }
        let client = ctx.world.searches[req as usize].client;
        ctx.world.close_search(req, now);
        if let Arrivals::ClosedLoop { think, .. } = self.arrivals {
            ctx.set_timer(think, Msg::ClientNext { client });
        }
    }
}
