//! Assembling the simulation: hosts, network, placed tasks, the Milvus actors and the
//! clients, in the order of the architecture diagram.

use std::collections::BTreeMap;

use crate::engine::{Actor, ActorId, Ctx, SimDuration, SimTime, Simulation};
use crate::hw::{BandwidthServer, HostCost, Link, Memory, NetworkBuilder, PsCpu};
use crate::scenario::experiment::Experiment;
use crate::scenario::topology::ServiceKind;
use crate::workload::client::ERR_PROXY_UNREACHABLE;
use crate::workload::Clients;

use super::control::Control;
use super::datacoord::{DataCoord, DataCoordConfig};
use super::datanode::DataNode;
use super::hardware::Hardware;
use super::indexnode::IndexNode;
use super::ingest::{interim_index_rows, WriteKind};
use super::layout::{Layout, PROCESS_BASE_BYTES};
use super::msg::Fail;
use super::msg::Msg;
use super::overheads::CONTROL_RPC_BYTES;
use super::proxy::Proxy;
use super::pulsar::{Bookie, Broker};
use super::querycoord::QueryCoord;
use super::querynode::QueryNode;
use super::retrieve::{QueryParams, ReqKind};
use super::rootcoord::{ts_offset, RootCoord};
use super::world::{
    hold_back, send_net, Endpoint, HostRt, SearchParams, SubCost, TaskRt, Usage, World,
};
use crate::workload::deleter::Deleters;
use crate::workload::inserter::Inserters;

pub enum Component {
    Hardware(Hardware),
    Clients(Clients),
    // Rare and large: boxed, so the actor table stays compact.
    Control(Box<Control>),
    Proxy(Proxy),
    RootCoord(RootCoord),
    QueryCoord(Box<QueryCoord>),
    QueryNode(QueryNode),
    DataCoord(Box<DataCoord>),
    DataNode(DataNode),
    IndexNode(IndexNode),
    Broker(Broker),
    Bookie(Bookie),
    Inserters(Box<Inserters>),
    Deleters(Box<Deleters>),
}

/// Whether a message addressed to a process was meant for an incarnation that died.
fn stale_gen(msg: &Msg, gen: u8) -> bool {
    match *msg {
        Msg::DelegatorSearchArrived { gen: g, .. }
        | Msg::WorkerSearchArrived { gen: g, .. }
        | Msg::WorkerSearched { gen: g, .. }
        | Msg::WorkerReplied { gen: g, .. }
        | Msg::DelegatorReduced { gen: g, .. }
        | Msg::LoadSegment { gen: g, .. }
        | Msg::SegmentDownloaded { gen: g, .. }
        | Msg::SegmentDeserialized { gen: g, .. }
        | Msg::ReleaseSegment { gen: g, .. }
        | Msg::DelegatorReleased { gen: g }
        | Msg::LoadIndex { gen: g, .. }
        | Msg::IndexDownloaded { gen: g, .. }
        | Msg::IndexDeserialized { gen: g, .. }
        | Msg::BuildIndex { gen: g, .. }
        | Msg::BuildDownloaded { gen: g, .. }
        | Msg::BuildComputed { gen: g, .. }
        | Msg::SyncSerialized { gen: g, .. }
        | Msg::SyncWritten { gen: g, .. }
        | Msg::CompactionRead { gen: g, .. }
        | Msg::CompactionMerged { gen: g, .. }
        | Msg::CompactionWritten { gen: g, .. }
        | Msg::EntryAdded { gen: g, .. }
        | Msg::EntryFailed { gen: g, .. }
        | Msg::BuildUploaded { gen: g, .. }
        | Msg::ProxyTickSample { gen: g }
        | Msg::ProxyTickReport { gen: g }
        | Msg::TickTsoAllocated { gen: g, .. } => g != gen,
        _ => false,
    }
}

/// Whether `actor` is a data node (in a standalone, the process that consumes the
/// channels).
fn is_data_node(actor: ActorId, w: &World) -> bool {
    w.tasks[w.task_of(actor)].kind == ServiceKind::Datanode
        || w.ingest.data_node_of_shard.contains(&actor)
}

