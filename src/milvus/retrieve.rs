//! Queries by primary key: `query(expr="id in [...]")`. A query takes the search's
//! path (reference §3.1: proxy, TSO, shard leaders, the delegator's waitTSafe, one
//! sub-request per worker holding the shard's segments, reduce on the delegator and
//! the proxy) and retrieves rows instead of ranking vectors. This module holds what
//! differs: the work per segment and the sizes of requests and results.
//!
//! The same path serves the query an expression delete runs for its keys
//! (`delete(expr="<scalar filter>")`, [`ReqKind::DeleteQuery`]): a filter over every
//! row of every segment of the shard, whose keys go back to the proxy, which then
//! deletes them by key (see `proxy`).

use crate::hw::cost::SEGMENT_OVERHEAD_NS;
use crate::hw::HostCost;

use super::msg::Req;
use super::overheads::{search_request_bytes, search_result_bytes};
use super::world::World;

/// What a request on the search path asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReqKind {
    Search,
    Query,
    /// The query of an expression delete for the keys its filter matches: no client
    /// request of its own (the delete's row is the request), and its answer goes on
    /// to the delete at the proxy.
    DeleteQuery,
}

impl ReqKind {
    /// The `kind` column of `requests.parquet` (a delete's query has no row; it is
    /// part of its delete's).
    pub fn name(self) -> &'static str {
        match self {
            ReqKind::Search => "search",
            ReqKind::Query => "query",
            ReqKind::DeleteQuery => "delete",
        }
    }

    /// Whether a client sent it (a delete's query is the proxy's own).
    pub fn from_client(self) -> bool {
        self != ReqKind::DeleteQuery
    }
}

/// The query workload's shape.
#[derive(Clone, Copy, Debug)]
pub struct QueryParams {
    /// Primary keys per query.
    pub ids: u32,
    /// Bytes of one returned row: the int64 key, plus the vector when it is an
    /// output field.
    pub out_row_bytes: u64,
}

/// GUESS: one step of a binary search over a sealed segment's sorted primary keys
/// (segcore keeps them sorted with their offsets for term expressions on the key): a
/// dependent load that misses the caches of a segment of tens of thousands of rows.
const PK_PROBE_NS: f64 = 20.0;

/// CPU work of one query on one segment of `rows` rows: the per-segment fixed cost a
/// search also pays (goroutine, cgo call, result set-up), then a lookup of each key.
/// Inference: Milvus 2.3 sends a query by key to every segment of the shard (the
/// delegator prunes nothing by key; the segments' bloom filters serve deletes), so
/// each segment pays its fixed cost whether it holds a key or not.
pub fn query_segment_ns(rows: u64, ids: u32) -> f64 {
    let probes = (rows.max(2) as f64).log2().ceil();
    SEGMENT_OVERHEAD_NS + ids as f64 * probes * PK_PROBE_NS
}

/// GUESS: evaluating a simple scalar comparison (`field < x`, `field == x`) on one
/// row of a segment, at the calibration machine's clock: segcore's 2.3 expression
/// executor walks each chunk element by element into a bitset, a few cycles a row
/// (not measured; the reference does not cover filters).
const FILTER_NS_PER_ROW: f64 = 2.0;
/// Bytes a filter reads per row: one 8-byte scalar field.
const FILTER_FIELD_BYTES: u64 = 8;

/// CPU work of an expression delete's query on one segment of `rows` rows on a host
/// of `cost`: the per-segment fixed cost a search pays, then a filter over every row
/// (not a key lookup: the expression is on another field, so no segment is pruned
/// and no row skipped), the larger of its compute and of streaming the field from
/// memory at the host's calibrated bandwidth. Collecting the few matching keys is
/// left out beside the scan.
pub fn filter_segment_ns(cost: &HostCost, rows: u64) -> f64 {
    SEGMENT_OVERHEAD_NS + cost.row_scan_ns(rows, FILTER_NS_PER_ROW, FILTER_FIELD_BYTES)
}

