//! Messages between the actors of the cluster. Small and `Copy`: request state lives
//! in the world's request table, messages carry its index.

use crate::engine::{ActorId, SimTime};

/// Index of an in-flight request in `World::searches`.
pub type Req = u32;

/// Milvus hybrid timestamp: physical milliseconds << 18 | logical (reference §1.1).
pub type Ts = u64;

#[derive(Clone, Copy, Debug)]
pub enum Msg {
    /// A host CPU should check for finished tasks (scheduled for `at`).
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

    SearchArrived {
        req: Req,
    },
    ProxyPreExecuted {
        req: Req,
    },
    TsoAllocated {
        req: Req,
        ts: Ts,
    },
    ShardLeadersFetched,
    ShardSearched {
        req: Req,
        shard: u8,
    },
    ProxyReduced {
        req: Req,
    },

    TsoRequested {
        req: Req,
        proxy: ActorId,
    },
    TimeTickDue,

    ShardLeadersRequested {
        proxy: ActorId,
    },
    ShardLeadersAnswered {
        proxy: ActorId,
    },

    DelegatorSearchArrived {
        req: Req,
        shard: u8,
        replica: u8,
    },
    TimeTickArrived {
        ts: Ts,
    },
    WorkerSearchArrived {
        req: Req,
        shard: u8,
        replica: u8,
        delegator: ActorId,
    },
    WorkerSearched {
        req: Req,
        shard: u8,
        replica: u8,
        delegator: ActorId,
    },
    WorkerReplied {
        req: Req,
        shard: u8,
        failed: bool,
    },
    DelegatorReduced {
        req: Req,
        shard: u8,
    },
}
