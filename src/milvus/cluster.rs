//! Assembling the simulation: hosts, network, placed tasks, the Milvus actors and the
//! clients, in the order of the architecture diagram.

use std::collections::BTreeMap;

use crate::engine::{Actor, ActorId, Ctx, SimDuration, SimTime, Simulation};
use crate::hw::{HostCost, Link, Memory, NetworkBuilder, PsCpu};
use crate::scenario::experiment::Experiment;
use crate::scenario::topology::ServiceKind;
use crate::workload::Clients;

use super::hardware::Hardware;
use super::layout::{Layout, PROCESS_BASE_BYTES};
use super::msg::Msg;
use super::proxy::Proxy;
use super::querycoord::QueryCoord;
use super::querynode::QueryNode;
use super::rootcoord::{ts_offset, RootCoord};
use super::world::{HostRt, SearchParams, SubCost, TaskRt, Usage, World};

pub enum Component {
    Hardware(Hardware),
    Clients(Clients),
    Proxy(Proxy),
    RootCoord(RootCoord),
    QueryCoord(QueryCoord),
    QueryNode(QueryNode),
}

impl Actor for Component {
    type Msg = Msg;
    type World = World;

    fn on_message(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        use Component as C;
        match (self, msg) {
            (C::Hardware(h), Msg::CpuWake { host, at }) => h.on_cpu_wake(host, at, ctx),
            (C::Clients(c), Msg::ClientNext { client }) => c.on_next(client, ctx),
            (C::Clients(c), Msg::SearchReplied { req }) => c.on_replied(req, ctx),
            (C::Proxy(p), Msg::SearchArrived { req }) => p.on_search_arrived(req, ctx),
            (C::Proxy(p), Msg::ProxyPreExecuted { req }) => p.on_pre_executed(req, ctx),
            (C::Proxy(p), Msg::TsoAllocated { req, ts }) => p.on_tso_allocated(req, ts, ctx),
            (C::Proxy(p), Msg::ShardLeadersFetched) => p.on_shard_leaders_fetched(ctx),
            (C::Proxy(p), Msg::ShardSearched { req, shard }) => {
                p.on_shard_searched(req, shard, ctx)
            }
            (C::Proxy(p), Msg::ProxyReduced { req }) => p.on_reduced(req, ctx),
            (C::RootCoord(r), Msg::TsoRequested { req, proxy }) => {
                r.on_tso_requested(req, proxy, ctx)
            }
            (C::RootCoord(r), Msg::TimeTickDue) => r.on_time_tick_due(ctx),
            (C::QueryCoord(q), Msg::ShardLeadersRequested { proxy }) => {
                q.on_shard_leaders_requested(proxy, ctx)
            }
            (C::QueryCoord(q), Msg::ShardLeadersAnswered { proxy }) => {
                q.on_shard_leaders_answered(proxy, ctx)
            }
            (
                C::QueryNode(q),
                Msg::DelegatorSearchArrived {
                    req,
                    shard,
                    replica,
                },
            ) => q.on_delegator_search(req, shard, replica, ctx),
            (C::QueryNode(q), Msg::TimeTickArrived { ts }) => q.on_time_tick(ts, ctx),
            (
                C::QueryNode(q),
                Msg::WorkerSearchArrived {
                    req,
                    shard,
                    replica,
                    delegator,
                },
            ) => q.on_worker_search(req, shard, replica, delegator, ctx),
            (
                C::QueryNode(q),
                Msg::WorkerSearched {
                    req,
                    shard,
                    replica,
                    delegator,
                },
            ) => q.on_worker_searched(req, shard, replica, delegator, ctx),
            (C::QueryNode(q), Msg::WorkerReplied { req, shard, failed }) => {
                q.on_worker_replied(req, shard, failed, ctx)
            }
            (C::QueryNode(q), Msg::DelegatorReduced { req, shard }) => {
                q.on_delegator_reduced(req, shard, ctx)
            }
            (_, msg) => {
                unreachable!("message {msg:?} delivered to an actor that does not handle it")
            }
        }
    }
}

