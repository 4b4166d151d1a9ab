//! The network: endpoints (hosts, external clients) and switches joined by links with
//! latency and bandwidth, held in a `petgraph` graph.
//!
//! A message from A to B is serialised on A's transmit side, travels the
//! lowest-latency path, and is received on B's receive side; both NIC directions are
//! FCFS bandwidth servers, so large transfers queue and share fairly in arrival order.
//! Bulk transfers (segment and index files from object storage) queue on bulk servers
//! of their own: TCP shares a NIC between flows, so a small RPC does not wait behind a
//! gigabyte download the way one FCFS queue would make it.
//! Path latencies are computed once (Dijkstra from every endpoint), so a send costs
//! two bandwidth reservations and a table lookup.
//!
//! Faults change paths at run time: a *cut* separates two sets of endpoints (nothing
//! crosses it; callers ask [`Network::reachable`] before sending), and a
//! [`Degradation`] slows the pairs between two sets. Both are kept per pair of
//! endpoints, recomputed when one starts or ends, so a send still costs a lookup.

use petgraph::algo::dijkstra;
use petgraph::graph::{NodeIndex, UnGraph};

use super::bandwidth::BandwidthServer;
use crate::engine::{SimDuration, SimTime};

#[derive(Clone, Debug)]
pub enum NetNode {
    Endpoint(String),
    Switch(String),
}

/// What a degraded path adds to every transfer over it.
///
/// Loss is paid in two ways, both from TCP: every segment is sent 1 / (1 - loss)
/// times on average (the extra bytes queue on the NICs), and a bulk flow cannot go
/// faster than the Mathis bound, MSS / RTT x sqrt(3/2) / sqrt(loss) (Mathis, Semke,
/// Mahdavi, Ott 1997). A small message whose segment is lost waits for a
/// retransmission timeout instead; that draw is the caller's (it needs randomness).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Degradation {
    /// Added one-way latency.
    pub extra_latency: SimDuration,
    /// Share of the path's bandwidth left (0 < factor <= 1).
    pub bandwidth_factor: f64,
    /// Share of packets lost (0 <= loss < 1).
    pub loss: f64,
}

impl Degradation {
    pub const NONE: Degradation = Degradation {
        extra_latency: SimDuration::ZERO,
        bandwidth_factor: 1.0,
        loss: 0.0,
    };

    /// Two degradations on one path: latencies add, factors multiply, losses
    /// compound.
    pub fn then(self, other: Degradation) -> Degradation {
        Degradation {
            extra_latency: self.extra_latency + other.extra_latency,
            bandwidth_factor: self.bandwidth_factor * other.bandwidth_factor,
            loss: 1.0 - (1.0 - self.loss) * (1.0 - other.loss),
        }
    }
}

/// TCP maximum segment size on a 1500-byte Ethernet MTU (1500 - 40 bytes of IP and
/// TCP headers - 12 bytes of timestamp option).
pub const TCP_MSS_BYTES: u64 = 1448;

/// An active cut or degradation between two sets of endpoints.
#[derive(Clone, Debug)]
struct Impairment {
    id: u32,
    a: Vec<usize>,
    b: Vec<usize>,
    /// `None`: a cut.
    degradation: Option<Degradation>,
}

#[derive(Clone, Copy, Debug)]
pub struct Link {
    pub latency: SimDuration,
    pub bytes_per_s: f64,
}

/// Builder: add endpoints and switches, link them, then `build`.
#[derive(Default)]
pub struct NetworkBuilder {
    graph: UnGraph<NetNode, Link>,
    endpoints: Vec<(NodeIndex, f64)>,
}

impl NetworkBuilder {
    /// Adds an endpoint with a NIC of `nic_bytes_per_s`; returns its endpoint index.
    pub fn endpoint(&mut self, name: &str, nic_bytes_per_s: f64) -> usize {
        let n = self.graph.add_node(NetNode::Endpoint(name.to_string()));
        self.endpoints.push((n, nic_bytes_per_s));
        self.endpoints.len() - 1
    }

    pub fn switch(&mut self, name: &str) -> NodeIndex {
        self.graph.add_node(NetNode::Switch(name.to_string()))
    }

    pub fn endpoint_node(&self, endpoint: usize) -> NodeIndex {
        self.endpoints[endpoint].0
    }

    pub fn link(&mut self, a: NodeIndex, b: NodeIndex, link: Link) {
        self.graph.add_edge(a, b, link);
    }

