//! The start order of a cold cluster: a DAG of services, each waiting for the health
//! of the services it needs, and an estimate of the time until the cluster could serve
//! its first search.
//!
//! The users deploy their stacks by hand in stages (reference §6.4): etcd and MinIO
//! (with their proxies), then ZooKeeper, the bookies, the broker, then the Milvus
//! coordinators, workers and proxies. Swarm itself gates nothing (`depends_on` is
//! ignored by `docker stack deploy`), so the order is what the operator waits for; a
//! service's explicit `depends_on` adds to it.

use std::collections::BTreeMap;

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use crate::engine::SimDuration;
use crate::scenario::error::{InputError, InputErrors};
use crate::scenario::topology::{ServiceKind, Topology};

/// Why one service waits for another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// The start order of the kinds (reference §6.4).
    Stage,
    /// The service's `depends_on`.
    DependsOn,
}

/// The kinds a kind waits for, as the users deploy (reference §6.4). Milvus reaches
/// etcd through etcd-proxy, MinIO through minio-proxy (nginx) and Pulsar through the
/// broker (the users' milvus.yaml, reference §6.6). A kind absent from a topology is
/// replaced by what it waits for.
pub fn waits_for(kind: ServiceKind) -> &'static [ServiceKind] {
    use ServiceKind::*;
    match kind {
        Etcd | Minio => &[],
        EtcdProxy => &[Etcd],
        Nginx => &[Minio],
        // Step 2 follows step 1, the whole etcd-minio stack.
        Zookeeper => &[EtcdProxy, Nginx],
        Bookie => &[Zookeeper],
        Broker => &[Bookie],
        Rootcoord | Datacoord | Querycoord | Indexcoord => &[Broker, EtcdProxy, Nginx],
        Querynode | Datanode | Indexnode => &[Rootcoord, Datacoord, Querycoord, Indexcoord],
        Proxy => &[Querynode, Datanode, Indexnode],
    }
}

/// The services of a topology in a DAG: an edge `a -> b` means `b` waits for `a` to be
/// healthy. Nodes carry service indices into `Topology::services`.
pub struct StartOrder {
    pub graph: DiGraph<usize, Wait>,
    /// Node of each service, by service index.
    pub node_of: Vec<NodeIndex>,
    /// Services by stage: a stage's services wait only for earlier stages.
    pub stages: Vec<Vec<usize>>,
}

impl StartOrder {
    /// Services `si` waits for directly, with why.
    pub fn needs(&self, si: usize) -> impl Iterator<Item = (usize, Wait)> + '_ {
        self.graph
            .edges_directed(self.node_of[si], Direction::Incoming)
            .map(|e| (self.graph[e.source()], *e.weight()))
    }
}

/// The services present for a kind, standing in for absent kinds by what they wait for.
fn present(topo: &Topology, kind: ServiceKind, out: &mut Vec<usize>) {
    let of_kind: Vec<usize> = (0..topo.services.len())
        .filter(|&i| topo.services[i].kind == kind)
        .collect();
    if of_kind.is_empty() {
        for &k in waits_for(kind) {
            present(topo, k, out);
        }
    } else {
        out.extend(of_kind);
    }
}

/// Builds the start order; a cycle (through `depends_on`) is an error naming its
/// services.
pub fn start_order(topo: &Topology) -> Result<StartOrder, InputErrors> {
    let mut graph = DiGraph::new();
    let node_of: Vec<NodeIndex> = (0..topo.services.len())
        .map(|i| graph.add_node(i))
        .collect();
    for (si, s) in topo.services.iter().enumerate() {
        let mut needed = Vec::new();
        for &k in waits_for(s.kind) {
            present(topo, k, &mut needed);
        }
        needed.sort_unstable();
        needed.dedup();
        for n in needed {
            if n != si {
                graph.update_edge(node_of[n], node_of[si], Wait::Stage);
            }
        }
        for d in &s.depends_on {
            if let Some(n) = topo.services.iter().position(|x| &x.name == d) {
                graph.update_edge(node_of[n], node_of[si], Wait::DependsOn);
            }
        }
    }
    let order = match toposort(&graph, None) {
        Ok(o) => o,
        Err(_) => return Err(InputErrors(vec![cycle_error(topo, &graph)])),
    };
    // Stage = length of the longest chain of waits before the service.
    let mut stage = vec![0usize; topo.services.len()];
    for n in order {
        let si = graph[n];
        stage[si] = graph
            .edges_directed(n, Direction::Incoming)
            .map(|e| stage[graph[e.source()]] + 1)
            .max()
            .unwrap_or(0);
    }
    let mut stages = vec![Vec::new(); stage.iter().max().map_or(0, |m| m + 1)];
    for (si, &st) in stage.iter().enumerate() {
        stages[st].push(si);
    }
    Ok(StartOrder {
        graph,
        node_of,
        stages,
    })
}