/// Builds the simulation of `exp` with the collection laid out as `layout`.
pub fn build_cluster(exp: &Experiment, layout: Layout) -> Simulation<Component> {
    let topo = &exp.topology;
    let placement = &exp.placement;
    let end = SimTime::ZERO + exp.duration;

    // Hosts and the network: every host on one switch, clients beside it.
    let mut nb = NetworkBuilder::default();
    let core = nb.switch("core");
    let mut hosts = Vec::new();
    let mut services_on_host: Vec<Vec<String>> = vec![Vec::new(); topo.hosts.len()];
    for t in &placement.tasks {
        let name = &topo.services[t.service].name;
        if !services_on_host[t.host].contains(name) {
            services_on_host[t.host].push(name.clone());
        }
    }
    for (h, spec) in topo.hosts.iter().enumerate() {
        let ep = nb.endpoint(&spec.name, spec.nic_bytes_per_s);
        nb.link(
            nb.endpoint_node(ep),
            core,
            Link {
                latency: topo.network.link_latency,
                bytes_per_s: spec.nic_bytes_per_s,
            },
        );
        hosts.push(HostRt {
            spec: spec.clone(),
            cpu: PsCpu::new(spec.cores, services_on_host[h].len().max(1)),
            memory: Memory::new(spec.memory_bytes),
            cost: HostCost::for_host(spec, &exp.profile.profile),
            endpoint: ep,
        });
    }
    let client_ep = nb.endpoint("clients", topo.network.client_bytes_per_s);
    nb.link(
        nb.endpoint_node(client_ep),
        core,
        Link {
            latency: topo.network.client_latency,
            bytes_per_s: topo.network.client_bytes_per_s,
        },
    );
    let net = nb.build(topo.network.loopback_latency);

    // One usage record per (host, service).
    let mut usage = Vec::new();
    let mut usage_of: BTreeMap<(usize, String), usize> = BTreeMap::new();
    let mut tasks = Vec::new();
    for t in &placement.tasks {
        let svc = &topo.services[t.service];
        let key = (t.host, svc.name.clone());
        let u = *usage_of.entry(key).or_insert_with(|| {
            usage.push(Usage {
                host: t.host,
                service: svc.name.clone(),
                cpu_owner: services_on_host[t.host]
                    .iter()
                    .position(|s| s == &svc.name)
                    .expect("listed"),
                net_tx: Default::default(),
                net_rx: Default::default(),
                disk_read: Default::default(),
                disk_write: Default::default(),
                queue_max: Vec::new(),
                memory_bytes: 0,
            });
            usage.len() - 1
        });
        tasks.push(TaskRt {
            name: t.name.clone(),
            service: svc.name.clone(),
            kind: svc.kind,
            host: t.host,
            usage: u,
        });
    }

    let c = &exp.collection;
    let w = &exp.workload;
    let params = SearchParams {
        nq: w.search.nq,
        topk: w.search.topk,
        dim: c.index.dim,
        shards: c.shards,
        consistency: w.consistency,
        graceful_ts: ts_offset(SimDuration::from_millis(
            exp.milvus.get("common.gracefulTime") as u64,
        )),
    };
    let mut world = World::new(hosts, net, client_ep, tasks, usage, layout, params, end);

    // Memory: each simulated Milvus process, plus what each query node loaded.
    for (i, t) in placement.tasks.iter().enumerate() {
        let kind = topo.services[t.service].kind;
        if !kind.simulated() {
            continue;
        }
        let bytes = match world.layout.query_nodes.iter().position(|&q| q == i) {
            Some(n) => world.layout.node_memory_bytes[n],
            None => PROCESS_BASE_BYTES,
        };
        world.hosts[t.host]
            .memory
            .allocate(bytes)
            .expect("the layout's load guard keeps query nodes under 90 % of memory");
        world.usage[world.tasks[i].usage].memory_bytes += bytes;
    }

    // Per sub-request CPU demand, from the cost model of the worker's host.
    let nodes = world.layout.query_nodes.len();
    let cgo_ratio = exp.milvus.get("queryNode.segcore.cgoPoolSizeRatio");
    let mut sub_cost = Vec::new();
    let mut workers = Vec::new();
    for r in 0..c.replicas as usize {
        for s in 0..c.shards {
            workers.push(world.layout.workers(r, s));
            for n in 0..nodes {
                let host = &world.hosts[placement.tasks[world.layout.query_nodes[n]].host];
                let mut demand = 0.0;
                let mut count = 0u32;
                for seg in world.layout.segments_on(r, s, n) {
                    demand += host.cost.segment_search_ns(&c.index, seg.rows, &w.search);
                    count += 1;
                }
                // reference §3.1 step 5: one goroutine per segment, through the cgo pool.
                let pool = ((host.spec.cores as f64 * cgo_ratio) as u32).max(1);
                sub_cost.push(SubCost {
                    demand_core_ns: demand,
                    threads: count.clamp(1, pool),
                });
            }
        }
    }
    world.sub_cost = sub_cost;
    world.workers = workers;

    // Actor ids are handed out in order: hardware, then tasks, then the clients.
    let simulated: Vec<usize> = (0..placement.tasks.len())
        .filter(|&i| topo.services[placement.tasks[i].service].kind.simulated())
        .collect();
    let actor_of_task: BTreeMap<usize, ActorId> = simulated
        .iter()
        .enumerate()
        .map(|(k, &i)| (i, ActorId(1 + k as u32)))
        .collect();
    let clients_actor = ActorId(1 + simulated.len() as u32);
    let first_of = |kind: ServiceKind| {
        simulated
            .iter()
            .copied()
            .find(|&i| topo.services[placement.tasks[i].service].kind == kind)
            .map(|i| actor_of_task[&i])
            .expect("validation guarantees one of each coordinator")
    };
    let rootcoord = first_of(ServiceKind::Rootcoord);
    let querycoord = first_of(ServiceKind::Querycoord);
    world.query_node_tasks = world.layout.query_nodes.clone();
    world.query_node_actors = world
        .layout
        .query_nodes
        .iter()
        .map(|t| actor_of_task[t])
        .collect();
    world.task_of_actor = vec![usize::MAX; 2 + simulated.len()];
    for (&t, a) in &actor_of_task {
        world.task_of_actor[a.index()] = t;
    }
    let leaders: Vec<ActorId> = {
        let mut l: Vec<usize> = world
            .layout
            .replicas
            .iter()
            .flat_map(|r| r.leaders.iter().copied())
            .collect();
        l.sort_unstable();
        l.dedup();
        l.into_iter().map(|n| world.query_node_actors[n]).collect()
    };
    world.hardware = ActorId(0);

    record_load_events(exp, &mut world);

    let mut sim = Simulation::new(exp.seed, world);
    sim.add_actor("hardware", Component::Hardware(Hardware::default()));
    let tick = SimDuration::from_millis(exp.milvus.get("proxy.timeTickInterval") as u64);
    let mut proxies = Vec::new();
    for &i in &simulated {
        let t = &placement.tasks[i];
        let svc = &topo.services[t.service];
        let component = match svc.kind {
            ServiceKind::Rootcoord => {
                Component::RootCoord(RootCoord::new(i, tick, leaders.clone()))
            }
            ServiceKind::Querycoord => Component::QueryCoord(QueryCoord { task: i }),
            ServiceKind::Querynode => {
                let n = sim
                    .world()
                    .layout
                    .query_nodes
                    .iter()
                    .position(|&q| q == i)
                    .expect("a query node");
                let cores = topo.hosts[t.host].cores as f64;
                Component::QueryNode(QueryNode::new(
                    i,
                    n,
                    (cores * exp.milvus.get("queryNode.scheduler.maxReadConcurrentRatio")).round()
                        as u32,
                    exp.milvus
                        .get("queryNode.scheduler.scheduleReadPolicy.maxPendingTask")
                        as usize,
                ))
            }
            ServiceKind::Proxy => {
                let index = proxies.len() as u32;
                proxies.push((actor_of_task[&i], i));
                Component::Proxy(Proxy::new(
                    i,
                    index,
                    rootcoord,
                    querycoord,
                    clients_actor,
                    exp.milvus.get("proxy.maxTaskNum") as u32,
                    SimDuration::from_secs_f64(exp.milvus.get("proxy.shardLeaderCacheInterval")),
                    c.replicas as usize,
                    c.shards as usize,
                ))
            }
            other => unreachable!("{} is not simulated", other.name()),
        };
        let id = sim.add_actor(t.name.clone(), component);
        debug_assert_eq!(id, actor_of_task[&i]);
    }
    sim.world_mut().rec.proxies = proxies
        .iter()
        .map(|&(_, t)| placement.tasks[t].name.clone())
        .collect();
    let clients = Clients::new(w.arrivals.clone(), w.proxy_selection, proxies);
    let starts = clients.start_messages();
    let id = sim.add_actor("clients", Component::Clients(clients));
    assert_eq!(id, clients_actor, "actor ids were planned in this order");
    for m in starts {
        sim.schedule(SimTime::ZERO, id, m);
    }
    sim.schedule(SimTime::ZERO, rootcoord, Msg::TimeTickDue);
    sim
}