    /// Computes all endpoint-to-endpoint paths. Unreachable pairs keep `None`.
    pub fn build(self, loopback: SimDuration) -> Network {
        let n = self.endpoints.len();
        let mut latency = vec![None; n * n];
        let mut bottleneck = vec![f64::INFINITY; n * n];
        for (i, &(src, _)) in self.endpoints.iter().enumerate() {
            // Copied into a vector by node index: the map is only read, never iterated
            // in an order that could leak into results.
            let mut dist = vec![None; self.graph.node_count()];
            for (node, d) in dijkstra(&self.graph, src, None, |e| e.weight().latency.0) {
                dist[node.index()] = Some(d);
            }
            for (j, &(dst, _)) in self.endpoints.iter().enumerate() {
                if let Some(d) = dist[dst.index()] {
                    latency[i * n + j] = Some(SimDuration(d));
                }
                if i != j {
                    bottleneck[i * n + j] = self.path_bottleneck(src, dst, &dist);
                }
            }
        }
        Network {
            n,
            latency,
            bottleneck,
            loopback,
            tx: self
                .endpoints
                .iter()
                .map(|&(_, bw)| BandwidthServer::new(bw))
                .collect(),
            rx: self
                .endpoints
                .iter()
                .map(|&(_, bw)| BandwidthServer::new(bw))
                .collect(),
            bulk_tx: self
                .endpoints
                .iter()
                .map(|&(_, bw)| BandwidthServer::new(bw))
                .collect(),
            bulk_rx: self
                .endpoints
                .iter()
                .map(|&(_, bw)| BandwidthServer::new(bw))
                .collect(),
            graph: self.graph,
            impairments: Vec::new(),
            cut: vec![false; n * n],
            cut_started: vec![None; n * n],
            degraded: vec![Degradation::NONE; n * n],
        }
    }

    /// The narrowest link on the shortest path, walking back from `dst` along edges
    /// whose latency accounts for the distance difference.
    fn path_bottleneck(&self, src: NodeIndex, dst: NodeIndex, dist: &[Option<u64>]) -> f64 {
        let Some(total) = dist[dst.index()] else {
            return 0.0;
        };
        let mut node = dst;
        let mut d = total;
        let mut narrowest = f64::INFINITY;
        while node != src {
            let mut stepped = false;
            // Edges are visited in index order, so the chosen path is deterministic.
            for e in self.graph.edges(node) {
                use petgraph::visit::EdgeRef;
                let other = if e.source() == node {
                    e.target()
                } else {
                    e.source()
                };
                if let Some(od) = dist[other.index()] {
                    if od + e.weight().latency.0 == d {
                        narrowest = narrowest.min(e.weight().bytes_per_s);
                        node = other;
                        d = od;
                        stepped = true;
                        break;
                    }
                }
            }
            assert!(stepped, "shortest-path walk lost its way");
        }
        narrowest
    }
}

pub struct Network {
    n: usize,
    latency: Vec<Option<SimDuration>>,
    bottleneck: Vec<f64>,
    loopback: SimDuration,
    tx: Vec<BandwidthServer>,
    rx: Vec<BandwidthServer>,
    bulk_tx: Vec<BandwidthServer>,
    bulk_rx: Vec<BandwidthServer>,
    graph: UnGraph<NetNode, Link>,
    impairments: Vec<Impairment>,
    /// Per (src, dst): some active cut separates them.
    cut: Vec<bool>,
    /// Per (src, dst): when the latest cut between them started.
    cut_started: Vec<Option<SimTime>>,
    /// Per (src, dst): the active degradations, combined.
    degraded: Vec<Degradation>,
}

impl Network {
    /// Cuts every path between endpoint sets `a` and `b` from `now` until
    /// [`Network::restore`] is called with the same `id`.
    pub fn cut(&mut self, id: u32, a: &[usize], b: &[usize], now: SimTime) {
        self.impairments.push(Impairment {
            id,
            a: a.to_vec(),
            b: b.to_vec(),
            degradation: None,
        });
        for &x in a {
            for &y in b {
                self.cut_started[x * self.n + y] = Some(now);
                self.cut_started[y * self.n + x] = Some(now);
            }
        }
        self.recompute();
    }

    /// Degrades every path between endpoint sets `a` and `b` until
    /// [`Network::restore`] is called with the same `id`.
    pub fn degrade(&mut self, id: u32, a: &[usize], b: &[usize], d: Degradation) {
        self.impairments.push(Impairment {
            id,
            a: a.to_vec(),
            b: b.to_vec(),
            degradation: Some(d),
        });
        self.recompute();
    }

    /// Ends the cut or degradation `id`.
    pub fn restore(&mut self, id: u32) {
        self.impairments.retain(|i| i.id != id);
        self.recompute();
    }

    fn recompute(&mut self) {
        let n = self.n;
        self.cut.iter_mut().for_each(|c| *c = false);
        self.degraded
            .iter_mut()
            .for_each(|d| *d = Degradation::NONE);
        for imp in &self.impairments {
            for &x in &imp.a {
                for &y in &imp.b {
                    for (i, j) in [(x, y), (y, x)] {
                        match imp.degradation {
                            None => self.cut[i * n + j] = true,
                            Some(d) => self.degraded[i * n + j] = self.degraded[i * n + j].then(d),
                        }
                    }
                }
            }
        }
    }

