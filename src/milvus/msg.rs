//! Messages between the actors of the cluster. Small and `Copy`: request state lives
//! in the world's request table, messages carry its index.

use crate::engine::{ActorId, SimTime};

/// Index of an in-flight request in `World::searches`.
pub type Req = u32;

/// Milvus hybrid timestamp: physical milliseconds << 18 | logical (reference §1.1).
pub type Ts = u64;

/// Why a shard search or a sub-search failed; one byte, so messages stay small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fail {
    /// reference §2.11: a call to a node of the shard failed (it is gone).
    NodeOffline,
    /// reference §2.11: the leader view lacks a segment of the shard.
    SegmentLacks,
    /// The node no longer leads the shard (its channel moved): the cache is stale.
    NotLeader,
    /// reference §1.8: the worker's read queue is full.
    ReadQueueFull,
}

impl Fail {
    /// The message a client sees, worded as Milvus 2.3 words it.
    pub fn text(self) -> &'static str {
        match self {
            Fail::NodeOffline => {
                "fail to search on all shard leaders: node unreachable (rpc error: code = Unavailable)"
            }
            Fail::SegmentLacks => "fail to search on all shard leaders: segment lacks",
            Fail::NotLeader => "fail to search on all shard leaders: channel not found on this node",
            Fail::ReadQueueFull => "query node read task queue is full",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Msg {
    /// A host CPU should check for finished tasks (scheduled for `at`).
    /// Network paths changed: downloads across a new cut fail.
    LinksChanged,
    /// querycoord's distribution pulls from the node succeed again (a cut healed).
    NodeReachable {
        node: u16,
        gen: u8,
    },
    /// The lease of a running process cut off from etcd runs out, unless it reached
    /// etcd again since (`epoch` counts its cuts from etcd).
    LeaseLapses {
        task: u32,
        gen: u8,
        epoch: u16,
    },
    /// A process whose session was deleted exits after its keep-alive retries.
    SessionLostExit {
        task: u32,
        gen: u8,
    },
    CpuWake {
        host: u32,
        at: SimTime,
    },

    /// The open-loop client's next arrival, or a closed-loop client's next request.
    ClientNext {
        client: u32,
    },
    SearchReplied {
        req: Req,
    },
    /// The client's deadline for search `req` (request id `id`) has passed.
    SearchTimeout {
        req: Req,
        id: u64,
    },
    /// The client's wait before sending failed search `req` (id `id`) again is over.
    ClientRetry {
        req: Req,
        id: u64,
    },

    SearchArrived {
        req: Req,
    },
    ProxyPreExecuted {
        req: Req,
    },
    /// `insert`: whether `req` indexes `World::ingest.inserts` (else `searches`).
    TsoAllocated {
        req: Req,
        ts: Ts,
        insert: bool,
    },
    /// The TSO call failed (rootcoord unreachable).
    TsoFailed {
        req: Req,
        insert: bool,
    },
    /// GetShardLeaders answered (`ok`) or failed (querycoord unreachable).
    ShardLeadersFetched {
        ok: bool,
    },
    /// A shard's result, or why it failed.
    ShardSearched {
        req: Req,
        shard: u8,
        error: Option<Fail>,
    },
    ProxyReduced {
        req: Req,
    },
    /// Work that runs beside a request or a flow graph is done: a stage's share of a
    /// search's server work, or a data node decoding a message of its channel or
    /// appending a pack of them to its insert buffers. Nothing waits for it.
    BesideDone,

    TsoRequested {
        req: Req,
        proxy: ActorId,
        insert: bool,
    },
    /// Rootcoord's own time-tick loop (its DDL session's report, and the stall check).
    TimeTickDue,
    /// A proxy's channels time ticker samples (every `proxy.timeTickInterval` / 2).
    ProxyTickSample {
        gen: u8,
    },
    /// A proxy reports its channels' time tick to rootcoord (every
    /// `proxy.timeTickInterval`).
    ProxyTickReport {
        gen: u8,
    },
    /// The ticker's timestamp call (AllocOne) to rootcoord.
    TickTsoRequested {
        proxy: ActorId,
    },
    TickTsoAllocated {
        ts: Ts,
        gen: u8,
    },
    /// Proxy -> rootcoord (UpdateChannelTimeTick): every channel of this proxy is
    /// complete below `ts`.
    ChannelTimeTickReported {
        proxy: u32,
        ts: Ts,
    },

    ShardLeadersRequested {
        proxy: ActorId,
    },
    ShardLeadersAnswered {
        proxy: ActorId,
    },

    /// `gen` fields name the incarnation of the process a message is meant for, so
    /// that a restarted process ignores what was addressed to the one that died.
    DelegatorSearchArrived {
        req: Req,
        shard: u8,
        replica: u8,
        gen: u8,
    },
    /// A time tick of DML channel `shard` reaches a delegator.
    TimeTickArrived {
        ts: Ts,
        shard: u8,
    },
    /// Rootcoord -> broker: write a time tick into channel `shard` (reference §1.1).
    TickProduce {
        shard: u8,
        ts: Ts,
    },
    WorkerSearchArrived {
        req: Req,
        shard: u8,
        replica: u8,
        delegator: ActorId,
        dgen: u8,
        gen: u8,
    },
    WorkerSearched {
        req: Req,
        shard: u8,
        replica: u8,
        delegator: ActorId,
        dgen: u8,
        gen: u8,
    },
    WorkerReplied {
        req: Req,
        shard: u8,
        error: Option<Fail>,
        gen: u8,
    },
    DelegatorReduced {
        req: Req,
        shard: u8,
        gen: u8,
    },

    /// Faults: the control actor applies fault `fault` or repairs it.
    FaultStarts {
        fault: u16,
    },
    FaultEnds {
        fault: u16,
    },
    /// To a task's actor: its process dies now / starts now.
    Crash,
    Start,
    /// A stopped task's process starts again (Swarm restart or host return).
    TaskStarts {
        task: u32,
    },
    /// Swarm declares a host down and decides about its tasks.
    SwarmNodeDown {
        host: u16,
    },
    /// The managers have not heard from a running host (network cut) since its cut
    /// number `epoch` began.
    SwarmHostUnheard {
        host: u16,
        epoch: u16,
    },
    /// A task passes its first health probe (cold start).
    TaskHealthy {
        task: u32,
    },
    /// The etcd members have elected a leader.
    EtcdLeaderElected,
    /// The control actor sends held-back write-path messages again.
    RetryHeldBack,
    /// The clients' own CPU work for a request is done (nothing follows from it).
    ClientCpuDone,
    /// An nginx worker's CPU work for a request is done (nothing follows from it).
    NginxCpuDone,
    /// reference §2.1 item 5: a process whose etcd keep-alives failed exits.
    EtcdLivenessExit {
        task: u32,
        gen: u8,
    },
    /// Stop a task now (after its stop grace period, or once drained).
    StopNow {
        task: u32,
        graceful: bool,
        /// The incarnation to stop (a later one is left alone).
        gen: u8,
    },
    /// Querycoord: a query node got SIGTERM and is Stopping; move everything away.
    NodeStopping {
        node: u16,
    },
    /// To the control actor: a stopping query node holds nothing any more.
    NodeDrained {
        node: u16,
    },
    /// A rescheduled task starts on another host.
    TaskMoves {
        task: u32,
        host: u16,
    },
    /// The etcd lease of a dead incarnation runs out (reference §2.1 item 1).
    SessionExpires {
        task: u32,
        gen: u8,
    },

    /// Query coordinator: failover and balance (reference §2.2, §1.7).
    NodeUnreachable {
        node: u16,
        gen: u8,
    },
    NodeOfflineMark {
        node: u16,
        gen: u8,
    },
    NodeSessionGone {
        node: u16,
        gen: u8,
    },
    NodeRegistered {
        node: u16,
        gen: u8,
    },
    CheckerTick,
    LeaderObserverTick,
    BalanceTick,
    HealthTick,
    CoordinatorRecovered,
    SegmentLoaded {
        node: u16,
        replica: u8,
        segment: u32,
        gen: u8,
        ok: bool,
    },
    ChannelRecovered {
        replica: u8,
        shard: u8,
        node: u16,
        gen: u8,
    },

    /// Querycoord: the application loads the collection with `replicas` replicas
    /// (after releasing it, with `release_first`).
    LoadReplicas {
        replicas: u8,
        release_first: bool,
    },
    /// Datacoord: the application's create_index() has crossed the control plane
    /// to its etcd write (see `ddl`), handled by datacoord's incarnation `gen`.
    DdlIndexApplied {
        gen: u8,
    },
    /// Querycoord: the application's load() (again, after a release, with
    /// `reload`) has crossed the control plane to its etcd writes, handled by
    /// querycoord's incarnation `gen`.
    DdlLoadApplied {
        reload: bool,
        gen: u8,
    },
    /// Querycoord: the application calls release(), it takes effect, it returns
    /// (the last two from querycoord's incarnation `gen`).
    DdlReleaseCalled,
    DdlReleaseApplied {
        gen: u8,
    },
    DdlReleased {
        gen: u8,
    },
    /// Querycoord: the application calls load() again after its release().
    DdlReloadCalled,
    /// Rootcoord: the application calls create_collection(); the collection's state
    /// "created" is in etcd; the call returns (the last two from rootcoord's
    /// incarnation `gen`; see `ddl::create_path`).
    DdlCreateCalled,
    DdlCreateApplied {
        gen: u8,
    },
    DdlCreateReturned {
        gen: u8,
    },
    /// Data node: datacoord's watch of the new collection's channels reached it.
    DdlCreateWatch,
    /// Rootcoord: the application calls drop_collection(); the collection's state
    /// "dropping" is in etcd; the call returns (the last two from rootcoord's
    /// incarnation `gen`); garbage collection confirmed, the collection's meta is
    /// removed (see `ddl::drop_path`).
    DdlDropCalled,
    DdlDropApplied {
        gen: u8,
    },
    DdlDropReturned {
        gen: u8,
    },
    DdlDropMetaRemoved,
    /// Querycoord: the drop's release step.
    DdlDropRelease,
    /// Datacoord: the drop's index step, then its segments marked dropped.
    DdlDropIndex,
    DdlDropSegments,
    /// Data node: the drop mark reached the channels it consumes.
    DdlDropChannels,
    /// Query node: load one segment from object storage.
    LoadSegment {
        replica: u8,
        segment: u32,
        gen: u8,
    },
    SegmentDownloaded {
        replica: u8,
        segment: u32,
        gen: u8,
    },
    SegmentDeserialized {
        replica: u8,
        segment: u32,
        gen: u8,
    },
    /// Query node: it no longer leads a shard it led (the collection was released
    /// or dropped, or the channel moved): requests parked on its delegator fail.
    DelegatorReleased {
        gen: u8,
    },
    /// Query node: drop a segment it no longer serves (after a balance move).
    ReleaseSegment {
        segment: u32,
        replica: u8,
        gen: u8,
    },

    /// The write path (reference §3.3). `req` indexes `World::ingest.inserts`,
    /// `segment` `World::ingest.segments`.
    /// An inserting client's next batch.
    InsertNext {
        client: u32,
    },
    InsertReplied {
        req: Req,
    },
    InsertArrived {
        req: Req,
    },
    InsertPreExecuted {
        req: Req,
    },
    /// Proxy -> datacoord: AssignSegmentID for the rows of `req`.
    SegmentsRequested {
        req: Req,
        proxy: ActorId,
    },
    SegmentsAssigned {
        req: Req,
        ok: bool,
    },
    /// Proxy -> broker: one message of at most pulsar.maxMessageSize.
    Produce {
        req: Req,
        part: u8,
        rows: u32,
    },
    /// Broker -> proxy: the message is persisted (ack quorum) or failed.
    Produced {
        req: Req,
        ok: bool,
    },
    /// Broker -> bookie: write entry `entry` of `bytes`; the bookie answers `broker`.
    /// Broker incarnation `gen` adds `entry` to a bookie; the bookie's answers name
    /// the incarnation, so a restarted broker ignores its predecessor's.
    AddEntry {
        entry: u32,
        bytes: u32,
        broker: u16,
        gen: u8,
    },
    EntryAdded {
        entry: u32,
        bookie: u16,
        gen: u8,
    },
    /// Broker: the add of `entry` to bookie `bookie` failed (the bookie is gone).
    EntryFailed {
        entry: u32,
        bookie: u16,
        gen: u8,
    },
    /// A bookie's journal group commit is on disk.
    JournalSynced,
    /// Broker -> consumers (data node, delegators): rows of `segment` in a shard.
    Dml {
        segment: u32,
        rows: u32,
    },
    /// Broker -> consumers: a delete message of `rows` primary keys in `shard`.
    DeleteDml {
        shard: u8,
        rows: u32,
    },
    /// Datacoord's garbage collector loop (reference §1.5 dataCoord.gc.interval).
    GcTick,
    /// The deleting clients' next batch.
    DeleteNext,
    /// A delegator finished checking a delete's keys (nothing follows).
    DeletesApplied,
    /// Datacoord's periodic work: seal and flush decisions, the index builder.
    DataCoordTick,
    IndexBuilderTick,
    /// Datacoord -> data node: flush `segment` (it is sealed, allocations expired).
    FlushSegment {
        segment: u32,
    },
    /// Data node: one binlog sync of `segment` is in object storage.
    SyncWritten {
        segment: u32,
        bytes: u64,
        gen: u8,
    },
    SyncSerialized {
        segment: u32,
        bytes: u64,
        gen: u8,
    },
    /// Data node -> datacoord.
    SegmentFlushed {
        segment: u32,
    },
    /// Datacoord -> data node: watch DML channel `shard` (a failed node's channel
    /// moves here, reference §2.3); the node replays it from the checkpoint.
    ChannelWatch {
        shard: u8,
    },
    ChannelReplayed {
        shard: u8,
    },
    /// A data node looks for buffers older than dataNode.segment.syncPeriod.
    SyncPeriodTick,
    /// Datacoord -> index node, and the build's own stages.
    BuildIndex {
        segment: u32,
        gen: u8,
    },
    BuildDownloaded {
        segment: u32,
        gen: u8,
    },
    BuildComputed {
        segment: u32,
        gen: u8,
    },
    BuildUploaded {
        segment: u32,
        gen: u8,
    },
    /// The build by incarnation `gen` of index node `node` is uploaded.
    IndexBuilt {
        segment: u32,
        node: u16,
        gen: u8,
    },
    /// Querycoord pulls the next target (flushed segments) from datacoord.
    TargetTick,
    /// Compaction (reference §1.5, §3.3 step 9): datacoord's global trigger, the data
    /// node's stages of merge plan `plan`, and its report.
    CompactionTick,
    /// reference §3.3 step 8: querycoord's index checker, and a query node loading the
    /// index of a segment it serves unindexed.
    IndexCheckerTick,
    LoadIndex {
        replica: u8,
        segment: u32,
        gen: u8,
    },
    IndexDownloaded {
        replica: u8,
        segment: u32,
        gen: u8,
    },
    /// Query node: the downloaded index files of a segment loaded raw are
    /// deserialised (its loader's CPU).
    IndexDeserialized {
        replica: u8,
        segment: u32,
        gen: u8,
    },
    IndexLoaded {
        node: u16,
        replica: u8,
        segment: u32,
        gen: u8,
    },
    Compact {
        plan: u32,
    },
    CompactionRead {
        plan: u32,
        gen: u8,
    },
    CompactionMerged {
        plan: u32,
        gen: u8,
    },
    /// The merged segment is in object storage (a writer that died meanwhile never
    /// reports it).
    CompactionWritten {
        plan: u32,
        gen: u8,
    },
    CompactionDone {
        plan: u32,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn messages_stay_small() {
        // The event queue moves messages around; keep them at three words.
        assert!(std::mem::size_of::<super::Msg>() <= 24);
    }
}
