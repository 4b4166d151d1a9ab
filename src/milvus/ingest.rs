//! State of the write path that several actors read (reference §3.3): inserts in
//! flight, the segment table datacoord keeps, the growing rows each delegator serves,
//! and object storage (MinIO) as a shared resource.

use crate::engine::{ActorId, SimDuration, SimTime};
use crate::hw::{IndexKind, IndexSpec, SearchSpec};
use crate::report::recorder::RequestRow;
use crate::scenario::experiment::{DeleteBy, DeleteOrder};

use super::msg::{Req, Ts};
use super::world::World;

/// One part of a write: rows of one shard that go into one segment, or keys of one
/// shard to delete (`delete`, no segment).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Part {
    pub shard: u8,
    pub segment: u32,
    pub rows: u32,
    pub delete: bool,
}

impl Part {
    /// `keys` primary keys hashed over `shards` channels as evenly as rows are
    /// (reference §3.3 step 2): one part of deletes per shard that gets keys.
    pub fn keys(keys: u64, shards: u64) -> impl Iterator<Item = Part> {
        (0..shards)
            .map(move |shard| Part {
                shard: shard as u8,
                segment: 0,
                rows: (keys / shards + u64::from(shard < keys % shards)) as u32,
                delete: true,
            })
            .filter(|p| p.rows > 0)
    }
}

/// What a write request does on the DML channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteKind {
    /// Rows into segments datacoord assigns.
    Insert,
    /// A delete by primary key: keys, no segment (reference §3.3 step 2).
    Delete,
    /// An upsert: the delete of its rows' keys and the insert of the rows, in one
    /// task with one timestamp (GUESS: the reference says nothing of upsert but its
    /// rate limit, §1.11; Milvus 2.3's proxy builds both messages in one task).
    Upsert,
}

impl WriteKind {
    /// The `kind` column of `requests.parquet`.
    pub fn name(self) -> &'static str {
        match self {
            WriteKind::Insert => "insert",
            WriteKind::Delete => "delete",
            WriteKind::Upsert => "upsert",
        }
    }

    /// Whether it writes rows into segments.
    pub fn writes_rows(self) -> bool {
        self != WriteKind::Delete
    }

    /// Whether it deletes keys.
    pub fn deletes_keys(self) -> bool {
        self != WriteKind::Insert
    }
}

#[derive(Clone, Debug)]
pub struct InsertState {
    pub id: u64,
    pub client: u32,
    pub proxy: ActorId,
    pub proxy_index: u32,
    pub proxy_gen: u8,
    pub start: SimTime,
    pub rows: u64,
    pub ts: Ts,
    pub parts: Vec<Part>,
    /// Messages produced and not yet acknowledged by the broker.
    pub pending: u32,
    pub error: Option<&'static str>,
    pub closed: bool,
    /// Insert, delete by primary key (`rows` keys, the insert's path without
    /// segment allocation) or upsert (`rows` keys deleted and `rows` rows written).
    pub kind: WriteKind,
}

/// Segment states in datacoord's meta (reference §3.3 steps 5-9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SegState {
    Growing,
    Sealed,
    Flushing,
    Flushed,
    Indexing,
    Indexed,
    /// Input of a running merge plan (still served).
    Compacting,
    /// Merged into another segment; released once that one is loaded.
    Dropped,
}