    /// Whether a message from `src` can reach `dst` now (no cut between them).
    pub fn reachable(&self, src: usize, dst: usize) -> bool {
        src == dst || !self.cut[src * self.n + dst]
    }

    /// Whether `src` and `dst` were separated at any time since `t` (a transfer that
    /// started at `t` broke).
    pub fn cut_since(&self, src: usize, dst: usize, t: SimTime) -> bool {
        !self.reachable(src, dst) || self.cut_started[src * self.n + dst].is_some_and(|c| c >= t)
    }

    /// When the latest cut between `src` and `dst` started.
    pub fn cut_started(&self, src: usize, dst: usize) -> Option<SimTime> {
        self.cut_started[src * self.n + dst]
    }

    /// The degradation of the path from `src` to `dst` now.
    pub fn degradation(&self, src: usize, dst: usize) -> Degradation {
        if src == dst {
            return Degradation::NONE;
        }
        self.degraded[src * self.n + dst]
    }

    /// One-way latency between endpoints, if they are connected.
    pub fn latency(&self, src: usize, dst: usize) -> Option<SimDuration> {
        if src == dst {
            return Some(self.loopback);
        }
        self.latency[src * self.n + dst]
    }

    /// Sends `bytes` from `src` to `dst` starting at `now`; returns the arrival time.
    /// Panics if the endpoints are not connected: topologies are validated first.
    pub fn transfer(&mut self, now: SimTime, src: usize, dst: usize, bytes: u64) -> SimTime {
        self.transfer_on(now, src, dst, bytes, false)
    }

    /// Like [`Network::transfer`] for a message that leaves at `start`, later than
    /// now, without queueing on the NICs: the FCFS servers take transfers in arrival
    /// order, so reserving a future slot now would hold back every message sent in
    /// between (a reply due in a second would block its host's NIC for that second).
    /// Such messages are small (replies and reports), so their share of the NIC is
    /// negligible.
    pub fn transfer_later(&self, start: SimTime, src: usize, dst: usize, bytes: u64) -> SimTime {
        if src == dst {
            return start + self.loopback;
        }
        let d = self.degraded[src * self.n + dst];
        let latency = self.latency[src * self.n + dst]
            .unwrap_or_else(|| panic!("endpoints {src} and {dst} are not connected"))
            + d.extra_latency;
        let wire = (bytes as f64 / (1.0 - d.loss) / d.bandwidth_factor).ceil() as u64;
        let sent = self.tx[src].unqueued(start, wire);
        let received = self.rx[dst].unqueued(start + latency, wire);
        received.max(sent + latency)
    }

    /// Like [`Network::transfer_later`] for bulk data that starts at `start`, later
    /// than now (e.g. after a connect timed out): its duration on idle NICs, without
    /// queueing, so the slots between now and `start` stay free.
    pub fn transfer_bulk_later(
        &self,
        start: SimTime,
        src: usize,
        dst: usize,
        bytes: u64,
    ) -> SimTime {
        if src == dst {
            return start + self.loopback;
        }
        let d = self.degraded[src * self.n + dst];
        let latency = self.latency[src * self.n + dst]
            .unwrap_or_else(|| panic!("endpoints {src} and {dst} are not connected"))
            + d.extra_latency;
        let wire = (bytes as f64 / (1.0 - d.loss) / d.bandwidth_factor).ceil() as u64;
        let link = self.bottleneck[src * self.n + dst];
        let sent = self.bulk_tx[src]
            .unqueued(start, wire)
            .max(start + SimDuration::from_secs_f64(bytes as f64 / link));
        let received = self.bulk_rx[dst].unqueued(start + latency, wire);
        received.max(sent + latency)
    }

    /// Like [`Network::transfer`], for bulk data: it queues behind other bulk
    /// transfers only.
    pub fn transfer_bulk(&mut self, now: SimTime, src: usize, dst: usize, bytes: u64) -> SimTime {
        self.transfer_on(now, src, dst, bytes, true)
    }