/// A call reached a process that is not there: the caller's RPC fails after the
/// dial timeout (reference §1.2, §2.2). Anything that is not a call is lost.
pub(super) fn dead_letter(msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
    let at = ctx.now() + ctx.world.rpc_error_after();
    match msg {
        Msg::SearchArrived { req } => {
            ctx.world.searches[req as usize].error = Some(ERR_PROXY_UNREACHABLE);
            let clients = ctx.world.client_actor_of(req);
            ctx.send_at(clients, Msg::SearchReplied { req }, at);
        }
        Msg::TsoRequested { req, proxy, insert } => {
            ctx.send_at(proxy, Msg::TsoFailed { req, insert }, at)
        }
        Msg::InsertArrived { req } => {
            ctx.world.ingest.inserts[req as usize].error = Some(ERR_PROXY_UNREACHABLE);
            let to = ctx.world.ingest.replies_to(req);
            ctx.send_at(to, Msg::InsertReplied { req }, at);
        }
        Msg::SegmentsRequested { req, proxy } => {
            ctx.send_at(proxy, Msg::SegmentsAssigned { req, ok: false }, at)
        }
        // A worker's report to a coordinator that is down: the worker retries, and
        // a restarted datacoord gets the reports of flushes, merges and builds that
        // finished meanwhile.
        Msg::SegmentFlushed { .. } | Msg::CompactionDone { .. } | Msg::IndexBuilt { .. } => {
            let me = ctx.me();
            let from = Endpoint::Task(ctx.world.task_of(me));
            hold_back(ctx, from, me, CONTROL_RPC_BYTES, msg);
        }
        // The application's DDL call, or a step of one, at a coordinator that is
        // down: the call fails (see `ddl::lost`).
        Msg::DdlIndexApplied { .. } => {
            let now = ctx.now();
            super::ddl::lost(ctx.world, now, super::ddl::Lost::CreateIndex);
        }
        Msg::DdlLoadApplied { reload, .. } => {
            let now = ctx.now();
            let lost = if reload {
                super::ddl::Lost::Reload
            } else {
                super::ddl::Lost::Load
            };
            super::ddl::lost(ctx.world, now, lost);
        }
        Msg::DdlReleaseCalled | Msg::DdlReleaseApplied { .. } => {
            let now = ctx.now();
            if matches!(msg, Msg::DdlReleaseCalled) {
                ctx.world.ddl.release_called = Some(now);
            }
            super::ddl::lost(ctx.world, now, super::ddl::Lost::Release);
        }
        // A load() again due then goes to the querycoord that is down: it fails.
        Msg::DdlReleased { .. } | Msg::DdlReloadCalled => {
            let now = ctx.now();
            if matches!(msg, Msg::DdlReleased { .. }) {
                super::ddl::lost(ctx.world, now, super::ddl::Lost::ReleaseAnswer);
            } else {
                ctx.world.ddl.reload_called.get_or_insert(now);
            }
            if super::ddl::reload_step(&ctx.world.ddl) == super::ddl::ReloadStep::Go {
                ctx.world.ddl.reload_called.get_or_insert(now);
                super::ddl::lost(ctx.world, now, super::ddl::Lost::Reload);
            }
        }
        // create_collection() at a rootcoord that is down: the call fails, or its
        // answer is lost once the state is written.
        Msg::DdlCreateCalled => {
            let now = ctx.now();
            ctx.world.ddl.create_called = Some(now);
            super::rootcoord::create_failed(ctx.world, now, "rootcoord unavailable");
        }
        Msg::DdlCreateApplied { .. } => {
            let now = ctx.now();
            let why = "rootcoord went down before it wrote the state";
            super::rootcoord::create_failed(ctx.world, now, why);
        }
        Msg::DdlCreateReturned { .. } => {
            let now = ctx.now();
            let why = "rootcoord went down before it answered";
            super::rootcoord::create_failed(ctx.world, now, why);
        }
        // drop_collection() at a rootcoord that is down: the call fails, or its
        // answer is lost once the state is written.
        Msg::DdlDropCalled => {
            let now = ctx.now();
            ctx.world.ddl.drop_called = Some(now);
            super::rootcoord::drop_failed(ctx.world, now, "rootcoord unavailable");
        }
        Msg::DdlDropApplied { .. } => {
            let now = ctx.now();
            super::rootcoord::drop_failed(
                ctx.world,
                now,
                "rootcoord went down before it wrote the state",
            );
        }
        Msg::DdlDropReturned { .. } => {
            let now = ctx.now();
            super::rootcoord::drop_failed(
                ctx.world,
                now,
                "rootcoord went down before it answered; the collection is dropping",
            );
        }
        // A background step of a drop at a coordinator that is down is tried again
        // (see `ddl::DROP_STEP_RETRY`); a data node that is down has lost its buffers.
        Msg::DdlDropRelease
        | Msg::DdlDropIndex
        | Msg::DdlDropSegments
        | Msg::DdlDropMetaRemoved
            if ctx.now() < ctx.world.end =>
        {
            let me = ctx.me();
            ctx.send(me, msg, super::ddl::DROP_STEP_RETRY);
        }
        Msg::Dml { segment, rows } => {
            // A data node gone mid-delivery: the message stays in the subscription
            // for the channel's consumer (reference §2.3); a delegator's copy is lost
            // with it.
            let me = ctx.me();
            if is_data_node(me, ctx.world) {
                super::datanode::to_channel_consumer(segment, rows, ctx);
            }
        }
        Msg::DeleteDml { shard, rows } => {
            // As for rows: a data node gone mid-delivery leaves it in the subscription.
            let me = ctx.me();
            if is_data_node(me, ctx.world) {
                let now = ctx.now();
                ctx.world
                    .ingest
                    .deletes
                    .buffer(shard as usize, rows as u64, now);
            }
        }
        Msg::AddEntry {
            entry, broker, gen, ..
        } => {
            let me = ctx.me();
            let w = &*ctx.world;
            if let Some(bookie) = w.ingest.bookie_actors.iter().position(|&a| a == me) {
                let at = ctx.now() + super::pulsar::failed_add_delay(w.task_of(me), w);
                let actor = w.ingest.broker_actors[broker as usize];
                let failed = Msg::EntryFailed {
                    entry,
                    bookie: bookie as u16,
                    gen,
                };
                ctx.send_at(actor, failed, at);
            }
        }
        Msg::Produce { req, part, rows } => {
            // The message never reaches a broker: its segment's flush need not wait.
            ctx.world.ingest.produce_lost(req, part, rows);
            let proxy = ctx.world.ingest.inserts[req as usize].proxy;
            let failed = Msg::Produced { req, ok: false };
            ctx.send_at(proxy, failed, at);
        }
        Msg::ShardLeadersRequested { proxy } => {
            ctx.send_at(proxy, Msg::ShardLeadersFetched { ok: false }, at)
        }
        Msg::DelegatorSearchArrived { req, shard, .. } => {
            let proxy = ctx.world.searches[req as usize].proxy;
            ctx.send_at(
                proxy,
                Msg::ShardSearched {
                    req,
                    shard,
                    error: Some(Fail::NodeOffline),
                },
                at,
            );
        }
        Msg::WorkerSearchArrived {
            req,
            shard,
            delegator,
            dgen,
            ..
        } => ctx.send_at(
            delegator,
            Msg::WorkerReplied {
                req,
                shard,
                error: Some(Fail::NodeOffline),
                gen: dgen,
            },
            at,
        ),
        _ => {}
    }
}

impl Component {
    fn task(&self) -> Option<usize> {
        match self {
            Component::Proxy(p) => Some(p.task),
            Component::RootCoord(r) => Some(r.task),
            Component::QueryCoord(q) => Some(q.task),
            Component::QueryNode(q) => Some(q.task),
            Component::DataCoord(d) => Some(d.task),
            Component::DataNode(d) => Some(d.task),
            Component::IndexNode(i) => Some(i.task),
            Component::Broker(b) => Some(b.task),
            Component::Bookie(b) => Some(b.task),
            _ => None,
        }
    }

    /// The process dies or starts; memory goes and comes with it.
    fn lifecycle(&mut self, task: usize, start: bool, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let w = &mut *ctx.world;
        let (host, u) = (w.tasks[task].host, w.tasks[task].usage);
        if start {
            // A restarted process holds its own memory and nothing loaded yet.
            let base = w.tasks[task].base_bytes;
            w.hosts[host].memory.overcommit(base);
            let held = w.usage[u].memory_bytes + base;
            w.usage[u].set_memory(now, held);
        } else {
            let held = w.usage[u].memory_bytes;
            w.hosts[host].memory.free(held);
            w.usage[u].set_memory(now, 0);
            // Its threads stop with it: CPU work under way is dropped, not finished.
            let owner = w.usage[u].cpu_owner;
            let next = w.hosts[host].cpu.cancel_owner(now, owner);
            super::world::wake_cpu_at(ctx, host, next);
        }
        match (self, start) {
            (Component::Proxy(p), false) => p.on_crash(ctx),
            (Component::QueryNode(q), false) => q.on_crash(ctx),
            (Component::QueryCoord(q), false) => q.on_crash(ctx),
            (Component::DataNode(d), false) => d.on_crash(ctx.world),
            (Component::Bookie(b), false) => b.on_crash(ctx),
            (Component::Broker(b), false) => b.on_crash(ctx),
            (Component::QueryCoord(q), true) => q.on_start(ctx),
            (Component::Proxy(p), true) => p.start_ticker(ctx),
            (Component::RootCoord(r), true) => r.on_start(ctx),
            (Component::DataCoord(d), true) if ctx.world.ingest.writes() => d.on_start(ctx),
            (Component::DataNode(_), true) if ctx.world.ingest.writes() => {
                ctx.set_timer(super::datanode::SYNC_PERIOD_CHECK, Msg::SyncPeriodTick);
            }
            _ => {}
        }
    }
}

impl Actor for Component {
    type Msg = Msg;
    type World = World;