impl SegState {
    pub fn name(self) -> &'static str {
        match self {
            SegState::Growing => "growing",
            SegState::Sealed => "sealed",
            SegState::Flushing => "flushing",
            SegState::Flushed => "flushed",
            SegState::Indexing => "indexing",
            SegState::Indexed => "indexed",
            SegState::Compacting => "compacting",
            SegState::Dropped => "dropped",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SegRt {
    pub id: u64,
    pub shard: u32,
    pub state: SegState,
    /// Rows datacoord handed out to proxies.
    pub allocated: u64,
    /// Rows the data node consumed from the channel (what a flush persists).
    pub rows: u64,
    /// Rows datacoord last heard the data node had consumed (currRows in its meta,
    /// reported on the data node's time tick): what the seal policy reads.
    pub reported_rows: u64,
    /// Rows produced into the channel and not yet consumed by the data node (or
    /// failed): a flush waits for them, as the data node flushes only once its
    /// channel checkpoint passes the seal (reference §3.3 step 6).
    pub in_flight: u64,
    pub last_alloc: SimTime,
    pub created: SimTime,
    pub sealed: Option<SimTime>,
    pub flushed: Option<SimTime>,
    pub indexed: Option<SimTime>,
    /// When every replica serves it sealed (the growing copies are dropped).
    pub loaded: Option<SimTime>,
    /// Its index in `World::layout.segments` once querycoord took it into its target.
    pub layout: Option<usize>,
    /// Binlog bytes synced to object storage.
    pub binlog_bytes: u64,
    /// For a segment compaction made: the plan that made it.
    pub merged_by: Option<u32>,
    /// Whether its rows reached the delegators as growing rows (inserted, not merged).
    pub growing_copy: bool,
    /// Rows deleted from it (persisted deletes of its keys), not yet compacted away.
    pub deleted: u64,
    /// Of those, the ones in deltalogs in object storage: what datacoord's meta
    /// shows and compaction removes.
    pub deleted_synced: u64,
    /// Deltalog files written with its deletes.
    pub deltalog_files: u32,
    /// Loaded at the start (in datacoord's meta so that deletes can compact it).
    pub preloaded: bool,
    /// When its oldest rows were written (a merge keeps its inputs' oldest): the
    /// order of deletes that remove the oldest rows first.
    pub oldest_row: SimTime,
    /// Bytes of its files in object storage (binlogs, deltalogs, index files) whose
    /// writes completed for the incarnation that made them.
    pub files_bytes: u64,
}

impl SegRt {
    /// A segment of `shard` in `state`, made at `now`, with nothing else set.
    pub fn new(id: u64, shard: u32, state: SegState, now: SimTime) -> Self {
        SegRt {
            id,
            shard,
            state,
            allocated: 0,
            rows: 0,
            reported_rows: 0,
            in_flight: 0,
            last_alloc: now,
            created: now,
            sealed: None,
            flushed: None,
            indexed: None,
            loaded: None,
            layout: None,
            binlog_bytes: 0,
            merged_by: None,
            growing_copy: false,
            deleted: 0,
            deleted_synced: 0,
            deltalog_files: 0,
            preloaded: false,
            oldest_row: now,
            files_bytes: 0,
        }
    }

    /// Whether its rows are its own: not dropped, and not the input of a merge
    /// (whose output holds its rows and its deletes not yet in a deltalog).
    pub fn holds_rows(&self) -> bool {
        !matches!(self.state, SegState::Dropped | SegState::Compacting)
    }

    /// Rows not deleted.
    pub fn live_rows(&self) -> u64 {
        self.rows.saturating_sub(self.deleted)
    }
}

/// A compaction plan: input segments of one shard merged into `output`.
#[derive(Clone, Debug)]
pub struct Plan {
    pub shard: u32,
    pub inputs: Vec<u32>,
    pub output: u32,
    pub data_node: usize,
    pub started: SimTime,
}

/// Write-path state shared by the proxies, the broker, datacoord, the data nodes,
/// the index nodes and querycoord.
#[derive(Default)]
pub struct Ingest {
    /// drop_collection() marked every segment dropped (datacoord): none is growing
    /// any more.
    pub segments_dropped: bool,
    pub inserts: Vec<InsertState>,
    free: Vec<Req>,
    next_id: u64,
    pub segments: Vec<SegRt>,
    /// Per replica, per shard: rows the delegator serves from growing segments.
    pub growing_rows: Vec<Vec<u64>>,
    /// Per replica, per shard: the delegator process (task, incarnation) holding
    /// those rows in memory.
    pub growing_holder: Vec<Vec<Option<(usize, u8)>>>,
    /// Per shard: actors consuming its DML channel besides the delegators (the data
    /// node datacoord assigned it to).
    pub data_node_of_shard: Vec<ActorId>,
    pub broker_actors: Vec<ActorId>,
    pub bookie_actors: Vec<ActorId>,
    pub bookie_tasks: Vec<usize>,
    pub broker_tasks: Vec<usize>,
    /// How the broker persists messages (Pulsar, or a standalone's RocksMQ).
    pub log: super::pulsar::LogStore,
    pub datacoord: ActorId,
    /// The actor of the inserting clients.
    pub inserters: ActorId,
    pub row_bytes: u64,
    /// reference §1.10 pulsar.maxMessageSize.
    pub max_message_bytes: u64,
    /// Segment ids the write path hands out start after this (the segments loaded
    /// at the start).
    pub id_base: u64,
    /// reference §1.13: max rows per segment = dataCoord.segment.maxSize / estimated
    /// row size (the system fields counted).
    pub max_rows: u64,
    /// The seal point: a segment is sealed once the data node has consumed this many
    /// of its rows (dataCoord.segment.sealProportion x max rows, reference §1.5).
    pub seal_rows: u64,
    pub acked_rows: u64,
    /// Timestamp of the newest acknowledged insert (what a Session search waits for).
    pub last_acked_ts: Ts,
    /// Rows of messages persisted on an ack quorum of bookies (reference §2.8).
    pub persisted_rows: u64,
    pub failed_rows: u64,
    /// Rows persisted by a flush (sealed segments in object storage).
    pub flushed_rows: u64,
    pub first_insert: Option<SimTime>,
    pub last_ack: Option<SimTime>,
    /// Rows the workload will insert in all.
    pub target_rows: u64,
    /// reference §1.7 UpdateNextTargetInterval.
    pub target_interval: SimDuration,
    pub plans: Vec<Plan>,
    /// Per shard: the time tick up to which the shard's data node has consumed the
    /// channel (its position, reported to datacoord on its tick).
    pub consumed_ts: Vec<Ts>,
    /// Per shard: messages the broker holds for the shard's data node while it is
    /// gone (the subscription's backlog), as (segment, rows).
    pub backlog: Vec<Vec<(u32, u32)>>,
    /// Segment table index of each handed-off segment, by layout index.
    pub of_layout: std::collections::BTreeMap<usize, u32>,
    /// The client called flush(): datacoord seals every growing segment.
    pub flush_requested: bool,
    /// The insert workload sent its last batch, every one was answered, and it
    /// called flush() if it does.
    pub inserts_done: bool,
    /// Handed-off segments (layout indexes) the load guard refused (reference §1.8).
    pub refused: std::collections::BTreeSet<usize>,
    /// Index builds started, and when the first started and the last finished.
    pub builds: u64,
    pub first_build: Option<SimTime>,
    pub last_build: Option<SimTime>,
    /// Index build parameter (HNSW efConstruction).
    pub ef_construction: u32,
    /// reference §1.8 interim index on growing segments: whether it is on, the rows
    /// from which a segment has one, and its nlist / nprobe.
    pub interim: Option<(u64, u32, u32)>,
    pub deletes: Deletes,
    pub upserts: Upserts,
    /// Binlog syncs the data nodes started, and of those the ones forced by the
    /// memory watermark (reference §1.6).
    pub syncs: u64,
    pub forced_syncs: u64,
}

/// The delete workload's state (reference §3.3: deletes travel the DML channels;
/// data nodes write them as deltalogs; compaction removes deleted rows).
#[derive(Default)]
pub struct Deletes {
    /// The actor of the deleting clients.
    pub clients: ActorId,
    /// Which rows the delete workload's keys remove.
    pub order: Option<DeleteOrder>,
    /// How the delete workload names its rows: by key, or by an expression whose
    /// keys the proxy queries first.
    pub by: Option<DeleteBy>,
    /// Expression deletes: how long each successful query for the keys took, from
    /// the proxy's start of it to the keys at the proxy (ns).
    pub query_ns: Vec<u64>,
    /// Expression deletes that failed in their query (nothing produced).
    pub query_failed: u64,
    /// Rows the expression deletes' filters scanned (every row of every segment a
    /// worker or delegator searched for them).
    pub rows_scanned: u64,
    pub target_rows: u64,
    pub acked_rows: u64,
    pub failed_rows: u64,
    /// Keys persisted in the log (an ack quorum of bookies).
    pub persisted_rows: u64,
    /// Keys of persisted deletes that matched no live row (already deleted).
    pub unmatched_rows: u64,
    /// Per shard: delete rows consumed by the channel's data node (or waiting for
    /// one) and not yet in a deltalog, and since when.
    pub buffered: Vec<u64>,
    pub buffered_since: Vec<Option<SimTime>>,
    pub deltalog_rows: u64,
    pub deltalog_bytes: u64,
    pub deltalogs: u64,
    /// Single-segment compactions started because of deletes, and rows they removed.
    pub compactions: u64,
    pub rows_compacted_away: u64,
    /// At the end: rows marked deleted in segments still in use (set for the summary).
    pub marked_rows: u64,
    /// reference §1.5 single-segment compaction: the deleted share, and the bytes of
    /// deletes, from which a segment is rewritten on its own.
    pub compact_ratio: f64,
    pub compact_bytes: u64,
    /// reference §1.5 single-segment compaction: deltalog files from which a
    /// segment is rewritten on its own.
    pub compact_files: u32,
    /// reference §1.6 dataNode.segment.deleteBufBytes.
    pub buffer_limit_bytes: u64,
}

impl Deletes {
    /// `rows` deletes of `shard` reached its data node (or wait for one).
    pub fn buffer(&mut self, shard: usize, rows: u64, now: SimTime) {
        self.buffered[shard] += rows;
        self.buffered_since[shard].get_or_insert(now);
    }

    /// The delete workload's figures for summary.json (`deletes`), or None when the
    /// workload deletes nothing.
    pub fn summary(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        if self.target_rows == 0 {
            return None;
        }
        let mut out = json!({
            "rows_offered": self.target_rows,
            "rows": self.acked_rows,
            "rows_failed": self.failed_rows,
            "rows_persisted": self.persisted_rows,
            "rows_unmatched": self.unmatched_rows,
            "rows_in_deltalogs": self.deltalog_rows,
            "rows_buffered_at_end": self.buffered.iter().sum::<u64>(),
            "rows_marked": self.marked_rows,
            "deltalogs": self.deltalogs,
            "deltalog_bytes": self.deltalog_bytes,
            "compactions": self.compactions,
            "rows_compacted_away": self.rows_compacted_away,
        });
        // Only expression deletes have a query part, so a key delete's summary stays
        // as it was.
        if self.by == Some(DeleteBy::Expr) {
            let mut lat = self.query_ns.clone();
            lat.sort_unstable();
            let ms = |p: f64| crate::report::summary::percentile_ms(&lat, p);
            out["queries"] = json!(self.query_ns.len());
            out["query_failed"] = json!(self.query_failed);
            out["query_p50_ms"] = json!(ms(0.50));
            out["query_p99_ms"] = json!(ms(0.99));
            out["rows_scanned"] = json!(self.rows_scanned);
        }
        Some(out)
    }

    /// Whether segment `s` is due for a compaction of its own: datacoord sees the
    /// deletes in its deltalogs only.
    pub fn compaction_due(&self, s: &SegRt) -> bool {
        let d = s.deleted_synced;
        d > 0
            && (d as f64 >= self.compact_ratio * s.rows as f64
                || d * DELETE_ROW_BYTES >= self.compact_bytes
                || s.deltalog_files >= self.compact_files)
    }
}

/// The upsert workload's state: its requests' own figures. Its rows are counted
/// with the inserts' (`Ingest`) and its keys with the deletes' (`Deletes`), as they
/// travel the same path.
#[derive(Default)]
pub struct Upserts {
    /// The actor of the upserting clients.
    pub clients: ActorId,
    pub target_rows: u64,
    pub acked_rows: u64,
    pub failed_rows: u64,
    /// At the end: rows in the collection (consumed by the data nodes, less the
    /// persisted deletes), set for the summary.
    pub live_rows: u64,
}

impl Upserts {
    /// The upsert workload's figures for summary.json (`upserts`), or None when the
    /// workload upserts nothing.
    pub fn summary(&self) -> Option<serde_json::Value> {
        (self.target_rows > 0).then(|| {
            serde_json::json!({
                "rows_offered": self.target_rows,
                "rows": self.acked_rows,
                "rows_failed": self.failed_rows,
                "live_rows_at_end": self.live_rows,
            })
        })
    }
}

/// Bytes of one delete in a message or a deltalog: the int64 key and its timestamp.
pub const DELETE_ROW_BYTES: u64 = 16;

impl Ingest {
    /// A message of `req` (its part `part`, `rows` rows) will never be persisted:
    /// the flush of its segment need not wait for it. Decided where the message
    /// fails (broker, bookies), not where the answer lands, which may be a dead
    /// proxy or never come.
    pub fn produce_lost(&mut self, req: Req, part: u8, rows: u32) {
        let ins = &self.inserts[req as usize];
        if let Some(p) = ins.parts.get(part as usize).filter(|p| !p.delete) {
            self.rows_lost(p.segment, rows);
        }
    }

    /// `rows` on their way to `segment` will never arrive.
    pub fn rows_lost(&mut self, segment: u32, rows: u32) {
        let s = &mut self.segments[segment as usize];
        s.in_flight = s.in_flight.saturating_sub(rows as u64);
    }

    pub fn open(&mut self, client: u32, rows: u64, start: SimTime) -> Req {
        let state = InsertState {
            id: self.next_id,
            client,
            proxy: ActorId(0),
            proxy_index: 0,
            proxy_gen: 0,
            start,
            rows,
            ts: 0,
            parts: Vec::new(),
            pending: 0,
            error: None,
            closed: false,
            kind: WriteKind::Insert,
        };
        self.next_id += 1;
        match self.free.pop() {
            Some(i) => {
                self.inserts[i as usize] = state;
                i
            }
            None => {
                self.inserts.push(state);
                (self.inserts.len() - 1) as Req
            }
        }
    }

    pub fn release(&mut self, req: Req) {
        self.inserts[req as usize].closed = true;
        // A write its proxy answered when it died may still have messages on their
        // way to a broker, which reads its parts: its slot is not used again.
        if self.inserts[req as usize].pending == 0 {
            self.free.push(req);
        }
    }

    /// Whether the workload writes (inserts, deletes or upserts): the write path's
    /// loops run.
    pub fn writes(&self) -> bool {
        self.target_rows > 0 || self.deletes.target_rows > 0
    }

    /// Bytes of write `req` on the DML channels: its rows, its keys, or both.
    pub fn dml_bytes(&self, req: Req) -> u64 {
        let ins = &self.inserts[req as usize];
        let rows = if ins.kind.writes_rows() {
            self.row_bytes
        } else {
            0
        };
        let keys = if ins.kind.deletes_keys() {
            DELETE_ROW_BYTES
        } else {
            0
        };
        ins.rows * (rows + keys)
    }

    /// Which rows the keys of write `req` remove: the delete workload's order; an
    /// upsert's keys are drawn evenly over the rows (GUESS: an application refreshes
    /// rows anywhere in the collection).
    pub fn delete_order(&self, req: Req) -> DeleteOrder {
        match self.inserts[req as usize].kind {
            WriteKind::Delete => self.deletes.order.unwrap_or(DeleteOrder::Uniform),
            WriteKind::Insert | WriteKind::Upsert => DeleteOrder::Uniform,
        }
    }

    /// Write `req` is acknowledged: every message of it is persisted. An upsert
    /// counts as the rows it wrote and the keys it deleted, and in `upserts`.
    pub fn acked(&mut self, req: Req, now: SimTime) {
        let ins = &self.inserts[req as usize];
        let (kind, rows, ts) = (ins.kind, ins.rows, ins.ts);
        // Every write is one a Session search waits for.
        self.last_acked_ts = self.last_acked_ts.max(ts);
        if kind.writes_rows() {
            self.acked_rows += rows;
            self.last_ack = Some(now);
        }
        if kind.deletes_keys() {
            self.deletes.acked_rows += rows;
        }
        if kind == WriteKind::Upsert {
            self.upserts.acked_rows += rows;
        }
    }

    /// Write `req` failed; its client hears so.
    pub fn failed(&mut self, req: Req) {
        let ins = &self.inserts[req as usize];
        let (kind, rows) = (ins.kind, ins.rows);
        if kind.writes_rows() {
            self.failed_rows += rows;
        }
        if kind.deletes_keys() {
            self.deletes.failed_rows += rows;
        }
        if kind == WriteKind::Upsert {
            self.upserts.failed_rows += rows;
        }
    }

    /// Bytes per row of a DML message: a whole row, or a delete's key and timestamp.
    pub fn dml_row_bytes(&self, delete: bool) -> u64 {
        if delete {
            DELETE_ROW_BYTES
        } else {
            self.row_bytes
        }
    }

    /// The clients waiting for the answer to write `req`.
    pub fn replies_to(&self, req: Req) -> ActorId {
        match self.inserts[req as usize].kind {
            WriteKind::Insert => self.inserters,
            WriteKind::Delete => self.deletes.clients,
            WriteKind::Upsert => self.upserts.clients,
        }
    }

    /// Rows of growing segments, per shard, that `replica`'s delegator has not yet
    /// handed over to sealed copies.
    pub fn growing(&self, replica: usize, shard: usize) -> u64 {
        self.growing_rows
            .get(replica)
            .and_then(|r| r.get(shard))
            .copied()
            .unwrap_or(0)
    }
}

fn secs(t: SimTime) -> f64 {
    t.0 as f64 / 1e9
}

impl Ingest {
    /// The write path's figures for summary.json (`ingest`, `index`, `segments`), or
    /// None when the workload inserts nothing.
    pub fn summary(&self) -> Option<serde_json::Value> {
        use serde_json::json;
        if self.target_rows == 0 {
            return None;
        }
        // When every segment the inserts made reached a stage (None while one has
        // not); merged segments are compaction's, reported under `compaction`.
        let all = |stage: fn(&SegRt) -> Option<SimTime>| -> Option<f64> {
            if self.segments.is_empty() {
                return None;
            }
            self.segments
                .iter()
                .filter(|s| s.merged_by.is_none() && !s.preloaded)
                .map(stage)
                .try_fold(SimTime::ZERO, |m, t| t.map(|t| m.max(t)))
                .map(secs)
        };
        let sealed = all(|s| s.sealed);
        let flushed = all(|s| s.flushed);
        let indexed = all(|s| s.indexed);
        let loaded = all(|s| s.loaded);
        let acked_at = self.last_ack.map(secs);
        let seconds = match (self.first_insert, self.last_ack) {
            (Some(a), Some(b)) => Some(secs(b) - secs(a)),
            _ => None,
        };
        let count = |f: fn(&SegRt) -> bool| {
            self.segments
                .iter()
                .filter(|s| !s.preloaded && f(s))
                .count()
        };
        let merged: Vec<&SegRt> = self
            .segments
            .iter()
            .filter(|s| s.merged_by.is_some())
            .collect();
        let compaction_done = if merged.is_empty() {
            None
        } else {
            merged
                .iter()
                .map(|s| s.loaded)
                .try_fold(SimTime::ZERO, |m, t| t.map(|t| m.max(t)))
                .map(secs)
        };
        let refused = self.refused.len();
        let error = (refused > 0).then(|| {
            format!(
                "{refused} segment(s) could not be loaded: the query nodes' load guard refused them (reference §1.8); the data set does not fit their memory"
            )
        });
        Some(json!({
            "ingest": {
                "rows": self.acked_rows,
                "rows_offered": self.target_rows,
                "rows_failed": self.failed_rows,
                "rows_flushed": self.flushed_rows,
                "started_s": self.first_insert.map(secs),
                "acked_s": acked_at,
                "seconds": seconds,
                "rows_per_s": seconds.filter(|&s| s > 0.0).map(|s| self.acked_rows as f64 / s),
                "sealed_s": sealed,
                "flushed_s": flushed,
                "indexed_s": indexed,
                "loaded_s": loaded,
                "time_to_searchable_s": match (acked_at, loaded) {
                    (Some(a), Some(l)) => Some(l - a),
                    _ => None,
                },
                "load_refused_segments": refused,
                "syncs": self.syncs,
                "forced_syncs": self.forced_syncs,
                "error": error,
            },
            "index": {
                "builds": self.builds,
                "seconds": match (self.first_build, self.last_build) {
                    (Some(a), Some(b)) => Some(secs(b) - secs(a)),
                    _ => None,
                },
            },
            "compaction": {
                "plans": self.plans.len(),
                "segments_merged": self.plans.iter().map(|p| p.inputs.len()).sum::<usize>(),
                "finished_s": compaction_done,
            },
            "segments": {
                "created": self.segments.len(),
                "sealed": count(|s| s.sealed.is_some()),
                "flushed": count(|s| s.flushed.is_some()),
                "indexed": count(|s| s.indexed.is_some()),
                "loaded": count(|s| s.loaded.is_some()),
                "growing_at_end": match self.segments_dropped {
                    true => 0,
                    false => count(|s| s.state == SegState::Growing),
                },
                "compacted": count(|s| s.state == SegState::Dropped),
                "final": count(|s| s.state != SegState::Dropped),
            },
        }))
    }
}

/// Request rows of inserts: ids continue after the searches' so both fit one table.
pub const INSERT_ID_BASE: u64 = 1 << 40;

impl World {
    pub fn close_insert(&mut self, req: Req, end: SimTime) {
        let s = &self.ingest.inserts[req as usize];
        let mut row = RequestRow::finished(
            INSERT_ID_BASE + s.id,
            s.kind.name(),
            s.start,
            end,
            s.error,
            s.proxy_index,
        );
        // A write failing before the application created the collection or once it
        // dropped it is its doing.
        row.by_application = s.error.is_some() && self.ddl.missing_by_application();
        self.rec.requests.push(row);
        self.ingest.release(req);
    }
}

/// The cost of `rows` growing rows held as full segments of `seal` rows and one
/// partial segment, `cost(n)` being the cost of one segment of n rows.
fn growing_segments_cost(rows: u64, seal: u64, cost: impl Fn(u64) -> f64) -> f64 {
    let (full, rest) = (rows / seal, rows % seal);
    full as f64 * cost(seal) + if rest > 0 { cost(rest) } else { 0.0 }
}

/// reference §2.9: the users run `minio server http://minio{1...4}/disk{1...2}`, two
/// drives per server.
pub const MINIO_DRIVES_PER_SERVER: usize = 2;

impl World {
    /// The query nodes whose delegators lead channel `shard`, one per replica.
    pub fn delegators_of(&self, shard: usize) -> Vec<ActorId> {
        let mut out: Vec<ActorId> = (0..self.dist.leader.len())
            .filter_map(|r| self.dist.leader[r][shard])
            .map(|n| self.query_node_actors[n])
            .collect();
        out.dedup();
        out
    }

    /// reference §2.8: the broker owning shard `shard`'s topic. Bundles are spread
    /// over the brokers (GUESS: shard i on broker i mod n); a dead broker's bundles
    /// move to a running one once its ZooKeeper session expires.
    pub fn broker_for(&self, shard: usize, now: SimTime) -> usize {
        let b = &self.ingest.broker_tasks;
        let n = b.len();
        let home = shard % n;
        let up = |k: usize| self.tasks[b[k]].up && self.hosts[self.tasks[b[k]].host].up;
        if up(home) {
            return home;
        }
        let expired = self.tasks[b[home]]
            .down_at
            .is_some_and(|d| now >= d + self.failover.broker_session_timeout);
        if !expired {
            return home;
        }
        (1..n)
            .map(|k| (home + k) % n)
            .find(|&k| up(k))
            .unwrap_or(home)
    }

    /// Whether layout segment `i` has its index built (segments loaded at the start
    /// have; a handed-off one once its build finished).
    pub fn index_ready(&self, i: usize) -> bool {
        match self.ingest.of_layout.get(&i) {
            None => true,
            Some(&k) => matches!(
                self.ingest.segments[k as usize].state,
                SegState::Indexed | SegState::Compacting | SegState::Dropped
            ),
        }
    }

    /// What a query node loads for layout segment `i` now: bytes in memory, and
    /// whether that includes the index (else the raw binlogs only).
    pub fn load_bytes(&self, i: usize) -> (u64, bool) {
        let seg = &self.layout.segments[i];
        if self.index_ready(i) {
            (seg.memory_bytes, true)
        } else {
            (seg.rows * self.ingest.row_bytes, false)
        }
    }

    /// CPU work for a delegator to search the growing rows of (replica, shard) on
    /// query node `node`: segments of the seal size and the remainder, each through
    /// its interim IVF_FLAT index once large enough, else brute force (reference §1.8,
    /// §3.1 step 4).
    pub fn growing_search_ns(&self, node: usize, replica: usize, shard: usize) -> f64 {
        let rows = self.ingest.growing(replica, shard);
        if rows == 0 {
            return 0.0;
        }
        let host = &self.hosts[self.tasks[self.query_node_tasks[node]].host];
        let seal = self.ingest.seal_rows.max(1);
        let flat = IndexSpec {
            kind: IndexKind::Flat,
            ..self.index.clone()
        };
        let cost = |n: u64| match self.ingest.interim {
            Some((from, nlist, nprobe)) if n >= from => {
                let ivf = IndexSpec {
                    kind: IndexKind::IvfFlat,
                    nlist,
                    ..self.index.clone()
                };
                let s = SearchSpec {
                    nprobe,
                    ..self.search.clone()
                };
                host.cost.segment_search_ns(&ivf, n, &s)
            }
            _ => host.cost.segment_search_ns(&flat, n, &self.search),
        };
        growing_segments_cost(rows, seal, cost)
    }

    /// Persisted deletes of `rows` keys in `shard` mark rows of its live segments
    /// deleted: keys drawn evenly over the live rows (each segment gets its share,
    /// rounded so the shares add up), or the oldest rows first. Keys beyond the live
    /// rows match nothing.
    pub fn apply_deletes(&mut self, shard: usize, rows: u64, order: DeleteOrder) {
        let live: Vec<(usize, u64)> = self
            .ingest
            .segments
            .iter()
            .enumerate()
            // A merge's inputs are served by its output, which holds their rows.
            .filter(|(_, s)| s.shard as usize == shard && s.holds_rows())
            .map(|(k, s)| (k, s.rows.saturating_sub(s.deleted)))
            .filter(|&(_, n)| n > 0)
            .collect();
        let total: u64 = live.iter().map(|x| x.1).sum();
        let hit = rows.min(total);
        let d = &mut self.ingest.deletes;
        d.unmatched_rows += rows - hit;
        match order {
            DeleteOrder::Uniform => {
                let (mut cum, mut given) = (0u128, 0u64);
                for (k, n) in live {
                    cum += n as u128;
                    let upto = (cum * hit as u128 / total.max(1) as u128) as u64;
                    self.ingest.segments[k].deleted += upto - given;
                    given = upto;
                }
            }
            DeleteOrder::Oldest => {
                let mut live = live;
                let segs = &self.ingest.segments;
                live.sort_by_key(|&(k, _)| (segs[k].oldest_row, k));
                let mut left = hit;
                for (k, n) in live {
                    let take = left.min(n);
                    self.ingest.segments[k].deleted += take;
                    left -= take;
                    if left == 0 {
                        break;
                    }
                }
            }
        }
    }

    /// CPU work of a query by key on the growing segments of `replica`'s `shard`
    /// (each keeps its keys with their offsets, like a sealed one; see `retrieve`).
    pub fn growing_query_ns(&self, replica: usize, shard: usize) -> f64 {
        let rows = self.ingest.growing(replica, shard);
        let ids = self.query.map_or(0, |q| q.ids);
        let seal = self.ingest.seal_rows.max(1);
        growing_segments_cost(rows, seal, |n| super::retrieve::query_segment_ns(n, ids))
    }

    /// CPU work of an expression delete's query on the growing segments of
    /// `replica`'s `shard`, led by query node `node`: the filter scans their rows as
    /// it scans a sealed segment's.
    pub fn growing_filter_ns(&self, node: usize, replica: usize, shard: usize) -> f64 {
        let rows = self.ingest.growing(replica, shard);
        let cost = &self.hosts[self.tasks[self.query_node_tasks[node]].host].cost;
        let seal = self.ingest.seal_rows.max(1);
        growing_segments_cost(rows, seal, |n| super::retrieve::filter_segment_ns(cost, n))
    }

    /// Memory a query node takes (positive) or gives back (negative).
    pub fn hold_memory(&mut self, task: usize, bytes: i64, now: SimTime) {
        let (host, u) = (self.tasks[task].host, self.tasks[task].usage);
        if bytes > 0 {
            // Over-commit is what the load guard is for; growing data and buffers are
            // not refused. Past the host's memory the kernel would kill a process
            // (not modelled): the event says so once per host.
            let over = self.hosts[host].memory.overcommit(bytes as u64);
            if over && !self.hosts[host].overcommitted {
                self.hosts[host].overcommitted = true;
                let m = &self.hosts[host].memory;
                let detail = format!(
                    "host memory over-committed: {} in use of {}; a real host would kill a process here (not modelled)",
                    crate::scenario::units::format_bytes(m.used_bytes()),
                    crate::scenario::units::format_bytes(m.capacity_bytes())
                );
                self.task_event(now, "memory_overcommitted", task, detail);
            }
        } else {
            self.hosts[host].memory.free(bytes.unsigned_abs());
        }
        let held = self.usage[u].memory_bytes.saturating_add_signed(bytes);
        self.usage[u].set_memory(now, held);
    }
}

/// MinIO's default STANDARD parity for an erasure set of `drives` drives (reference
/// §2.9 gives EC:4 for 8-16 drives; below that, GUESS: MinIO's documented table of
/// 2 for 4-5 drives and 3 for 6-7, none for fewer).
pub fn minio_parity(drives: usize) -> usize {
    match drives {
        0..=3 => 0,
        4..=5 => 2,
        6..=7 => 3,
        _ => 4,
    }
}

/// A growing segment is searched through its interim index once it holds this many
/// rows (reference §1.8: max(0.1 x max rows, nlist x 39)).
pub fn interim_index_rows(max_rows: u64, nlist: u64) -> u64 {
    (max_rows / 10).max(nlist * 39)
}

/// GUESS: how long a failed insert's client waits before it learns (the RPC error).
pub const INSERT_ERROR_AFTER: SimDuration = SimDuration::from_millis(200);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parity_follows_the_erasure_set_size() {
        // reference §2.9: 4 servers x 2 drives = EC:4; write quorum 5 of 8.
        assert_eq!(minio_parity(8), 4);
        assert_eq!(minio_parity(16), 4);
        assert_eq!(minio_parity(4), 2);
    }

    #[test]
    fn interim_threshold_matches_the_reference() {
        // reference §1.13: 130,816 max rows at dim 1024 -> 13,081 rows.
        assert_eq!(interim_index_rows(130_816, 128), 13_081);
        assert_eq!(interim_index_rows(10_000, 128), 4_992);
    }
}
