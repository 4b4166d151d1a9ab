//! Fixed CPU costs and message sizes of the Milvus processes on the search and insert
//! paths.
//!
//! Two kinds of work are measured on a real Milvus 2.3.5 standalone (the fidelity
//! harness, experiments/fidelity/; `experiments/fidelity/derive_overheads.py
//! RESULTS.json` derives the records' figures from a results file, and
//! tests/it/fidelity.rs checks them against the committed ones):
//!
//! * **server work per search** ([`SEARCH_SERVER_NS`], [`SEARCH_SERVER_NS_PER_QUERY`]):
//!   everything around the vector kernels, from the Search RPC arriving at the proxy
//!   to its reply leaving it: gRPC and protobuf on both hops, the proxy's task queue,
//!   plan and reduce, the delegator, the query node's scheduler, segcore's cgo calls
//!   and result marshalling, the Go runtime's share. Measured as the server's CPU per
//!   search of a 100-row collection, where the kernels take microseconds; the share of
//!   it the reply waits for ([`SEARCH_CRITICAL_SHARE`]) is measured too.
//! * **server work per inserted byte**: the proxy's on the RPC's path
//!   ([`INSERT_NS_PER_BYTE`]), the data node's beside it ([`DATANODE_DECODE_NS_PER_BYTE`],
//!   [`DATANODE_BUFFER_NS_PER_BYTE`]) and its binlog serialisation
//!   ([`binlog_serialize_ns`]); by CPU profiles of the real server
//!   (`experiments/fidelity/profile_ingest.py`), checked against the quiet insert records.
//!
//! The search work was measured on the reference machine (3.70 GHz AVX-512,
//! profiles/reference.toml), the insert work on a 3.09 GHz one and quoted at 3.70 GHz;
//! all of it scales with the clock on other hosts ([`on_host`]). A topology may give a
//! host class its own per-search work instead (`search_server_cpu`,
//! `search_server_cpu_per_query`, [`search_server_on`]): `simctl fidelity` gives the
//! measured machine the run's own, from the same 100-row searches. How the search work divides
//! among proxy, delegator and query node is a GUESS ([`PROXY_SHARE`] and the others):
//! the standalone runs them in one process, so the harness sees only their sum. The
//! rest is GUESSES, marked one by one; `simctl explain` lists them.

use super::msg::Req;
use super::world::World;
use crate::hw::HostSpec;

/// Clock of the machine the knobs were measured on (the fidelity examples' machine,
/// profiles/reference.toml `[machine] ghz`).
pub const MEASURED_ON_GHZ: f64 = 3.704;

/// Measured: server CPU of one search, fixed part. Least squares over nq of the
/// `search_tiny_collection` records of results-full-example.json (dim 128 and 768,
/// nq 1, 10, 100; `server_cpu_ms_per_request`): 1.465 ms + 22.2 us per query vector.
/// results-quick-example.json's one record (dim 128, nq 1) gives 1.01 ms.
pub const SEARCH_SERVER_NS: f64 = 1_465_000.0;
/// Measured: server CPU of one search per query vector (request decoding, per-query
/// reduce and result marshalling); see [`SEARCH_SERVER_NS`].
pub const SEARCH_SERVER_NS_PER_QUERY: f64 = 22_200.0;

/// Measured: the share of the per-search server CPU that the reply waits for. The
/// server's time on a search of the 100-row collection (`rpc_ms_p50` less the part of
/// a GetVersion round trip spent outside the server: its `latency_ms_p50` less the
/// server's CPU per call) over its CPU, summed over the records of
/// results-full-example.json (results-quick-example.json: 0.819). The rest runs beside
/// the request: gRPC's transport goroutines, the garbage collector's background
/// marking; each process runs its share of it beside its stage ([`search_beside_on`]).
pub const SEARCH_CRITICAL_SHARE: f64 = 0.777;