    fn on_message(&mut self, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        use Component as C;
        if let Some(task) = self.task() {
            match msg {
                Msg::Crash => return self.lifecycle(task, false, ctx),
                Msg::Start => return self.lifecycle(task, true, ctx),
                _ => {}
            }
            let t = &ctx.world.tasks[task];
            let refused = match (&*self, &msg) {
                (
                    C::RootCoord(r),
                    Msg::TsoRequested { .. }
                    | Msg::TickTsoRequested { .. }
                    | Msg::ChannelTimeTickReported { .. },
                ) => !r.serving,
                _ => false,
            };
            if !t.up || refused || stale_gen(&msg, t.gen) {
                return dead_letter(msg, ctx);
            }
        }
        match (self, msg) {
            (C::Hardware(h), Msg::CpuWake { host, at }) => h.on_cpu_wake(host, at, ctx),
            (C::Clients(c), Msg::ClientNext { client }) => c.on_next(client, ctx),
            (C::Clients(_), Msg::ClientCpuDone) => {}
            (C::Hardware(_), Msg::NginxCpuDone) => {}
            (C::Clients(c), Msg::SearchReplied { req }) => c.on_replied(req, ctx),
            (C::Clients(c), Msg::SearchTimeout { req, id }) => c.on_timeout(req, id, ctx),
            (C::Clients(c), Msg::ClientRetry { req, id }) => c.on_retry(req, id, ctx),
            (C::Control(c), Msg::FaultStarts { fault }) => c.on_fault_starts(fault as usize, ctx),
            (C::Control(c), Msg::FaultEnds { fault }) => c.on_fault_ends(fault as usize, ctx),
            (C::Control(c), Msg::TaskStarts { task }) => c.on_task_starts(task as usize, ctx),
            (C::Control(c), Msg::SwarmNodeDown { host }) => {
                c.on_swarm_node_down(host as usize, ctx)
            }
            (C::Control(c), Msg::SwarmHostUnheard { host, epoch }) => {
                c.on_swarm_host_unheard(host as usize, epoch, ctx)
            }
            (C::Control(c), Msg::TaskMoves { task, host }) => {
                c.on_task_moves(task as usize, host as usize, ctx)
            }
            (C::Control(c), Msg::SessionExpires { task, gen }) => {
                c.on_session_expires(task as usize, gen, ctx)
            }
            (C::Control(c), Msg::EtcdLeaderElected) => c.on_etcd_leader_elected(ctx),
            (C::Control(_), Msg::RetryHeldBack) => {
                for h in std::mem::take(&mut ctx.world.held_back) {
                    let to = Endpoint::Task(ctx.world.task_of(h.target));
                    send_net(ctx, h.from, to, h.bytes, h.target, h.msg);
                }
            }
            (C::Control(c), Msg::TaskHealthy { task }) => c.on_task_healthy(task as usize, ctx),
            (C::Control(c), Msg::EtcdLivenessExit { task, gen }) => {
                c.on_etcd_liveness_exit(task as usize, gen, ctx)
            }
            (
                C::Control(c),
                Msg::StopNow {
                    task,
                    graceful,
                    gen,
                },
            ) => c.on_stop_now(task as usize, graceful, gen, ctx),
            (C::Control(c), Msg::NodeDrained { node }) => c.on_node_drained(node as usize, ctx),
            (C::Control(c), Msg::LeaseLapses { task, gen, epoch }) => {
                c.on_lease_lapses(task as usize, gen, epoch, ctx)
            }
            (C::Control(c), Msg::SessionLostExit { task, gen }) => {
                c.on_session_lost_exit(task as usize, gen, ctx)
            }
            (C::QueryCoord(q), Msg::NodeReachable { node, gen }) => {
                q.on_node_reachable(node as usize, gen, ctx)
            }
            (C::QueryNode(q), Msg::LinksChanged) => q.on_links_changed(ctx),
            (C::QueryCoord(q), Msg::NodeStopping { node }) => {
                q.on_node_stopping(node as usize, ctx)
            }
            (C::Proxy(p), Msg::SearchArrived { req }) => p.on_search_arrived(req, ctx),
            (C::Proxy(p), Msg::ProxyPreExecuted { req }) => p.on_pre_executed(req, ctx),
            (C::Proxy(p), Msg::TsoAllocated { req, ts, insert }) => {
                if insert {
                    p.on_insert_tso(req, Some(ts), ctx)
                } else {
                    p.on_tso_allocated(req, ts, ctx)
                }
            }
            (C::Proxy(p), Msg::TsoFailed { req, insert }) => {
                if insert {
                    p.on_insert_tso(req, None, ctx)
                } else {
                    p.on_tso_failed(req, ctx)
                }
            }
            (C::Proxy(p), Msg::InsertArrived { req }) => p.on_insert_arrived(req, ctx),
            (C::Proxy(p), Msg::InsertPreExecuted { req }) => p.on_insert_pre_executed(req, ctx),
            (C::Proxy(p), Msg::SegmentsAssigned { req, ok }) => {
                p.on_segments_assigned(req, ok, ctx)
            }
            (C::Proxy(p), Msg::Produced { req, ok }) => p.on_produced(req, ok, ctx),
            (C::Inserters(i), Msg::InsertNext { client }) => i.on_next(client, ctx),
            (C::Inserters(i), Msg::InsertReplied { req }) => i.on_replied(req, ctx),
            (C::Deleters(d), Msg::DeleteNext) => d.on_next(ctx),
            (C::Deleters(d), Msg::InsertReplied { req }) => d.on_replied(req, ctx),
            (C::Broker(b), Msg::Produce { req, part, rows }) => b.on_produce(req, part, rows, ctx),
            (C::Broker(b), Msg::EntryAdded { entry, .. }) => b.on_entry_added(entry, ctx),
            (C::Broker(b), Msg::EntryFailed { entry, bookie, .. }) => {
                b.on_entry_failed(entry, bookie, ctx)
            }
            (
                C::Bookie(b),
                Msg::AddEntry {
                    entry,
                    bytes,
                    broker,
                    gen,
                },
            ) => b.on_add_entry(entry, bytes, (broker, gen), ctx),
            (C::Bookie(b), Msg::JournalSynced) => b.on_journal_synced(ctx),
            (C::DataNode(d), Msg::Dml { segment, rows }) => d.on_dml(segment, rows, ctx),
            (C::DataNode(d), Msg::TimeTickArrived { ts, shard }) => d.on_time_tick(ts, shard, ctx),
            (C::QueryNode(q), Msg::Dml { segment, rows }) => q.on_dml(segment, rows, ctx),
            (C::DataNode(d), Msg::DeleteDml { shard, rows }) => d.on_delete_dml(shard, rows, ctx),
            (C::QueryNode(q), Msg::DeleteDml { shard, rows }) => q.on_delete_dml(shard, rows, ctx),
            (C::QueryNode(_), Msg::DeletesApplied) => {}
            (C::DataNode(d), Msg::FlushSegment { segment }) => d.on_flush_segment(segment, ctx),
            (C::DataNode(d), Msg::ChannelWatch { shard }) => d.on_channel_watch(shard, ctx),
            (C::DataNode(d), Msg::SyncPeriodTick) => d.on_sync_period_tick(ctx),
            (C::DataNode(d), Msg::ChannelReplayed { shard }) => d.on_channel_replayed(shard, ctx),
            (C::DataNode(d), Msg::SyncSerialized { segment, bytes, .. }) => {
                d.on_sync_serialized(segment, bytes, ctx)
            }
            (C::DataNode(d), Msg::SyncWritten { segment, bytes, .. }) => {
                d.on_sync_written(segment, bytes, ctx)
            }
            (C::DataCoord(d), Msg::SegmentsRequested { req, proxy }) => {
                d.on_segments_requested(req, proxy, ctx)
            }
            (C::DataCoord(d), Msg::DataCoordTick) => d.on_tick(ctx),
            (C::DataCoord(d), Msg::IndexBuilderTick) => d.on_index_builder_tick(ctx),
            (C::DataCoord(d), Msg::DdlIndexApplied { gen }) => d.on_index_applied(gen, ctx),
            (C::DataCoord(d), Msg::SegmentFlushed { segment }) => {
                d.on_segment_flushed(segment, ctx)
            }
            (C::DataCoord(d), Msg::IndexBuilt { segment, node, gen }) => {
                d.on_index_built(segment, node as usize, gen, ctx)
            }
            (C::IndexNode(i), Msg::BuildIndex { segment, .. }) => i.on_build_index(segment, ctx),
            (C::IndexNode(i), Msg::BuildDownloaded { segment, .. }) => {
                i.on_build_downloaded(segment, ctx)
            }
            (C::IndexNode(i), Msg::BuildComputed { segment, .. }) => {
                i.on_build_computed(segment, ctx)
            }
            (C::IndexNode(i), Msg::BuildUploaded { segment, .. }) => {
                i.on_build_uploaded(segment, ctx)
            }
            (C::QueryCoord(q), Msg::TargetTick) => q.on_target_tick(ctx),
            (C::QueryCoord(q), Msg::IndexCheckerTick) => q.on_index_checker_tick(ctx),
            (
                C::QueryCoord(q),
                Msg::IndexLoaded {
                    node,
                    replica,
                    segment,
                    ..
                },
            ) => q.on_index_loaded(node as usize, replica as usize, segment as usize, ctx),
            (
                C::QueryNode(q),
                Msg::LoadIndex {
                    replica, segment, ..
                },
            ) => q.on_load_index(replica, segment, ctx),
            (
                C::QueryNode(q),
                Msg::IndexDownloaded {
                    replica, segment, ..
                },
            ) => q.on_index_downloaded(replica, segment, ctx),
            (
                C::QueryNode(q),
                Msg::IndexDeserialized {
                    replica, segment, ..
                },
            ) => q.on_index_deserialized(replica, segment, ctx),
            (C::DataCoord(d), Msg::CompactionTick) => d.on_compaction_tick(ctx),
            (C::DataCoord(d), Msg::GcTick) => super::storage::gc_tick(ctx, d.task),
            (C::DataCoord(d), Msg::CompactionDone { plan }) => d.on_compaction_done(plan, ctx),
            (C::DataNode(d), Msg::Compact { plan }) => d.on_compact(plan, ctx),
            (C::DataNode(d), Msg::CompactionRead { plan, .. }) => d.on_compaction_read(plan, ctx),
            (C::DataNode(d), Msg::CompactionMerged { plan, .. }) => {
                d.on_compaction_merged(plan, ctx)
            }
            (C::DataNode(d), Msg::CompactionWritten { plan, .. }) => {
                d.on_compaction_written(plan, ctx)
            }
            (C::Proxy(p), Msg::ShardLeadersFetched { ok }) => p.on_shard_leaders_fetched(ok, ctx),
            (C::Proxy(p), Msg::ShardSearched { req, shard, error }) => {
                p.on_shard_searched(req, shard, error, ctx)
            }
            (C::Proxy(p), Msg::ProxyReduced { req }) => p.on_reduced(req, ctx),
            (C::Proxy(_) | C::QueryNode(_) | C::DataNode(_), Msg::BesideDone) => {}
            (C::RootCoord(r), Msg::TsoRequested { req, proxy, insert }) => {
                r.on_tso_requested(req, proxy, insert, ctx)
            }
            (C::RootCoord(r), Msg::TimeTickDue) => r.on_time_tick_due(ctx),
            (C::RootCoord(r), Msg::TickTsoRequested { proxy }) => {
                r.on_tick_tso_requested(proxy, ctx)
            }
            (C::RootCoord(r), Msg::ChannelTimeTickReported { proxy, ts }) => {
                r.on_channel_time_tick(proxy as usize, ts, ctx)
            }
            (C::Proxy(p), Msg::ProxyTickSample { gen }) => p.on_tick_sample_due(gen, ctx),
            (C::Proxy(p), Msg::ProxyTickReport { gen }) => p.on_tick_report_due(gen, ctx),
            (C::Proxy(p), Msg::TickTsoAllocated { ts, .. }) => p.on_tick_tso(ts),
            (C::RootCoord(r), Msg::CoordinatorRecovered) => r.on_recovered(ctx),
            (C::RootCoord(r), Msg::DdlCreateCalled) => r.on_create_called(ctx),
            (C::RootCoord(r), Msg::DdlCreateApplied { gen }) => r.on_create_applied(gen, ctx),
            (C::RootCoord(r), Msg::DdlCreateReturned { gen }) => r.on_create_returned(gen, ctx),
            (C::DataNode(d), Msg::DdlCreateWatch) => d.on_create_watch(ctx),
            (C::RootCoord(r), Msg::DdlDropCalled) => r.on_drop_called(ctx),
            (C::RootCoord(r), Msg::DdlDropApplied { gen }) => r.on_drop_applied(gen, ctx),
            (C::RootCoord(r), Msg::DdlDropReturned { gen }) => r.on_drop_returned(gen, ctx),
            (C::RootCoord(r), Msg::DdlDropMetaRemoved) => r.on_drop_meta_removed(ctx),
            (C::QueryCoord(q), Msg::DdlDropRelease) => q.on_drop_release(ctx),
            (C::DataCoord(d), Msg::DdlDropIndex) => d.on_drop_index(ctx),
            (C::DataCoord(d), Msg::DdlDropSegments) => d.on_drop_segments(ctx),
            (C::DataNode(d), Msg::DdlDropChannels) => d.on_drop_channels(ctx),
            (C::QueryCoord(q), Msg::ShardLeadersRequested { proxy }) => {
                q.on_shard_leaders_requested(proxy, ctx)
            }
            (C::QueryCoord(q), Msg::ShardLeadersAnswered { proxy }) => {
                q.on_shard_leaders_answered(proxy, ctx)
            }
            (C::QueryCoord(q), Msg::NodeUnreachable { node, gen }) => {
                q.on_node_unreachable(node as usize, gen, ctx)
            }
            (C::QueryCoord(q), Msg::NodeOfflineMark { node, gen }) => {
                q.on_node_offline_mark(node as usize, gen, ctx)
            }
            (C::QueryCoord(q), Msg::NodeSessionGone { node, .. }) => {
                q.on_node_session_gone(node as usize, ctx)
            }
            (C::QueryCoord(q), Msg::NodeRegistered { node, .. }) => {
                q.on_node_registered(node as usize, ctx)
            }
            (C::QueryCoord(q), Msg::CheckerTick) => q.on_checker_tick(ctx),
            (
                C::QueryCoord(q),
                Msg::LoadReplicas {
                    replicas,
                    release_first,
                },
            ) => q.on_load_replicas(replicas as usize, release_first, ctx),
            (C::QueryCoord(q), Msg::LeaderObserverTick) => q.on_leader_observer_tick(ctx),
            (C::QueryCoord(q), Msg::DdlLoadApplied { reload, gen }) => {
                q.on_load_applied(reload, gen, ctx)
            }
            (C::QueryCoord(q), Msg::DdlReleaseCalled) => q.on_release_called(ctx),
            (C::QueryCoord(q), Msg::DdlReleaseApplied { gen }) => q.on_release_applied(gen, ctx),
            (C::QueryCoord(q), Msg::DdlReleased { gen }) => q.on_released(gen, ctx),
            (C::QueryCoord(q), Msg::DdlReloadCalled) => q.on_reload_called(ctx),
            (C::QueryCoord(q), Msg::BalanceTick) => q.on_balance_tick(ctx),
            (C::QueryCoord(q), Msg::HealthTick) => q.on_health_tick(ctx),
            (C::QueryCoord(q), Msg::CoordinatorRecovered) => q.on_recovered(ctx),
            (
                C::QueryCoord(q),
                Msg::SegmentLoaded {
                    node,
                    replica,
                    segment,
                    gen,
                    ok,
                },
            ) => q.on_segment_loaded(
                node as usize,
                replica as usize,
                segment as usize,
                gen,
                ok,
                ctx,
            ),
            (
                C::QueryCoord(q),
                Msg::ChannelRecovered {
                    replica,
                    shard,
                    node,
                    gen,
                },
            ) => q.on_channel_recovered(replica as usize, shard as usize, node as usize, gen, ctx),
            (
                C::QueryNode(q),
                Msg::DelegatorSearchArrived {
                    req,
                    shard,
                    replica,
                    ..
                },
            ) => q.on_delegator_search(req, shard, replica, ctx),
            (C::QueryNode(q), Msg::TimeTickArrived { ts, shard }) => q.on_time_tick(ts, shard, ctx),
            (C::Broker(b), Msg::TickProduce { shard, ts }) => b.on_tick_produce(shard, ts, ctx),
            (
                C::QueryNode(q),
                Msg::WorkerSearchArrived {
                    req,
                    shard,
                    replica,
                    delegator,
                    dgen,
                    ..
                },
            ) => q.on_worker_search(req, shard, replica, delegator, dgen, ctx),
            (
                C::QueryNode(q),
                Msg::WorkerSearched {
                    req,
                    shard,
                    replica,
                    delegator,
                    dgen,
                    ..
                },
            ) => q.on_worker_searched(req, shard, replica, delegator, dgen, ctx),
            (
                C::QueryNode(q),
                Msg::WorkerReplied {
                    req, shard, error, ..
                },
            ) => q.on_worker_replied(req, shard, error, ctx),
            (C::QueryNode(q), Msg::DelegatorReduced { req, shard, .. }) => {
                q.on_delegator_reduced(req, shard, ctx)
            }
            (
                C::QueryNode(q),
                Msg::LoadSegment {
                    replica, segment, ..
                },
            ) => q.on_load_segment(replica, segment, ctx),
            (
                C::QueryNode(q),
                Msg::SegmentDownloaded {
                    replica, segment, ..
                },
            ) => q.on_segment_downloaded(replica, segment, ctx),
            (
                C::QueryNode(q),
                Msg::SegmentDeserialized {
                    replica, segment, ..
                },
            ) => {
                let guard = ctx.world.load_guard;
                q.on_segment_deserialized(replica, segment, guard, ctx)
            }
            (
                C::QueryNode(q),
                Msg::ReleaseSegment {
                    segment, replica, ..
                },
            ) => q.on_release_segment(replica, segment, ctx),
            (C::QueryNode(q), Msg::DelegatorReleased { .. }) => q.on_delegator_released(ctx),
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
            cpu: PsCpu::shared(
                spec.cores,
                spec.background_cores,
                services_on_host[h].len().max(1),
            ),
            memory: Memory::new(spec.memory_bytes),
            cost: HostCost::for_host(spec, &exp.profile.profile),
            endpoint: ep,
            disk_read: BandwidthServer::new(spec.disk.read_bytes_per_s),
            disk_write: BandwidthServer::new(spec.disk.write_bytes_per_s),
            up: true,
            disk_full: false,
            fsync_slowdown: 1.0,
            overcommitted: false,
            swarm_down: false,
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
            let cpu_owner = services_on_host[t.host]
                .iter()
                .position(|s| s == &svc.name)
                .expect("listed");
            usage.push(Usage::new(
                t.host,
                svc.name.clone(),
                // MinIO and its nginx are no actors, but their disks and NICs carry
                // the storage traffic: their rows belong in timeseries.parquet.
                svc.kind.carries_traffic(),
                cpu_owner,
            ));
            usage.len() - 1
        });
        tasks.push(TaskRt {
            name: t.name.clone(),
            service: svc.name.clone(),
            kind: svc.kind,
            host: t.host,
            usage: u,
            up: true,
            gen: 0,
            down_at: None,
            stale_session: false,
            // A standalone's roles share one process: its query node holds the base
            // (see the layout), the others nothing more.
            base_bytes: if svc.process.is_some() && svc.kind != ServiceKind::Querynode {
                0
            } else {
                PROCESS_BASE_BYTES
            },
            in_service: true,
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
        session: w.session,
        graceful_ts: ts_offset(SimDuration::from_millis(
            exp.milvus.get("common.gracefulTime") as u64,
        )),
    };
    let mut world = World::new(
        hosts,
        net,
        client_ep,
        tasks,
        usage,
        layout,
        params,
        end,
        c.index.clone(),
        w.search.clone(),
        exp.failover.clone(),
    );
    world.query = w.query.as_ref().map(|q| QueryParams {
        ids: q.ids,
        // The int64 key, and the vector when it is an output field.
        out_row_bytes: if q.output_vector { c.row_bytes } else { 8 },
    });
    world.cgo_ratio = exp.milvus.get("queryNode.segcore.cgoPoolSizeRatio");
    world.knowhere_ratio = if exp.milvus.get("queryNode.enableDisk") != 0.0 {
        exp.milvus
            .get("queryNode.segcore.knowhereThreadPoolNumRatio")
            .clamp(1.0, 32.0)
    } else {
        1.0
    };
    world.layout_global_factor = exp.milvus.get("queryCoord.globalRowCountFactor");
    world.load_guard = exp
        .milvus
        .get("queryCoord.overloadedMemoryThresholdPercentage")
        / 100.0;
    world.minio_tasks = (0..placement.tasks.len())
        .filter(|&i| topo.services[placement.tasks[i].service].kind == ServiceKind::Minio)
        .collect();
    // reference §1.10, §2.6: the users' nginx balances MinIO only (the Milvus
    // proxies are published directly), so an nginx service is MinIO's front.
    world.nginx_tasks = (0..placement.tasks.len())
        .filter(|&i| topo.services[placement.tasks[i].service].kind == ServiceKind::Nginx)
        .collect();
    world.next_nginx = vec![0; world.hosts.len()];
    // `worker_processes auto`: one worker per core of the task's host.
    let workers: Vec<u32> = world
        .nginx_tasks
        .iter()
        .map(|&t| {
            exp.nginx
                .worker_processes
                .unwrap_or(world.hosts[world.tasks[t].host].spec.cores)
        })
        .collect();
    world.upstream =
        super::nginx::Upstream::new(exp.nginx.clone(), world.minio_tasks.len(), &workers);
    world.local_storage = topo.standalone().is_some();
    {
        // Object storage: its drives' space, erasure coding, and what the loaded
        // collection's binlogs and index files take from the start.
        let m = &exp.milvus;
        let st = &mut world.storage;
        let mut hosts: Vec<usize> = world
            .minio_tasks
            .iter()
            .map(|&t| world.tasks[t].host)
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        st.capacity_bytes = hosts
            .iter()
            .map(|&h| world.hosts[h].spec.disk.size_bytes)
            .sum();
        let drives = if world.local_storage {
            world.minio_tasks.len()
        } else {
            world.minio_tasks.len() * super::ingest::MINIO_DRIVES_PER_SERVER
        };
        let data = drives - super::ingest::minio_parity(drives);
        st.expansion = if data == 0 {
            1.0
        } else {
            drives as f64 / data as f64
        };
        st.gc_enabled = m.get("dataCoord.enableGarbageCollection") != 0.0;
        st.gc_interval = SimDuration::from_secs_f64(m.get("dataCoord.gc.interval"));
        st.drop_tolerance = SimDuration::from_secs_f64(m.get("dataCoord.gc.dropTolerance"));
        let bytes: u64 = world
            .layout
            .segments
            .iter()
            .map(|s| s.rows * c.row_bytes + crate::hw::cost::index_bytes(&c.index, s.rows))
            .sum();
        st.at_start_bytes = bytes;
        st.add(bytes);
    }
    world.faults = vec![Default::default(); exp.faults.len()];
    world.etcd_tasks = (0..placement.tasks.len())
        .filter(|&i| topo.services[placement.tasks[i].service].kind == ServiceKind::Etcd)
        .collect();
    world.etcd_leader = world.etcd_tasks.first().copied();

    // The application's create_index() and load(); a collection loaded later has no
    // delegators and no shard leaders until then.
    world.ddl.spec = exp.workload.ddl;
    world.ddl.replicas = world.layout.replicas.len();
    if !exp.workload.ddl.loaded_at_start() {
        for r in 0..world.dist.leader.len() {
            world.dist.leader[r].iter_mut().for_each(|l| *l = None);
        }
        world.shard_view.iter_mut().for_each(|v| *v = None);
    }

    // A cold start: nothing runs and nothing is loaded yet (reference §6.4).
    if exp.cold_start {
        for t in world.tasks.iter_mut() {
            t.up = false;
        }
        for r in 0..world.dist.holder.len() {
            world.dist.holder[r].iter_mut().for_each(|h| *h = None);
            world.dist.leader[r].iter_mut().for_each(|l| *l = None);
        }
        world.shard_view.iter_mut().for_each(|v| *v = None);
        world.etcd_lost_at = Some(SimTime::ZERO);
        world.etcd_leader = None;
    }

    // Hosts powered on later (scale-out) and their tasks are off at the start, and so
    // are the tasks a scale_service adds.
    for h in exp.hosts_off_at_start() {
        world.hosts[h].up = false;
    }
    for t in exp.tasks_off_at_start() {
        world.tasks[t].up = false;
    }
    for t in exp.tasks_added_by_scaling() {
        world.tasks[t].in_service = false;
    }

    // Memory: each simulated Milvus process, plus what each query node loaded.
    for (i, t) in placement.tasks.iter().enumerate() {
        let kind = topo.services[t.service].kind;
        if !kind.simulated() || !world.tasks[i].up {
            continue;
        }
        let bytes = match world.layout.query_nodes.iter().position(|&q| q == i) {
            Some(n) => world.layout.node_memory_bytes[n],
            None => world.tasks[i].base_bytes,
        };
        // The layout's load guard keeps query nodes under 90 % of memory; a host
        // too small for its processes' own memory is over-committed from the start
        // (its peak memory in the summary shows it).
        world.hosts[t.host].memory.overcommit(bytes);
        let u = world.tasks[i].usage;
        let held = world.usage[u].memory_bytes + bytes;
        world.usage[u].set_memory(SimTime::ZERO, held);
    }

    // Room for the replicas a later load_replicas loads.
    let replicas = exp.replicas_max() as usize;
    world.add_unloaded_replicas(replicas - c.replicas as usize);

    // Per sub-request CPU demand, from the cost model of the worker's host.
    let nodes = world.layout.query_nodes.len();
    let slots = replicas * c.shards as usize;
    world.sub_cost = vec![SubCost::default(); slots * nodes];
    world.workers = vec![Vec::new(); slots];
    for r in 0..replicas {
        world.refresh_routing(r);
    }

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
    let control_actor = ActorId(2 + simulated.len() as u32);
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
    world.task_of_actor = vec![usize::MAX; 5 + simulated.len()];
    for (&t, a) in &actor_of_task {
        world.task_of_actor[a.index()] = t;
    }
    world.hardware = ActorId(0);
    world.rootcoord = rootcoord;
    world.querycoord = querycoord;
    world.clients = clients_actor;
    world.control = control_actor;

    // The write path (reference §3.3).
    let tasks_of = |kind: ServiceKind| -> Vec<usize> {
        simulated
            .iter()
            .copied()
            .filter(|&i| topo.services[placement.tasks[i].service].kind == kind)
            .collect()
    };
    let (data_nodes, index_nodes, brokers, bookies) = (
        tasks_of(ServiceKind::Datanode),
        tasks_of(ServiceKind::Indexnode),
        tasks_of(ServiceKind::Broker),
        tasks_of(ServiceKind::Bookie),
    );
    let inserters_actor = ActorId(3 + simulated.len() as u32);
    {
        let m = &exp.milvus;
        let ing = &mut world.ingest;
        // reference §1.13: max rows = maxSize / estimated row size (the system fields
        // counted); sealed from sealProportion x max rows (§1.5).
        let max_rows = exp.segment_max_rows();
        ing.row_bytes = c.row_bytes;
        ing.max_rows = max_rows;
        ing.id_base = world.layout.segments.len() as u64;
        ing.seal_rows =
            ((max_rows as f64 * m.get("dataCoord.segment.sealProportion")) as u64).max(1);
        ing.max_message_bytes = m.get("pulsar.maxMessageSize") as u64;
        ing.log = match topo.standalone() {
            Some(_) => super::pulsar::ROCKSMQ,
            None => super::pulsar::PULSAR,
        };
        // An upsert's rows are written and its keys deleted like the inserts' and
        // the deletes'.
        let upsert_rows = w.upsert.as_ref().map_or(0, |u| u.rows);
        ing.target_rows = w.insert.as_ref().map_or(0, |i| i.rows) + upsert_rows;
        ing.upserts.target_rows = upsert_rows;
        // reference §1.9: autoIndex builds HNSW with efConstruction 240.
        ing.ef_construction = c.ef_construction.unwrap_or(240);
        let nlist = m.get("queryNode.segcore.growing.nlist") as u32;
        ing.interim = (m.get("queryNode.segcore.growing.enableIndex") != 0.0).then(|| {
            (
                interim_index_rows(max_rows, nlist as u64),
                nlist,
                m.get("queryNode.segcore.growing.nprobe") as u32,
            )
        });
        ing.growing_rows = vec![vec![0; c.shards as usize]; exp.replicas_max() as usize];
        ing.growing_holder = vec![vec![None; c.shards as usize]; exp.replicas_max() as usize];
        ing.backlog = vec![Vec::new(); c.shards as usize];
        ing.consumed_ts = vec![0; c.shards as usize];
        ing.target_interval =
            SimDuration::from_secs_f64(m.get("queryCoord.updateNextTargetInterval"));
        ing.broker_tasks = brokers.clone();
        ing.broker_actors = brokers.iter().map(|t| actor_of_task[t]).collect();
        ing.bookie_tasks = bookies.clone();
        ing.bookie_actors = bookies.iter().map(|t| actor_of_task[t]).collect();
        // GUESS: datacoord's channel manager spreads the DML channels evenly over the
        // data nodes, in order.
        ing.data_node_of_shard = (0..c.shards as usize)
            .filter(|_| !data_nodes.is_empty())
            .map(|s| actor_of_task[&data_nodes[s % data_nodes.len()]])
            .collect();
        ing.datacoord = simulated
            .iter()
            .find(|&&i| topo.services[placement.tasks[i].service].kind == ServiceKind::Datacoord)
            .map(|i| actor_of_task[i])
            .unwrap_or(ActorId(0));
        ing.inserters = inserters_actor;
        let shards = c.shards as usize;
        let d = &mut ing.deletes;
        d.order = w.delete.as_ref().map(|d| d.order);
        d.by = w.delete.as_ref().map(|d| d.by);
        d.target_rows = w.delete.as_ref().map_or(0, |d| d.rows) + upsert_rows;
        d.buffered = vec![0; shards];
        d.buffered_since = vec![None; shards];
        d.compact_ratio = m.get("dataCoord.compaction.single.ratio.threshold");
        d.compact_bytes = m.get("dataCoord.compaction.single.deltalog.maxsize") as u64;
        d.compact_files = m.get("dataCoord.compaction.single.deltalog.maxnum") as u32;
        d.buffer_limit_bytes = m.get("dataNode.segment.deleteBufBytes") as u64;
        if w.delete.is_some() || w.upsert.is_some() {
            register_preloaded(&mut world);
        }
    }

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
                // A warm start: the proxies' tickers run from time zero, and
                // rootcoord's loop falls `tick_phase` after their reports.
                let align = (!exp.cold_start)
                    .then(|| super::proxy::first_tick_report(tick) + exp.tick_phase);
                Component::RootCoord(RootCoord::new(
                    i,
                    tick,
                    !exp.cold_start,
                    align,
                    exp.stale_ticks,
                ))
            }
            ServiceKind::Querycoord => {
                let l = &sim.world().layout;
                let mut members: Vec<Vec<usize>> =
                    l.replicas.iter().map(|r| r.nodes.clone()).collect();
                members.resize(exp.replicas_max() as usize, Vec::new());
                Component::QueryCoord(Box::new(QueryCoord::new(
                    i,
                    exp.milvus
                        .get("queryCoord.overloadedMemoryThresholdPercentage")
                        / 100.0,
                    members,
                    if exp.workload.ddl.loaded_at_start() {
                        l.replicas.len()
                    } else {
                        0
                    },
                    l.query_nodes.len(),
                )))
            }
            ServiceKind::Querynode => {
                let n = sim
                    .world()
                    .layout
                    .query_nodes
                    .iter()
                    .position(|&q| q == i)
                    .expect("a query node");
                let cores = topo.hosts[t.host].cores as f64;
                let mut qn = QueryNode::new(
                    i,
                    n,
                    (cores * exp.milvus.get("queryNode.scheduler.maxReadConcurrentRatio")).round()
                        as u32,
                    exp.milvus
                        .get("queryNode.scheduler.scheduleReadPolicy.maxPendingTask")
                        as usize,
                );
                let l = &sim.world().layout;
                for (r, rep) in l.replicas.iter().enumerate().filter(|_| !exp.cold_start) {
                    for (k, seg) in l.segments.iter().enumerate() {
                        if rep.holder[k] == n {
                            qn.preload(r as u8, k as u32, seg.memory_bytes);
                        }
                    }
                }
                Component::QueryNode(qn)
            }
            ServiceKind::Proxy => {
                let index = proxies.len() as u32;
                proxies.push((actor_of_task[&i], i));
                let p = Proxy::new(
                    i,
                    index,
                    rootcoord,
                    querycoord,
                    exp.milvus.get("proxy.maxTaskNum") as u32,
                    SimDuration::from_secs_f64(exp.milvus.get("proxy.shardLeaderCacheInterval")),
                    exp.replicas_max() as usize,
                    c.shards as usize,
                    tick,
                );
                Component::Proxy(p)
            }
            ServiceKind::Datacoord => {
                let m = &exp.milvus;
                let ms = |k: &str| SimDuration::from_millis(m.get(k) as u64);
                let cfg = DataCoordConfig {
                    assignment_expiration: ms("dataCoord.segment.assignmentExpiration"),
                    max_idle: SimDuration::from_secs_f64(m.get("dataCoord.segment.maxIdleTime")),
                    idle_min_bytes: (m.get("dataCoord.segment.minSizeFromIdleToSealed")
                        * 1024.0
                        * 1024.0) as u64,
                    tick: ms("datanode.timetick.interval"),
                    builder_interval: ms("indexCoord.scheduler.interval"),
                    min_index_rows: m.get("indexCoord.segment.minSegmentNumRowsToEnableIndex")
                        as u64,
                    builds_per_node: m.get("indexNode.scheduler.buildParallel") as u32,
                    compaction: m.get("dataCoord.compaction.enableAutoCompaction") != 0.0,
                    compaction_interval: SimDuration::from_secs_f64(
                        m.get("dataCoord.compaction.global.interval"),
                    ),
                    max_rows: sim.world().ingest.max_rows,
                };
                let nodes = index_nodes.iter().map(|t| (actor_of_task[t], *t)).collect();
                let dns = data_nodes.iter().map(|t| actor_of_task[t]).collect();
                Component::DataCoord(Box::new(DataCoord::new(
                    i,
                    cfg,
                    c.shards as usize,
                    nodes,
                    dns,
                )))
            }
            ServiceKind::Datanode => {
                let k = data_nodes.iter().position(|&t| t == i).expect("listed");
                let watching = (0..c.shards as u8)
                    .filter(|s| *s as usize % data_nodes.len() == k)
                    .collect();
                let mut d = DataNode::new(
                    i,
                    exp.milvus.get("dataNode.segment.insertBufSize") as u64,
                    exp.milvus.get("dataNode.dataSync.maxParallelSyncTaskNum") as u32,
                    watching,
                    SimDuration::from_secs_f64(exp.milvus.get("dataNode.segment.syncPeriod")),
                );
                // A standalone uses watermarkStandalone instead (not in the reference;
                // not modelled).
                let force = exp.milvus.get("dataNode.memory.forceSyncEnable") != 0.0
                    && topo.standalone().is_none();
                d.force_sync_watermark =
                    force.then(|| exp.milvus.get("dataNode.memory.watermarkCluster"));
                Component::DataNode(d)
            }
            ServiceKind::Indexnode => {
                let k = index_nodes.iter().position(|&t| t == i).expect("listed");
                Component::IndexNode(IndexNode::new(i, k as u16))
            }
            ServiceKind::Broker => {
                let k = brokers.iter().position(|&t| t == i).expect("listed");
                Component::Broker(Broker::new(i, k as u16))
            }
            ServiceKind::Bookie => Component::Bookie(Bookie::new(i)),
            other => unreachable!("{} is not simulated", other.name()),
        };
        let id = sim.add_actor(t.name.clone(), component);
        debug_assert_eq!(id, actor_of_task[&i]);
    }
    sim.world_mut().rec.proxies = proxies
        .iter()
        .map(|&(_, t)| placement.tasks[t].name.clone())
        .collect();
    // Clients on a host of the topology use its CPU, as one more process there.
    let client_cpu = w
        .client_cpu
        .map(|c| (c, sim.world_mut().hosts[c.host].cpu.add_owner()));
    // Searching clients, and querying ones when the workload has queries: the same
    // proxies, deadline, retry policy and host.
    let make_clients = |kind: ReqKind, arrivals: &crate::scenario::experiment::Arrivals| {
        let c = Clients::new(
            kind,
            arrivals.clone(),
            w.proxy_selection,
            proxies.clone(),
            exp.failover.client_reconnect,
            w.timeout,
            w.retry,
        );
        match client_cpu {
            Some((cc, owner)) => c.on_host(cc.host, owner, cc.per_request),
            None => c,
        }
    };
    let clients = make_clients(ReqKind::Search, &w.arrivals);
    let starts = clients.start_messages();
    let id = sim.add_actor("clients", Component::Clients(clients));
    assert_eq!(id, clients_actor, "actor ids were planned in this order");
    for m in starts {
        sim.schedule(SimTime::ZERO, id, m);
    }

    let mut actor_of = vec![None; placement.tasks.len()];
    for (&t, &a) in &actor_of_task {
        actor_of[t] = Some(a);
    }
    let control = Control::new(
        exp.faults.clone(),
        topo.clone(),
        placement.clone(),
        actor_of,
        exp.cold_start,
    );
    let mut schedule = control.schedule();
    if exp.cold_start {
        schedule.extend(cold_start_schedule(exp));
    }
    let id = sim.add_actor("faults", Component::Control(Box::new(control)));
    assert_eq!(id, control_actor, "actor ids were planned in this order");
    for (at, m) in schedule {
        sim.schedule(at, id, m);
    }

    if let Some(spec) = &w.insert {
        let inserters = Inserters::new(WriteKind::Insert, spec.clone(), proxies.clone());
        let starts = inserters.start_messages();
        let id = sim.add_actor("inserters", Component::Inserters(Box::new(inserters)));
        assert_eq!(id, inserters_actor, "actor ids were planned in this order");
        for (at, m) in starts {
            sim.schedule(at, id, m);
        }
    }
    if let Some(spec) = &w.delete {
        let deleters = Deleters::new(spec.clone(), proxies.clone());
        let at = deleters.start_at();
        let id = sim.add_actor("deleters", Component::Deleters(Box::new(deleters)));
        sim.world_mut().ingest.deletes.clients = id;
        sim.schedule(at, id, Msg::DeleteNext);
    }
    if let Some(spec) = &w.upsert {
        let upserters = Inserters::new(WriteKind::Upsert, spec.clone(), proxies.clone());
        let starts = upserters.start_messages();
        let id = sim.add_actor("upserters", Component::Inserters(Box::new(upserters)));
        sim.world_mut().ingest.upserts.clients = id;
        for (at, m) in starts {
            sim.schedule(at, id, m);
        }
    }
    if sim.world().ingest.writes() {
        let datacoord = sim.world().ingest.datacoord;
        let m = &exp.milvus;
        let ms = |k: &str| SimDuration::from_millis(m.get(k) as u64);
        sim.schedule(
            SimTime::ZERO + ms("datanode.timetick.interval"),
            datacoord,
            Msg::DataCoordTick,
        );
        sim.schedule(
            SimTime::ZERO + ms("indexCoord.scheduler.interval"),
            datacoord,
            Msg::IndexBuilderTick,
        );
        for t in &data_nodes {
            sim.schedule(
                SimTime::ZERO + super::datanode::SYNC_PERIOD_CHECK,
                actor_of_task[t],
                Msg::SyncPeriodTick,
            );
        }
        if sim.world().storage.gc_enabled {
            let every = sim.world().storage.gc_interval;
            sim.world_mut().storage.gc_due = SimTime::ZERO + every;
            sim.schedule(SimTime::ZERO + every, datacoord, Msg::GcTick);
        }
        if m.get("dataCoord.compaction.enableAutoCompaction") != 0.0 {
            let every = SimDuration::from_secs_f64(m.get("dataCoord.compaction.global.interval"));
            sim.schedule(SimTime::ZERO + every, datacoord, Msg::CompactionTick);
        }
        let every = sim.world().ingest.target_interval;
        sim.schedule(SimTime::ZERO + every, querycoord, Msg::TargetTick);
        sim.schedule(
            SimTime::ZERO + super::querycoord::INDEX_CHECK_INTERVAL,
            querycoord,
            Msg::IndexCheckerTick,
        );
    }

    if let Some(q) = &w.query {
        let clients = make_clients(ReqKind::Query, &q.arrivals);
        let starts = clients.start_messages();
        let id = sim.add_actor("query-clients", Component::Clients(clients));
        sim.world_mut().query_clients = id;
        for m in starts {
            sim.schedule(SimTime::ZERO, id, m);
        }
    }

    // The application's release() and load() again, at their times.
    if let Some(t) = w.ddl.release {
        sim.schedule(SimTime::ZERO + t, querycoord, Msg::DdlReleaseCalled);
    }
    if let Some(crate::scenario::experiment::ReloadWhen::At(t)) = w.ddl.reload {
        sim.schedule(SimTime::ZERO + t, querycoord, Msg::DdlReloadCalled);
    }
    if let Some(t) = w.ddl.create {
        let rootcoord = sim.world().rootcoord;
        sim.schedule(SimTime::ZERO + t, rootcoord, Msg::DdlCreateCalled);
    }
    if let Some(t) = w.ddl.drop {
        let rootcoord = sim.world().rootcoord;
        sim.schedule(SimTime::ZERO + t, rootcoord, Msg::DdlDropCalled);
        // Garbage collection removes the dropped collection's files even when the
        // workload does not write.
        if sim.world().storage.gc_enabled && !sim.world().ingest.writes() {
            let every = sim.world().storage.gc_interval;
            let datacoord = sim.world().ingest.datacoord;
            sim.world_mut().storage.gc_due = SimTime::ZERO + every;
            sim.schedule(SimTime::ZERO + every, datacoord, Msg::GcTick);
        }
    }
    sim.schedule(SimTime::ZERO, rootcoord, Msg::TimeTickDue);
    if !exp.cold_start {
        // The proxies run from time zero, and so do their tickers (a cold start
        // starts them with their processes).
        for &(actor, _) in &proxies {
            for (after, m) in super::proxy::ticker_loops(tick, 0) {
                sim.schedule(SimTime::ZERO + after, actor, m);
            }
        }
    }
    let f = &exp.failover;
    for (every, m) in [
        (f.checker_interval, Msg::CheckerTick),
        (f.leader_observer_interval, Msg::LeaderObserverTick),
        (f.balance_interval, Msg::BalanceTick),
        (f.health_check_interval, Msg::HealthTick),
    ] {
        sim.schedule(SimTime::ZERO + every, querycoord, m);
    }
    sim
}