fn cycle_error(topo: &Topology, graph: &DiGraph<usize, Wait>) -> InputError {
    let cycle = tarjan_scc(graph)
        .into_iter()
        .find(|c| c.len() > 1)
        .unwrap_or_default();
    let mut names: Vec<&str> = cycle
        .iter()
        .map(|&n| topo.services[graph[n]].name.as_str())
        .collect();
    names.sort_unstable();
    let first = cycle
        .iter()
        .map(|&n| graph[n])
        .min()
        .expect("a cycle has services");
    let spot = &topo.services[first].spot;
    InputError {
        file: topo.path.clone(),
        line: spot.line,
        column: spot.column,
        message: format!(
            "services {} wait for each other, so none of them can start",
            names.join(", ")
        ),
        hint: Some(
            "a service waits for its depends_on and for the kinds before it (etcd and MinIO, ZooKeeper, bookies, broker, coordinators, workers, proxies); remove the depends_on that points back".into(),
        ),
    }
}

/// Start-up times of containers, from the task's start until its process serves, with
/// the image already on the host. All GUESS (the reference has none) but the 5 s
/// `sleep 5` before `milvus run` (reference §2.10); a service's `startup` in the
/// topology overrides its kind's.
#[derive(Clone, Debug)]
pub struct StartupKnobs {
    pub startup: BTreeMap<ServiceKind, SimDuration>,
}

impl Default for StartupKnobs {
    fn default() -> Self {
        use ServiceKind::*;
        let s = SimDuration::from_secs;
        // Milvus: `sleep 5` (reference §2.10) + GUESS 5 s to load the configuration,
        // connect to etcd, MinIO and Pulsar and register the session.
        let milvus = s(10);
        let startup = [
            (Etcd, s(2)),       // GUESS: a Go binary with a small data directory
            (EtcdProxy, s(1)),  // GUESS
            (Minio, s(5)),      // GUESS: erasure-set formation across 4 nodes
            (Nginx, s(1)),      // GUESS
            (Zookeeper, s(10)), // GUESS: JVM start and quorum election
            (Bookie, s(15)),    // GUESS: JVM start, journal replay of an empty ledger
            (Broker, s(20)),    // GUESS: JVM start, metadata and bookie discovery
            (Rootcoord, milvus),
            (Datacoord, milvus),
            (Querycoord, milvus),
            (Indexcoord, milvus),
            (Querynode, milvus),
            (Datanode, milvus),
            (Indexnode, milvus),
            (Proxy, milvus),
        ]
        .into_iter()
        .collect();
        StartupKnobs { startup }
    }
}

/// One service of a cold start, all times from the first deploy.
#[derive(Clone, Debug, PartialEq)]
pub struct ServiceStart {
    pub service: usize,
    /// When its stack is deployed: the operator waits until all it needs is healthy.
    pub started: SimDuration,
    /// When its process serves.
    pub serving: SimDuration,
    /// When Swarm reports it healthy (= `serving` without a health check).
    pub healthy: SimDuration,
    /// The service whose health it waited for last, if any.
    pub waited_for: Option<usize>,
}

/// A cold start of the whole cluster.
#[derive(Clone, Debug)]
pub struct ColdStart {
    /// Services in the order they became healthy (ties by topology order).
    pub services: Vec<ServiceStart>,
    /// When the first Milvus proxy is healthy, everything it needs being healthy: the
    /// cluster could serve its first search (of an empty or already-loaded collection).
    pub first_search: Option<SimDuration>,
    /// Services from the first started to that proxy, each waited for by the next.
    pub critical_path: Vec<usize>,
}

/// The time from a container's start to its first passing health probe: Docker runs
/// the first probe one `interval` after the start and then every `interval`; a probe
/// passes once the process serves (reference §2.10).
pub fn healthy_after(
    startup: SimDuration,
    healthcheck: Option<&crate::scenario::topology::Healthcheck>,
) -> SimDuration {
    match healthcheck {
        None => startup,
        Some(h) => {
            let interval = h.interval.as_nanos().max(1);
            let probes = startup.as_nanos().div_ceil(interval).max(1);
            SimDuration::from_nanos(probes * interval)
        }
    }
}