/// GUESS: shares of the per-search work, on the critical path and beside it. The
/// proxy decodes, queues, plans, reduces and encodes the client's call (half); the
/// delegator takes the proxy's gRPC call, waits for tsafe and reduces the workers'
/// results (a fifth); the worker schedules, crosses into segcore and marshals its
/// results (the rest). A search with several shards or workers pays the delegator's
/// and the worker's share once per sub-request.
pub const PROXY_PRE_EXECUTE_SHARE: f64 = 0.3;
pub const PROXY_REDUCE_SHARE: f64 = 0.2;
pub const DELEGATOR_SHARE: f64 = 0.2;
pub const WORKER_SHARE: f64 = 0.3;
/// The proxy's part of the per-search work.
pub const PROXY_SHARE: f64 = PROXY_PRE_EXECUTE_SHARE + PROXY_REDUCE_SHARE;

/// Server CPU of a search of `nq` query vectors, all of it, at the measuring machine's
/// clock (scale it with [`on_host`]).
pub fn search_server_ns(nq: u32) -> f64 {
    SEARCH_SERVER_NS + nq as f64 * SEARCH_SERVER_NS_PER_QUERY
}

/// Server CPU of one stage on a search's critical path (`share` of it).
pub fn search_stage_ns(share: f64, nq: u32) -> f64 {
    share * SEARCH_CRITICAL_SHARE * search_server_ns(nq)
}

/// `ns` measured on the reference machine, on a host of `ghz`: Milvus's own code is
/// branchy Go and C++ that scales with the clock, as the kernels' compute part does.
pub fn on_host(ns: f64, ghz: f64) -> f64 {
    ns * MEASURED_ON_GHZ / ghz
}

/// `ns` of work measured at [`MEASURED_ON_GHZ`], on `task`'s host.
pub fn on_task_host(world: &World, task: usize, ns: f64) -> f64 {
    on_host(ns, world.hosts[world.tasks[task].host].spec.ghz)
}

/// Server CPU of a search of `nq` query vectors on `host`, all of it: the host's own
/// figures where its topology class gives them (`search_server_cpu`,
/// `search_server_cpu_per_query`; `simctl fidelity` sets them from the measured run's
/// own 100-row searches), else the reference measurement scaled by its clock.
pub fn search_server_on(host: &HostSpec, nq: u32) -> f64 {
    search_part_on(host, 1.0, nq)
}

/// `part` of [`search_server_on`].
fn search_part_on(host: &HostSpec, part: f64, nq: u32) -> f64 {
    let own = host.search_server;
    if own.fixed.is_none() && own.per_query.is_none() {
        return on_host(part * search_server_ns(nq), host.ghz);
    }
    let fixed = own.fixed.map_or_else(
        || on_host(SEARCH_SERVER_NS, host.ghz),
        |d| d.as_nanos() as f64,
    );
    let per_query = own.per_query.map_or_else(
        || on_host(SEARCH_SERVER_NS_PER_QUERY, host.ghz),
        |d| d.as_nanos() as f64,
    );
    part * (fixed + nq as f64 * per_query)
}

/// Server CPU of one stage of request `req` (a search, or a query by key) on
/// `task`'s host: `share` of the part the reply waits for.
pub fn search_stage_on(world: &World, task: usize, share: f64, req: Req) -> f64 {
    let host = &world.hosts[world.tasks[task].host].spec;
    search_part_on(host, share * SEARCH_CRITICAL_SHARE, world.request_nq(req))
}

/// Server CPU of one stage of request `req` that runs beside it, on `task`'s host.
pub fn search_beside_on(world: &World, task: usize, share: f64, req: Req) -> f64 {
    let host = &world.hosts[world.tasks[task].host].spec;
    search_part_on(
        host,
        share * (1.0 - SEARCH_CRITICAL_SHARE),
        world.request_nq(req),
    )
}

/// Server CPU of an insert of `bytes` on `task`'s host.
pub fn insert_on(world: &World, task: usize, bytes: u64) -> f64 {
    let ns = INSERT_PRE_EXECUTE_NS + bytes as f64 * INSERT_NS_PER_BYTE;
    on_task_host(world, task, ns)
}