/// A cold start: each task starts when its service serves in the start order of
/// reference §6.4 (each stack waits until what it needs is healthy), and reports
/// healthy at its first passing health probe (reference §2.10).
fn cold_start_schedule(exp: &Experiment) -> Vec<(SimTime, Msg)> {
    use crate::swarm::start_order::{cold_start, start_order, StartupKnobs};
    let topo = &exp.topology;
    let order = start_order(topo).expect("validation checked the start order of a cold start");
    let plan = cold_start(topo, &order, &StartupKnobs::default());
    let mut out = Vec::new();
    for s in &plan.services {
        for (i, t) in exp.placement.tasks.iter().enumerate() {
            if t.service == s.service {
                out.push((
                    SimTime::ZERO + s.serving,
                    Msg::TaskStarts { task: i as u32 },
                ));
                out.push((
                    SimTime::ZERO + s.healthy,
                    Msg::TaskHealthy { task: i as u32 },
                ));
            }
        }
    }
    out
}

/// The state at time zero: where tasks run and what each query node loaded.
/// Deletes reach the segments loaded at the start too: they enter datacoord's
/// segment table as indexed and served, so that compaction can rewrite them
/// (reference §1.5). Ids of the segments the write path makes follow theirs.
fn register_preloaded(world: &mut World) {
    let ing = &mut world.ingest;
    ing.id_base = 0;
    for (i, seg) in world.layout.segments.iter().enumerate() {
        let k = ing.segments.len() as u32;
        let at = Some(SimTime::ZERO);
        ing.segments.push(super::ingest::SegRt {
            allocated: seg.rows,
            rows: seg.rows,
            sealed: at,
            flushed: at,
            indexed: at,
            loaded: at,
            layout: Some(i),
            binlog_bytes: seg.rows * ing.row_bytes,
            files_bytes: seg.rows * ing.row_bytes
                + crate::hw::cost::index_bytes(&world.index, seg.rows),
            preloaded: true,
            ..super::ingest::SegRt::new(
                seg.id,
                seg.shard,
                super::ingest::SegState::Indexed,
                SimTime::ZERO,
            )
        });
        ing.of_layout.insert(i, k);
    }
}

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