/// The state at time zero: where tasks run and what each query node loaded.
fn record_load_events(exp: &Experiment, world: &mut World) {
    let topo = &exp.topology;
    for t in &exp.placement.tasks {
        let svc = &topo.services[t.service];
        let host = &topo.hosts[t.host];
        world.rec.event(
            SimTime::ZERO,
            "task_placed",
            &host.name,
            &svc.name,
            format!(
                "task {} of {} ({}) on {} ({}){}",
                t.name,
                svc.kind.name(),
                svc.image,
                host.name,
                host.address,
                if svc.kind.simulated() {
                    ""
                } else {
                    "; placed only, not simulated in this release"
                }
            ),
        );
    }
    let layout = world.layout.clone();
    for (r, rep) in layout.replicas.iter().enumerate() {
        for (shard, &leader) in rep.leaders.iter().enumerate() {
            let task = &exp.placement.tasks[layout.query_nodes[leader]];
            world.rec.event(
                SimTime::ZERO,
                "shard_leader_assigned",
                &topo.hosts[task.host].name,
                &topo.services[task.service].name,
                format!("replica {r} shard {shard} led by {}", task.name),
            );
        }
        for (i, seg) in layout.segments.iter().enumerate() {
            let task = &exp.placement.tasks[layout.query_nodes[rep.holder[i]]];
            world.rec.event(
                SimTime::ZERO,
                "segment_loaded",
                &topo.hosts[task.host].name,
                &topo.services[task.service].name,
                format!(
                    "segment {} shard {} rows {} bytes {} replica {r}",
                    seg.id, seg.shard, seg.rows, seg.memory_bytes
                ),
            );
        }
    }
    let total: u64 = layout.segments.iter().map(|s| s.memory_bytes).sum();
    world.rec.event(
        SimTime::ZERO,
        "collection_loaded",
        "",
        "",
        format!(
            "{} rows in {} segments of at most {} rows, {} replica(s), {} bytes per replica",
            exp.collection.rows,
            layout.segments.len(),
            layout.max_rows_per_segment,
            layout.replicas.len(),
            total
        ),
    );
}