/// GUESS: 512 bytes of gRPC framing, plan and output-field list.
const QUERY_REQUEST_FRAMING_BYTES: u64 = 512;
/// GUESS: 256 bytes of framing around a result.
const QUERY_RESULT_FRAMING_BYTES: u64 = 256;

impl World {
    pub fn req_kind(&self, req: Req) -> ReqKind {
        self.searches[req as usize].kind
    }

    fn query_params(&self) -> QueryParams {
        self.query
            .expect("a query runs only when the workload has queries")
    }

    /// Bytes of request `req` (or of a sub-request carrying it).
    pub fn request_bytes(&self, req: Req) -> u64 {
        match self.req_kind(req) {
            ReqKind::Search => search_request_bytes(self.params.nq, self.params.dim),
            ReqKind::Query => QUERY_REQUEST_FRAMING_BYTES + 8 * self.query_params().ids as u64,
            // GUESS: the filter's text fits the framing.
            ReqKind::DeleteQuery => QUERY_REQUEST_FRAMING_BYTES,
        }
    }

    /// Bytes of a result of `req` from `parts` of the `of` parts of the collection
    /// (a worker's share of a shard, a shard, or the whole collection): a search
    /// returns nq x topk wherever it comes from; a query its share of the keys.
    pub fn result_bytes(&self, req: Req, parts: usize, of: usize) -> u64 {
        match self.req_kind(req) {
            ReqKind::Search => search_result_bytes(self.params.nq, self.params.topk),
            ReqKind::Query => {
                let q = self.query_params();
                let rows = (q.ids as u64 * parts as u64).div_ceil(of.max(1) as u64);
                QUERY_RESULT_FRAMING_BYTES + rows * q.out_row_bytes
            }
            // The matching keys, 8 bytes each (the key is the only output field).
            ReqKind::DeleteQuery => {
                let keys = self.searches[req as usize].keys as u64;
                QUERY_RESULT_FRAMING_BYTES + 8 * (keys * parts as u64).div_ceil(of.max(1) as u64)
            }
        }
    }

    /// Results merged per input of a reduce: nq x topk for a search, the keys for a
    /// query (each found once).
    pub fn reduce_results(&self, req: Req) -> f64 {
        match self.req_kind(req) {
            ReqKind::Search => (self.params.nq * self.params.topk) as f64,
            ReqKind::Query => self.query_params().ids as f64,
            ReqKind::DeleteQuery => self.searches[req as usize].keys as f64,
        }
    }

    /// Query vectors `req` carries, for the measured per-vector server cost: a query
    /// by key has none and pays the fixed per-request part only (GUESS: the same
    /// request handling as a search's, which the harness measured).
    pub fn request_nq(&self, req: Req) -> u32 {
        match self.req_kind(req) {
            ReqKind::Search => self.params.nq,
            ReqKind::Query | ReqKind::DeleteQuery => 0,
        }
    }

    /// The look-aside balancer's weight of `req` at a shard leader: its nq.
    pub fn lookaside_weight(&self, req: Req) -> u32 {
        match self.req_kind(req) {
            ReqKind::Search => self.params.nq,
            ReqKind::Query | ReqKind::DeleteQuery => 1,
        }
    }

    /// The clients that sent `req`.
    pub fn client_actor_of(&self, req: Req) -> crate::engine::ActorId {
        match self.req_kind(req) {
            ReqKind::Search => self.clients,
            ReqKind::Query => self.query_clients,
            ReqKind::DeleteQuery => {
                unreachable!("a delete's query answers its proxy, not a client")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_query_costs_the_fixed_segment_cost_plus_a_log_lookup_per_key() {
        let one = query_segment_ns(32_768, 1);
        assert_eq!(one, SEGMENT_OVERHEAD_NS + 15.0 * PK_PROBE_NS);
        let ten = query_segment_ns(32_768, 10);
        assert_eq!(
            ten - SEGMENT_OVERHEAD_NS,
            10.0 * (one - SEGMENT_OVERHEAD_NS)
        );
        // Twice the rows: one more probe per key.
        assert_eq!(query_segment_ns(65_536, 10) - ten, 10.0 * PK_PROBE_NS);
    }
}