    fn transfer_on(
        &mut self,
        now: SimTime,
        src: usize,
        dst: usize,
        bytes: u64,
        bulk: bool,
    ) -> SimTime {
        if src == dst {
            return now + self.loopback;
        }
        let d = self.degraded[src * self.n + dst];
        let latency = self.latency[src * self.n + dst]
            .unwrap_or_else(|| panic!("endpoints {src} and {dst} are not connected"))
            + d.extra_latency;
        // Retransmitted bytes, then a slower path: the NICs are busy for longer.
        let wire = bytes as f64 / (1.0 - d.loss) / d.bandwidth_factor;
        let (tx, rx) = if bulk {
            (&mut self.bulk_tx, &mut self.bulk_rx)
        } else {
            (&mut self.tx, &mut self.rx)
        };
        let sent = tx[src].reserve(now, wire.ceil() as u64);
        // A link slower than both NICs stretches the serialisation to its own speed.
        let mut link_bw = self.bottleneck[src * self.n + dst];
        if bulk && d.loss > 0.0 {
            // Mathis et al. 1997: a TCP flow over a lossy path.
            let rtt = 2.0 * latency.as_secs_f64();
            let mathis = TCP_MSS_BYTES as f64 / rtt * (1.5f64).sqrt() / d.loss.sqrt();
            link_bw = link_bw.min(mathis);
        }
        let sent = if link_bw < tx[src].bytes_per_s() {
            sent.max(now + SimDuration::from_secs_f64(bytes as f64 / link_bw))
        } else {
            sent
        };
        let received = rx[dst].reserve(now + latency, wire.ceil() as u64);
        received.max(sent + latency)
    }

    pub fn endpoints(&self) -> usize {
        self.n
    }

    pub fn graph(&self) -> &UnGraph<NetNode, Link> {
        &self.graph
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn star() -> Network {
        let mut b = NetworkBuilder::default();
        let a = b.endpoint("a", 1e9);
        let c = b.endpoint("c", 1e9);
        let s = b.switch("core");
        let link = Link {
            latency: SimDuration(100),
            bytes_per_s: 1e9,
        };
        b.link(b.endpoint_node(a), s, link);
        b.link(b.endpoint_node(c), s, link);
        b.build(SimDuration(5))
    }

    #[test]
    fn a_message_pays_serialisation_and_path_latency() {
        let mut net = star();
        assert_eq!(net.latency(0, 1), Some(SimDuration(200)));
        // 1000 bytes at 1 byte/ns: 1000 ns on the wire, then 200 ns of path.
        assert_eq!(net.transfer(SimTime(0), 0, 1, 1000), SimTime(1200));
        // A second message queues behind the first on both NICs.
        assert_eq!(net.transfer(SimTime(0), 0, 1, 1000), SimTime(2200));
        assert_eq!(net.transfer(SimTime(0), 1, 1, 1000), SimTime(5));
    }

    #[test]
    fn a_cut_separates_its_sets_until_restored() {
        let mut net = star();
        assert!(net.reachable(0, 1));
        net.cut(7, &[0], &[1], SimTime(50));
        assert!(!net.reachable(0, 1) && !net.reachable(1, 0));
        assert!(net.reachable(0, 0));
        net.restore(7);
        assert!(net.reachable(1, 0));
        // A transfer that started before the cut broke; one started after did not.
        assert!(net.cut_since(0, 1, SimTime(10)));
        assert!(!net.cut_since(0, 1, SimTime(60)));
    }

    #[test]
    fn a_degraded_path_adds_latency_bytes_and_time() {
        let mut net = star();
        net.degrade(
            1,
            &[0],
            &[1],
            Degradation {
                extra_latency: SimDuration(1000),
                bandwidth_factor: 0.5,
                loss: 0.0,
            },
        );
        // 1000 bytes at half of 1 byte/ns: 2000 ns, then 200 + 1000 ns of path.
        assert_eq!(net.transfer(SimTime(0), 0, 1, 1000), SimTime(3200));
        net.restore(1);
        assert_eq!(net.degradation(0, 1), Degradation::NONE);
        // 10 % loss: 1000 / 0.9 bytes on the wire.
        net.degrade(
            2,
            &[1],
            &[0],
            Degradation {
                extra_latency: SimDuration::ZERO,
                bandwidth_factor: 1.0,
                loss: 0.1,
            },
        );
        let start = SimTime(1_000_000);
        assert_eq!(net.transfer(start, 0, 1, 900), start + SimDuration(1200));
    }

    #[test]
    fn a_slow_link_bounds_the_transfer() {
        let mut b = NetworkBuilder::default();
        let a = b.endpoint("a", 1e9);
        let c = b.endpoint("c", 1e9);
        let s1 = b.switch("s1");
        let s2 = b.switch("s2");
        let fast = Link {
            latency: SimDuration(10),
            bytes_per_s: 1e9,
        };
        b.link(b.endpoint_node(a), s1, fast);
        b.link(
            s1,
            s2,
            Link {
                latency: SimDuration(10),
                bytes_per_s: 1e8,
            },
        );
        b.link(s2, b.endpoint_node(c), fast);
        let mut net = b.build(SimDuration(1));
        assert_eq!(net.transfer(SimTime(0), 0, 1, 1000), SimTime(10_000 + 30));
    }
}