/// Plays the cold start along the DAG: each service starts when all it waits for is
/// healthy.
pub fn cold_start(topo: &Topology, order: &StartOrder, knobs: &StartupKnobs) -> ColdStart {
    let mut by_service: Vec<Option<ServiceStart>> = vec![None; topo.services.len()];
    for stage in &order.stages {
        for &si in stage {
            let s = &topo.services[si];
            // The need healthy last; among ties the first in the topology.
            let (started, waited_for) = order
                .needs(si)
                .map(|(n, _)| {
                    let h = by_service[n].as_ref().expect("stages are in order").healthy;
                    (h, std::cmp::Reverse(n))
                })
                .max()
                .map_or((SimDuration::ZERO, None), |(h, n)| (h, Some(n.0)));
            let startup = s.startup.unwrap_or_else(|| {
                *knobs
                    .startup
                    .get(&s.kind)
                    .expect("every kind has a start-up time")
            });
            by_service[si] = Some(ServiceStart {
                service: si,
                started,
                serving: started + startup,
                healthy: started + healthy_after(startup, s.healthcheck.as_ref()),
                waited_for,
            });
        }
    }
    let mut services: Vec<ServiceStart> = by_service.into_iter().flatten().collect();
    services.sort_by_key(|s| (s.healthy, s.service));
    let proxy = services
        .iter()
        .find(|s| topo.services[s.service].kind == ServiceKind::Proxy);
    let first_search = proxy.map(|p| p.healthy);
    let mut critical_path = Vec::new();
    let mut at = proxy.map(|p| p.service);
    while let Some(si) = at {
        critical_path.push(si);
        at = services
            .iter()
            .find(|s| s.service == si)
            .and_then(|s| s.waited_for);
    }
    critical_path.reverse();
    ColdStart {
        services,
        first_search,
        critical_path,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::swarm::test_topology;

    fn seed() -> Topology {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("topologies/seed-26-hosts.toml");
        crate::scenario::load_topology(&path, None).unwrap()
    }

    fn names(t: &Topology, v: &[usize]) -> Vec<String> {
        v.iter().map(|&i| t.services[i].name.clone()).collect()
    }

    #[test]
    fn seed_stages_follow_the_users_order() {
        let t = seed();
        let o = start_order(&t).unwrap();
        let stage_of = |n: &str| {
            let si = t.services.iter().position(|s| s.name == n).unwrap();
            o.stages.iter().position(|s| s.contains(&si)).unwrap()
        };
        assert_eq!(stage_of("etcd1"), 0);
        assert_eq!(stage_of("minio4"), 0);
        assert_eq!(stage_of("etcd-proxy"), 1);
        assert_eq!(stage_of("minio-proxy"), 1);
        assert_eq!(stage_of("zk2"), 2);
        assert_eq!(stage_of("bookie3"), 3);
        assert_eq!(stage_of("broker"), 4);
        assert_eq!(stage_of("querycoord"), 5);
        assert_eq!(stage_of("query5"), 6);
        assert_eq!(stage_of("data1"), 6);
        assert_eq!(stage_of("milvus-proxy"), 7);
        assert_eq!(o.stages.len(), 8);
        // query1 waits for the four coordinators, each for the reason of its kind.
        let q1 = t.services.iter().position(|s| s.name == "query1").unwrap();
        let mut needs: Vec<String> = o
            .needs(q1)
            .map(|(n, w)| {
                assert_eq!(w, Wait::Stage);
                t.services[n].name.clone()
            })
            .collect();
        needs.sort();
        assert_eq!(
            needs,
            ["datacoord", "indexcoord", "querycoord", "rootcoord"]
        );
    }

    #[test]
    fn health_checks_gate_on_whole_intervals() {
        use crate::scenario::topology::Healthcheck;
        let h = Healthcheck {
            interval: SimDuration::from_secs(20),
            timeout: SimDuration::from_secs(5),
            retries: 5,
            start_period: SimDuration::ZERO,
        };
        let s = SimDuration::from_secs;
        assert_eq!(healthy_after(s(10), Some(&h)), s(20));
        assert_eq!(healthy_after(s(20), Some(&h)), s(20));
        assert_eq!(healthy_after(s(21), Some(&h)), s(40));
        assert_eq!(healthy_after(s(0), Some(&h)), s(20));
        assert_eq!(healthy_after(s(7), None), s(7));
    }

    #[test]
    fn seed_cold_start_follows_the_critical_path() {
        let t = seed();
        let o = start_order(&t).unwrap();
        let c = cold_start(&t, &o, &StartupKnobs::default());
        // etcd (no healthcheck) 2 s, etcd-proxy 1 s -> 3 s; MinIO 5 s gated at its
        // 10 s probe, nginx 1 s -> 11 s; ZK 10 s at its 30 s probe -> 41 s; bookie 15 s
        // at 20 s -> 61 s; broker 20 s at 20 s -> 81 s; coordinators, workers and
        // proxies 10 s each at their 20 s probe -> 101, 121, 141 s.
        assert_eq!(c.first_search, Some(SimDuration::from_secs(141)));
        let path = names(&t, &c.critical_path);
        assert_eq!(path.first().map(String::as_str), Some("minio1"));
        assert_eq!(path.last().map(String::as_str), Some("milvus-proxy"));
        assert_eq!(
            path,
            [
                "minio1",
                "minio-proxy",
                "zk1",
                "bookie1",
                "broker",
                "rootcoord",
                "index1",
                "milvus-proxy"
            ]
        );
        let first = &c.services[0];
        assert_eq!(t.services[first.service].name, "etcd1");
        assert_eq!(first.healthy, SimDuration::from_secs(2));
    }

    #[test]
    fn a_cycle_names_its_services() {
        let hosts = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/stacks/small-hosts.toml"),
        )
        .unwrap();
        let t = test_topology(&format!(
            "{hosts}
[[service]]
name = \"etcd1\"
kind = \"etcd\"
constraints = [\"node.labels.etcd1==true\"]
depends_on = [\"rootcoord\"]

[[service]]
name = \"rootcoord\"
kind = \"rootcoord\"
constraints = [\"node.labels.coord==true\"]
"
        ));
        let e = start_order(&t).err().expect("a cycle").to_string();
        assert!(
            e.contains("services etcd1, rootcoord wait for each other"),
            "{e}"
        );
    }
}
