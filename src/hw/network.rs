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

use petgraph::algo::dijkstra;
use petgraph::graph::{NodeIndex, UnGraph};

use super::bandwidth::BandwidthServer;
use crate::engine::{SimDuration, SimTime};

#[derive(Clone, Debug)]
pub enum NetNode {
    Endpoint(String),
    Switch(String),
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
}

impl Network {
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
        let latency = self.latency[src * self.n + dst]
            .unwrap_or_else(|| panic!("endpoints {src} and {dst} are not connected"));
        let (tx, rx) = if bulk {
            (&mut self.bulk_tx, &mut self.bulk_rx)
        } else {
            (&mut self.tx, &mut self.rx)
        };
        let sent = tx[src].reserve(now, bytes);
        // A link slower than both NICs stretches the serialisation to its own speed.
        let link_bw = self.bottleneck[src * self.n + dst];
        let sent = if link_bw < tx[src].bytes_per_s() {
            sent.max(now + SimDuration::from_secs_f64(bytes as f64 / link_bw))
        } else {
            sent
        };
        let received = rx[dst].reserve(now + latency, bytes);
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