/// Proxy: fixed work of an insert task (decode, validate, schema check) (GUESS; an
/// insert's bytes dominate, see [`INSERT_NS_PER_BYTE`]).
pub const INSERT_PRE_EXECUTE_NS: f64 = 100_000.0;
/// Measured: the proxy's CPU per byte of an Insert RPC (8-byte key + 4 bytes a
/// dimension) on the RPC's path: gRPC receiving and decoding the request, and the
/// proxy's insert task (checks, primary-key hashing, the produce to the log broker).
/// `experiments/fidelity/profile_ingest.py` on the quiet 3.089 GHz machine: 3.1 + 5.4
/// ns at dim 768, 3.5 + 6.4 at dim 128, mean 9.2 there, this at 3.704 GHz. The RPC
/// itself takes longer (results-ingest-quiet.json: 12.7 ns a byte there, 10.6 at this
/// clock; `derive_overheads.py results-ingest-quiet.json --ghz 3.089`): the data node
/// decodes and buffers the same bytes meanwhile on the same two cores, and the model
/// plays that work too (below); tests/it/fidelity.rs checks that the simulated inserts
/// reproduce those RPC times. (The earlier 19.4 ns was the RPC time measured beside a
/// busy core, which stretches it.)
pub const INSERT_NS_PER_BYTE: f64 = 7.7;
/// Measured: the data node's CPU per byte to read its channel's messages and decode
/// them (its message stream, as each message arrives), then to append them to its
/// insert buffer (the flow graph's insert buffer node, at the pack's time tick, its
/// binlog serialisation aside). `experiments/fidelity/profile_ingest.py` on the quiet
/// 3.089 GHz machine: reading and decoding 2.6 ns at dim 768 and 2.7 at dim 128, the
/// buffer node 2.1 and 2.3; these are their means at 3.704 GHz. Work beside the
/// insert: nothing waits for it, but it takes its share of the data node's cores.
pub const DATANODE_DECODE_NS_PER_BYTE: f64 = 2.2;
pub const DATANODE_BUFFER_NS_PER_BYTE: f64 = 1.8;
/// Measured: the data node's CPU to serialise buffered rows into binlogs (parquet
/// with zstd, and the statistics logs), a part per row and a part per byte. The same
/// profiles: 7.5 ns per byte at dim 768 (3,080-byte rows), 12.1 at dim 128 (520-byte
/// rows), so 2.9 us a row plus 6.56 ns a byte at 3.089 GHz; at 3.704 GHz these.
pub const BINLOG_SERIALIZE_NS_PER_ROW: f64 = 2_400.0;
pub const BINLOG_SERIALIZE_NS_PER_BYTE: f64 = 5.5;

/// Core-ns at [`MEASURED_ON_GHZ`] to serialise `bytes` of rows of `row_bytes` each
/// into binlogs.
pub fn binlog_serialize_ns(bytes: u64, row_bytes: u64) -> f64 {
    let rows = bytes as f64 / row_bytes.max(1) as f64;
    rows * BINLOG_SERIALIZE_NS_PER_ROW + bytes as f64 * BINLOG_SERIALIZE_NS_PER_BYTE
}
/// Measured: a query node's CPU per byte to load a sealed segment it has read from
/// object storage, on one thread per segment (Milvus 2.3's segment loader): index
/// files deserialised into the index, or raw binlogs into field data (a FLAT
/// collection, which has no index files, or a segment without its index yet).
/// `experiments/fidelity/profile_load.py` (results-load.json) on the quiet 3.089 GHz
/// machine, from the server log's segment loader (the segment's files started to its
/// load done) over the bytes loaded, one segment loading alone at 200k x 128: IVF_FLAT
/// 7.27 and HNSW 9.59 ns a byte of index files (their mean here, at 3.704 GHz), raw
/// 3.38 ns a byte of key, vector, row id and timestamp (536 bytes a row), which is 3.48
/// a byte of the key and vector the model counts for a raw row (520 bytes), 2.9 here.
/// (Three segments of dim 768 loading at once on its two cores took 6.6-7.7 ns a byte
/// of all three over the wall time, 3.6 raw; the model runs each on its own thread.)
pub const LOAD_INDEX_NS_PER_BYTE: f64 = 7.0;
pub const LOAD_RAW_NS_PER_BYTE: f64 = 2.9;

/// Rootcoord: one TSO allocation under its lock (GUESS).
pub const TSO_ALLOC_NS: f64 = 2_000.0;
/// Querycoord: answering GetShardLeaders from its in-memory distribution (GUESS).
pub const SHARD_LEADERS_NS: f64 = 100_000.0;
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
