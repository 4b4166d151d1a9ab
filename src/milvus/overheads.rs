//! Fixed CPU costs and message sizes of the Milvus processes on the search path.
//!
//! GUESSES, all of them: Milvus publishes no per-stage CPU costs. They are sized so
//! that the per-search fixed work on a query node is a fraction of a millisecond, which
//! is what reference §5.1 implies (12 cores serving 10,248 QPS of nq=1 HNSW searches
//! on SIFT-1M leaves ~1.2 core-ms per search for everything). The fidelity issue fits
//! them against a real Milvus; until then `simctl explain` lists them as guesses.

/// Proxy: decode, validate, build the plan, enqueue (GUESS).
pub const PROXY_PRE_EXECUTE_NS: f64 = 40_000.0;
/// Proxy: fixed work of an insert task (decode, validate, schema check) (GUESS).
pub const INSERT_PRE_EXECUTE_NS: f64 = 100_000.0;
/// Proxy: per byte of an insert: copy, primary-key hash to shards, repack into
/// messages (GUESS: about 4 GB/s per core, a few passes over memory).
pub const INSERT_NS_PER_BYTE: f64 = 0.25;
/// Proxy: fixed part of merging shard results and encoding the reply (GUESS).
pub const PROXY_REDUCE_BASE_NS: f64 = 20_000.0;
/// Rootcoord: one TSO allocation under its lock (GUESS).
pub const TSO_ALLOC_NS: f64 = 2_000.0;
/// Querycoord: answering GetShardLeaders from its in-memory distribution (GUESS).
pub const SHARD_LEADERS_NS: f64 = 100_000.0;
/// Delegator: waitTSafe bookkeeping, distribution snapshot, sub-request set-up (GUESS).
pub const DELEGATOR_BASE_NS: f64 = 30_000.0;
/// Worker: scheduler, unmarshal, result marshal per sub-request (GUESS).
pub const WORKER_TASK_BASE_NS: f64 = 50_000.0;
/// Time from rootcoord producing a time tick to a delegator consuming it through
/// Pulsar (GUESS: publish with a bookie fsync plus dispatch; Pulsar is not yet its own
/// actor).
pub const MQ_DELIVERY_NS: u64 = 3_000_000;

/// Bytes of a search request or sub-request carrying `nq` float queries.
pub fn search_request_bytes(nq: u32, dim: u32) -> u64 {
    // GUESS: 512 bytes of gRPC framing, plan and parameters.
    512 + nq as u64 * dim as u64 * 4
}

/// Bytes of a search result of `nq` x `topk` (int64 id + float score each).
pub fn search_result_bytes(nq: u32, topk: u32) -> u64 {
    // GUESS: 256 bytes of framing.
    256 + nq as u64 * topk as u64 * 12
}

/// Bytes of a small control RPC (TSO, GetShardLeaders).
pub const CONTROL_RPC_BYTES: u64 = 256;
