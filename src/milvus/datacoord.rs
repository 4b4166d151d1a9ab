//! Data coordinator (reference §1.5, §3.3 steps 2 and 6-7): assigns each insert's
//! rows to a growing segment, seals growing segments, asks the data nodes to flush sealed ones, and
//! schedules index builds on the index nodes (index coordination lives in datacoord in
//! 2.3, reference §1.9).

use std::collections::{BTreeMap, VecDeque};

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::hw::IndexKind;

use super::ingest::{Part, Plan, SegRt, SegState};
use super::msg::{Msg, Req, Ts};
use super::overheads::CONTROL_RPC_BYTES;
use super::rootcoord::ts_offset;
use super::world::{send_to, World};
use crate::scenario::topology::ServiceKind;

/// Datacoord's settings, from the Milvus keys of the experiment.
#[derive(Clone, Debug)]
pub struct DataCoordConfig {
    /// reference §1.5 dataCoord.segment.assignmentExpiration.
    pub assignment_expiration: SimDuration,
    /// reference §1.5 dataCoord.segment.maxIdleTime and minSizeFromIdleToSealed.
    pub max_idle: SimDuration,
    pub idle_min_bytes: u64,
    /// reference §1.1 datanode.timetick.interval: the data nodes report the rows they
    /// consumed on it, and seal and flush decisions run on it.
    pub tick: SimDuration,
    /// reference §1.5 indexCoord.scheduler.interval.
    pub builder_interval: SimDuration,
    /// reference §1.5 minSegmentNumRowsToEnableIndex.
    pub min_index_rows: u64,
    /// reference §1.9 indexNode.scheduler.buildParallel.
    pub builds_per_node: u32,
    /// reference §1.5 compaction: on or off, the global trigger's period, and the
    /// segment max rows its proportions apply to.
    pub compaction: bool,
    pub compaction_interval: SimDuration,
    pub max_rows: u64,
}

/// reference §1.5: a segment below this share of max rows is "small".
const SMALL_PROPORTION: f64 = 0.5;
/// reference §1.5: a plan must reach this share of max rows, or have MIN_SEGMENTS.
const COMPACTABLE_PROPORTION: f64 = 0.85;
/// reference §1.5: a merged segment may reach this multiple of max rows.
const EXPANSION_RATE: f64 = 1.25;
/// reference §1.5: segments per merge plan.
const MIN_SEGMENTS: usize = 3;
const MAX_SEGMENTS: usize = 30;
/// reference §1.5 workerMaxParallelTaskNum: merges at once per data node.
const MERGES_PER_DATA_NODE: u32 = 2;

pub struct DataCoord {
    pub task: usize,
    cfg: DataCoordConfig,
    /// Per shard: the growing segments that may take new rows, oldest first.
    growing: Vec<Vec<u32>>,
    /// Per growing segment: its allocations (expiry timestamp, rows) not yet expired.
    allocations: BTreeMap<u32, Vec<(Ts, u64)>>,
    /// Per shard: the channel position its data node last reported (a time tick).
    reported_ts: Vec<Ts>,
    /// Index nodes: (actor, task, builds running).
    index_nodes: Vec<(ActorId, usize, u32)>,
    /// Flushed segments waiting for an index node, oldest first.
    to_build: VecDeque<u32>,
    /// Where each build runs: segment -> index node.
    building: Vec<(u32, usize, u8)>,
    /// Merge plans running per data node (actor).
    merging: std::collections::BTreeMap<ActorId, u32>,
    /// The data nodes, and per shard when datacoord first saw its node gone.
    data_nodes: Vec<ActorId>,
    lost_since: Vec<Option<SimTime>>,
    /// Per shard: the incarnation of the data node that watches it.
    watcher_gen: Vec<u8>,
}

impl DataCoord {
    pub fn new(
        task: usize,
        cfg: DataCoordConfig,
        shards: usize,
        index_nodes: Vec<(ActorId, usize)>,
        data_nodes: Vec<ActorId>,
    ) -> Self {
        DataCoord {
            task,
            cfg,
            growing: vec![Vec::new(); shards],
            allocations: BTreeMap::new(),
            reported_ts: vec![0; shards],
            index_nodes: index_nodes.into_iter().map(|(a, t)| (a, t, 0)).collect(),
            to_build: VecDeque::new(),
            building: Vec::new(),
            merging: Default::default(),
            data_nodes,
            lost_since: vec![None; shards],
            watcher_gen: vec![0; shards],
        }
    }

    /// A restarted datacoord reloads its meta and resumes its loops (reference §2.5: a
    /// restarted coordinator reloads all of its metadata from etcd). The build table is
    /// part of that meta (each segment index's node and state), so builds still running
    /// on live index nodes are waited for, not run again: the builder tick gives a build
    /// back to the queue only when its node's incarnation is gone, and reports sent
    /// while datacoord was down reach it once it is back.
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        // A restarted datacoord reloads its segments from etcd (reference §2.5), but
        // the row allocations lived in the old process's memory only (Milvus 2.3's
        // SegmentManager; inference from the source): free room is max rows less
        // what the data node reports. When a sealed segment may flush still follows
        // its last allocation, which the segment's meta keeps (LastExpireTime).
        self.allocations.clear();
        ctx.set_timer(self.cfg.tick, Msg::DataCoordTick);
        ctx.set_timer(self.cfg.builder_interval, Msg::IndexBuilderTick);
        if self.cfg.compaction {
            ctx.set_timer(self.cfg.compaction_interval, Msg::CompactionTick);
        }
        if ctx.world.storage.gc_enabled {
            // A fresh loop; a timer of the old incarnation finds it is not due.
            let every = ctx.world.storage.gc_interval;
            ctx.world.storage.gc_due = ctx.now() + every;
            ctx.set_timer(every, Msg::GcTick);
        }
    }

    /// reference §3.3 step 2: AssignSegmentID. Rows hash evenly over the shards;
    /// the proxy asks for each shard's rows of one insert, exactly (measured on Milvus
    /// 2.3.5, experiments/fidelity segments.py: one AssignSegmentID per Insert request,
    /// no cached quota, where reference §1.4 has the proxy ask for 20,000 rows).
    pub fn on_segments_requested(
        &mut self,
        req: Req,
        proxy: ActorId,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        // reference §2.7: new segments are recorded in etcd; without a quorum the
        // allocation fails. A dropped collection gets none (GUESS: datacoord finds
        // no collection; an insert already past the proxy's check fails here).
        let ok = ctx.world.etcd_writable() && !ctx.world.ddl.collection_dropped();
        if ok {
            let ins = &ctx.world.ingest.inserts[req as usize];
            let (rows, ts) = (ins.rows, ins.ts);
            let expiry = ts + ts_offset(self.cfg.assignment_expiration);
            let shards = self.growing.len() as u64;
            let mut parts = Vec::new();
            for shard in 0..shards {
                let n = rows / shards + u64::from(shard < rows % shards);
                if n > 0 {
                    self.allocate(shard as usize, n, (now, expiry), &mut parts, ctx);
                }
            }
            ctx.world.ingest.inserts[req as usize].parts = parts;
        }
        send_to(
            ctx,
            self.task,
            proxy,
            CONTROL_RPC_BYTES,
            Msg::SegmentsAssigned { req, ok },
        );
    }

    /// Milvus 2.3 AllocatePolicyL1 (measured, experiments/fidelity segments.py): a
    /// request goes whole into the first growing segment of its shard whose free rows
    /// (max rows - the rows the data node reported - allocations not yet expired)
    /// hold it, else into a new segment; it is never split, except that rows beyond
    /// max rows fill new segments of max rows. An allocation expires
    /// assignmentExpiration (reference §1.5) after its timestamp, once the data
    /// node's reported position passes that (Milvus 2.3 datacoord ExpireAllocations
    /// on the data node's time tick, inference from the source): rows the data node
    /// has not consumed yet always count, so a stalled data node cannot make a
    /// segment overflow, unless datacoord restarted meanwhile and lost its
    /// allocations (`on_start`), as Milvus 2.3's does.
    fn allocate(
        &mut self,
        shard: usize,
        mut rows: u64,
        (now, expiry): (SimTime, Ts),
        parts: &mut Vec<Part>,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let max_rows = ctx.world.ingest.max_rows;
        while rows >= max_rows {
            let seg = self.create(shard, now, ctx);
            self.assign(seg, max_rows, (now, expiry), parts, ctx);
            rows -= max_rows;
        }
        if rows == 0 {
            return;
        }
        let mut room = None;
        for &seg in &self.growing[shard] {
            let recent = self
                .allocations
                .get(&seg)
                .map_or(0, |a| a.iter().map(|x| x.1).sum::<u64>());
            let s = &ctx.world.ingest.segments[seg as usize];
            if max_rows.saturating_sub(s.reported_rows + recent) >= rows {
                room = Some(seg);
                break;
            }
        }
        let seg = match room {
            Some(seg) => seg,
            None => self.create(shard, now, ctx),
        };
        self.assign(seg, rows, (now, expiry), parts, ctx);
    }

    fn assign(
        &mut self,
        seg: u32,
        rows: u64,
        (now, expiry): (SimTime, Ts),
        parts: &mut Vec<Part>,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let s = &mut ctx.world.ingest.segments[seg as usize];
        s.allocated += rows;
        s.last_alloc = now;
        self.allocations
            .entry(seg)
            .or_default()
            .push((expiry, rows));
        parts.push(Part {
            shard: s.shard as u8,
            segment: seg,
            rows: rows as u32,
            delete: false,
        });
    }

    fn create(&mut self, shard: usize, now: SimTime, ctx: &mut Ctx<'_, Msg, World>) -> u32 {
        let w = &mut ctx.world.ingest;
        let id = w.segments.len() as u32;
        // Ids continue after the segments loaded at the start.
        let seg_id = w.id_base + id as u64 + 1;
        w.segments.push(SegRt {
            growing_copy: true,
            ..SegRt::new(seg_id, shard as u32, SegState::Growing, now)
        });
        self.growing[shard].push(id);
        ctx.world.task_event(
            now,
            "segment_created",
            self.task,
            format!("segment {seg_id} shard {shard}: growing"),
        );
        id
    }

    fn seal(&mut self, seg: u32, why: &str, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let s = &mut ctx.world.ingest.segments[seg as usize];
        s.state = SegState::Sealed;
        s.sealed = Some(now);
        let (id, shard, rows) = (s.id, s.shard, s.allocated);
        self.growing[shard as usize].retain(|&k| k != seg);
        self.allocations.remove(&seg);
        ctx.world.task_event(
            now,
            "segment_sealed",
            self.task,
            format!("segment {id} shard {shard} rows {rows}: sealed ({why})"),
        );
    }

    /// reference §1.5 seal and flush policies, decided on each data-node tick: the
    /// data node reports the rows it has consumed per segment (reference §1.1
    /// datanode.timetick.interval, by RPC; the RPC's own time is left out), and a
    /// segment is sealed once that count reaches sealProportion x max rows. Inserts
    /// keep landing in the segment until then, so it overshoots the seal point by
    /// what arrives while the data node catches up and the tick comes (measured on
    /// Milvus 2.3.5, experiments/fidelity segments.py).
    pub fn on_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if now < ctx.world.end {
            ctx.set_timer(self.cfg.tick, Msg::DataCoordTick);
        }
        // A dropped collection's segments are done with.
        if ctx.world.ddl.drop_segments_dropped.is_some() || !ctx.world.etcd_writable() {
            return;
        }
        self.create_index_when_due(ctx);
        self.watch_lost_channels(ctx);
        let row_bytes = ctx.world.ingest.row_bytes;
        let flush_all = ctx.world.ingest.flush_requested;
        let seal_rows = ctx.world.ingest.seal_rows;
        for shard in 0..self.growing.len() {
            let dn = ctx.world.ingest.data_node_of_shard[shard];
            let reporting = ctx.world.tasks[ctx.world.task_of(dn)].up;
            if reporting {
                self.reported_ts[shard] = ctx.world.ingest.consumed_ts[shard];
            }
            let position = self.reported_ts[shard];
            for seg in self.growing[shard].clone() {
                if let Some(a) = self.allocations.get_mut(&seg) {
                    a.retain(|&(expiry, _)| expiry > position);
                }
                let s = &mut ctx.world.ingest.segments[seg as usize];
                if reporting {
                    s.reported_rows = s.rows;
                }
                if s.allocated == 0 {
                    continue;
                }
                if flush_all {
                    self.seal(seg, "flush called", ctx);
                } else if s.reported_rows >= seal_rows {
                    self.seal(seg, "full", ctx);
                } else if now >= s.last_alloc + self.cfg.max_idle
                    && s.allocated * row_bytes >= self.cfg.idle_min_bytes
                {
                    self.seal(seg, "idle", ctx);
                }
            }
        }
        ctx.world.ingest.flush_requested = false;
        // reference §1.5 flush policy: sealed, and every allocation has expired.
        for seg in 0..ctx.world.ingest.segments.len() {
            let s = &ctx.world.ingest.segments[seg];
            if s.state != SegState::Sealed || now < s.last_alloc + self.cfg.assignment_expiration {
                continue;
            }
            let shard = s.shard as usize;
            ctx.world.ingest.segments[seg].state = SegState::Flushing;
            let dn = ctx.world.ingest.data_node_of_shard[shard];
            send_to(
                ctx,
                self.task,
                dn,
                CONTROL_RPC_BYTES,
                Msg::FlushSegment {
                    segment: seg as u32,
                },
            );
        }
    }

    /// reference §3.3 step 6: the data node wrote the last binlogs; the segment is
    /// Flushed and goes to the index builder.
    pub fn on_segment_flushed(&mut self, seg: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let s = &mut ctx.world.ingest.segments[seg as usize];
        if s.state != SegState::Flushing {
            return;
        }
        s.state = SegState::Flushed;
        s.flushed = Some(now);
        let (id, shard, rows, bytes) = (s.id, s.shard, s.rows, s.binlog_bytes);
        ctx.world.ingest.flushed_rows += rows;
        ctx.world.task_event(
            now,
            "segment_flushed",
            self.task,
            format!("segment {id} shard {shard} rows {rows} binlog bytes {bytes}: flushed"),
        );
        self.queue_for_index(seg, ctx);
        // A flush signals the compaction trigger for its channel at once (Milvus 2.3
        // datacoord SaveBinlogPaths -> triggerSingleCompaction; not in the reference,
        // whose §3.3 step 9 names the 60 s global trigger): the channel's indexed
        // small segments are planned now rather than at the next tick.
        if self.cfg.compaction && ctx.world.etcd_writable() {
            self.plan_compactions(shard as usize, ctx);
        }
    }

    /// The application's create_index() (`[workload.ddl]`): datacoord records the
    /// index in etcd (it needs a quorum, hence on the tick) and every flushed
    /// segment goes to the index builder (reference §3.3 step 7). "after_flush" is
    /// when the insert workload's flush() returns: every segment it wrote is
    /// flushed.
    fn create_index_when_due(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        use crate::scenario::experiment::DdlWhen;
        let now = ctx.now();
        let w = &*ctx.world;
        // The application calls it once create_collection() returned.
        if w.ddl.index_exists() || !w.ddl.collection_exists() {
            return;
        }
        let due = match w.ddl.spec.create_index {
            DdlWhen::At(t) => now >= SimTime::ZERO + t,
            DdlWhen::AfterFlush => {
                w.ingest.inserts_done
                    && w.ingest.segments.iter().all(|s| {
                        s.merged_by.is_some()
                            || !matches!(
                                s.state,
                                SegState::Growing | SegState::Sealed | SegState::Flushing
                            )
                    })
            }
            DdlWhen::Start | DdlWhen::AfterIndex => false,
        };
        if !due || w.ddl.create_index_called.is_some() {
            return;
        }
        // The call crosses the control plane before datacoord has the index; a step
        // that cannot be taken now fails it, and the application calls again at the
        // next tick.
        let Ok(path) = super::ddl::path(w, super::ddl::Call::CreateIndex) else {
            return;
        };
        ctx.world.ddl.create_index_called = Some(now);
        ctx.world.ddl.create_index_returned = Some(now + path.returned);
        let gen = ctx.world.tasks[self.task].gen;
        ctx.set_timer(path.applied, Msg::DdlIndexApplied { gen });
    }

    /// create_index() reached datacoord and its meta is in etcd: every flushed
    /// segment goes to the index builder (reference §3.3 step 7). An incarnation
    /// that died meanwhile never recorded it: the call failed.
    pub fn on_index_applied(&mut self, gen: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if gen != ctx.world.tasks[self.task].gen {
            return super::ddl::lost(ctx.world, now, super::ddl::Lost::CreateIndex);
        }
        ctx.world.ddl.index_created = Some(now);
        let flushed: Vec<u32> = (0..ctx.world.ingest.segments.len() as u32)
            .filter(|&k| ctx.world.ingest.segments[k as usize].state == SegState::Flushed)
            .collect();
        ctx.world.task_event(
            now,
            "index_created",
            self.task,
            format!(
                "create_index(): the index is recorded; {} flushed segment(s) go to the index builder",
                flushed.len()
            ),
        );
        for seg in flushed {
            self.queue_for_index(seg, ctx);
        }
    }

    /// drop_collection()'s index step (rootcoord's dropIndexStep: datacoord marks
    /// the collection's index deleted in etcd), then its data step: rootcoord writes
    /// a drop mark into each DML channel of the collection (deleteCollectionDataStep;
    /// GUESS: it reaches the data nodes in one hop from rootcoord), the data nodes
    /// stop consuming and let go of their buffers, and report the segments dropped,
    /// which datacoord writes to etcd ([`on_drop_segments`](Self::on_drop_segments)).
    pub fn on_drop_index(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        if !super::ddl::drop_step_ready(ctx, self.task, Msg::DdlDropIndex) {
            return;
        }
        let now = ctx.now();
        ctx.world.ddl.drop_index_dropped = Some(now);
        self.to_build.clear();
        ctx.world.task_event(
            now,
            "index_dropped",
            self.task,
            "drop_collection(): datacoord dropped the collection's index".into(),
        );
        let w = &*ctx.world;
        let rootcoord = super::ddl::running(w, ServiceKind::Rootcoord).unwrap_or(self.task);
        let to_rootcoord = super::ddl::drop_hop(w, self.task, rootcoord);
        let mut reported = SimDuration::ZERO;
        let mut marks = Vec::new();
        for &dn in &self.data_nodes {
            let t = w.task_of(dn);
            let mark = to_rootcoord + super::ddl::drop_hop(w, rootcoord, t);
            reported = reported.max(mark + super::ddl::drop_hop(w, t, self.task));
            marks.push((dn, mark));
        }
        let write = super::ddl::drop_write(w, self.task);
        for (dn, mark) in marks {
            ctx.send(dn, Msg::DdlDropChannels, mark);
        }
        ctx.set_timer(reported.max(to_rootcoord) + write, Msg::DdlDropSegments);
    }

    /// Every segment of the dropped collection is marked dropped in datacoord's
    /// meta: its files (binlogs, deltalogs, index files) are garbage from now, which
    /// the garbage collector removes after dropTolerance (reference §1.5). Nothing
    /// more is sealed, flushed, built or merged.
    pub fn on_drop_segments(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        if !super::ddl::drop_step_ready(ctx, self.task, Msg::DdlDropSegments) {
            return;
        }
        let now = ctx.now();
        let st = &mut ctx.world.storage;
        let bytes = st.live_bytes;
        st.drop_files(now, bytes);
        ctx.world.ddl.drop_bytes = bytes;
        ctx.world.ddl.drop_segments_dropped = Some(now);
        ctx.world.ingest.segments_dropped = true;
        self.to_build.clear();
        ctx.world.task_event(
            now,
            "segments_dropped",
            self.task,
            format!(
                "drop_collection(): datacoord marked the collection's segments dropped; {:.3} GB of files wait for garbage collection",
                bytes as f64 / 1e9
            ),
        );
    }

    /// A flushed segment goes to the index builder (once the index exists: before
    /// create_index() flushed segments wait unindexed).
    fn queue_for_index(&mut self, seg: u32, ctx: &mut Ctx<'_, Msg, World>) {
        if !ctx.world.ddl.index_exists() {
            return;
        }
        let rows = ctx.world.ingest.segments[seg as usize].rows;
        // reference §1.5: small segments and FLAT are marked indexed without a build.
        if rows < self.cfg.min_index_rows || ctx.world.index.kind == IndexKind::Flat {
            self.indexed(seg, None, ctx);
        } else {
            self.to_build.push_back(seg);
        }
    }

    /// reference §3.3 step 7: each loop hands flushed segments to index nodes with a
    /// free slot, oldest first.
    pub fn on_index_builder_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if now < ctx.world.end {
            ctx.set_timer(self.cfg.builder_interval, Msg::IndexBuilderTick);
        }
        // A dropped collection's segments are done with.
        if ctx.world.ddl.drop_segments_dropped.is_some() || !ctx.world.etcd_writable() {
            return;
        }
        // reference §2.4: a build on an index node that died goes back to the queue
        // once its lease expires (indexNodeManager.RemoveNode), or once it has
        // restarted (the new process knows nothing of the build).
        let mut lost = Vec::new();
        let ttl = ctx.world.failover.session_ttl;
        self.building.retain(|&(seg, n, gen)| {
            let t = &ctx.world.tasks[self.index_nodes[n].1];
            let gone = if t.up {
                t.gen != gen
            } else {
                t.down_at.is_none_or(|d| now >= d + ttl)
            };
            if gone {
                lost.push(seg);
            }
            !gone
        });
        for seg in lost.into_iter().rev() {
            ctx.world.ingest.segments[seg as usize].state = SegState::Flushed;
            self.to_build.push_front(seg);
        }
        for n in 0..self.index_nodes.len() {
            let count = self.building.iter().filter(|b| b.1 == n).count() as u32;
            self.index_nodes[n].2 = count;
        }
        while let Some(&seg) = self.to_build.front() {
            let Some(n) = (0..self.index_nodes.len()).find(|&n| {
                let (_, t, running) = self.index_nodes[n];
                ctx.world.tasks[t].up && running < self.cfg.builds_per_node
            }) else {
                break;
            };
            self.to_build.pop_front();
            self.index_nodes[n].2 += 1;
            let gen = ctx.world.tasks[self.index_nodes[n].1].gen;
            self.building.push((seg, n, gen));
            let (actor, task, _) = self.index_nodes[n];
            let s = &mut ctx.world.ingest.segments[seg as usize];
            s.state = SegState::Indexing;
            let (id, rows) = (s.id, s.rows);
            ctx.world.ingest.builds += 1;
            if ctx.world.ingest.first_build.is_none() {
                ctx.world.ingest.first_build = Some(now);
            }
            let name = ctx.world.tasks[task].name.clone();
            ctx.world.task_event(
                now,
                "index_build_started",
                self.task,
                format!("segment {id} rows {rows}: index build on {name}"),
            );
            send_to(
                ctx,
                self.task,
                actor,
                CONTROL_RPC_BYTES,
                Msg::BuildIndex { segment: seg, gen },
            );
        }
    }

    /// A build finished: it counts if it is the one assigned (segment, node and the
    /// node's incarnation), not a dead incarnation's.
    pub fn on_index_built(
        &mut self,
        seg: u32,
        node: usize,
        gen: u8,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let Some(i) = self.building.iter().position(|&b| b == (seg, node, gen)) else {
            return;
        };
        self.building.swap_remove(i);
        self.index_nodes[node].2 = self.index_nodes[node].2.saturating_sub(1);
        let task = self.index_nodes[node].1;
        // A build that finishes after drop_collection() dropped the index leaves
        // files only (garbage once the segments are dropped).
        if ctx.world.ddl.drop_index_dropped.is_some() {
            return;
        }
        self.indexed(seg, Some(task), ctx);
    }

    fn indexed(&mut self, seg: u32, by: Option<usize>, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let s = &mut ctx.world.ingest.segments[seg as usize];
        s.state = SegState::Indexed;
        s.indexed = Some(now);
        let (id, rows) = (s.id, s.rows);
        let detail = match by {
            Some(t) => format!(
                "segment {id} rows {rows}: index built by {}",
                ctx.world.tasks[t].name
            ),
            None => format!("segment {id} rows {rows}: no build needed (small segment or FLAT)"),
        };
        ctx.world
            .task_event(now, "segment_indexed", by.unwrap_or(self.task), detail);
        if by.is_some() {
            ctx.world.ingest.last_build = Some(now);
        }
    }

    /// reference §1.5 and §3.3 step 9: every global interval, each shard's small
    /// indexed segments are packed, largest first, into merge plans of 3-30 segments
    /// up to 1.25 x max rows; a plan runs if it has 3 segments or reaches 0.85 x max
    /// rows. The shard's data node merges (at most 2 plans at once).
    pub fn on_compaction_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if now < ctx.world.end {
            ctx.set_timer(self.cfg.compaction_interval, Msg::CompactionTick);
        }
        // A dropped collection's segments are done with.
        if ctx.world.ddl.drop_segments_dropped.is_some()
            || !self.cfg.compaction
            || !ctx.world.etcd_writable()
        {
            return;
        }
        for shard in 0..self.growing.len() {
            self.plan_compactions(shard, ctx);
        }
    }

    /// Plans the compactions of one channel: single-segment rewrites for deletes, then
    /// merges of small indexed segments (reference §1.5, §3.3 step 9).
    fn plan_compactions(&mut self, shard: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let max = self.cfg.max_rows as f64;
        let dn = ctx.world.ingest.data_node_of_shard[shard];
        if !ctx.world.tasks[ctx.world.task_of(dn)].up {
            return;
        }
        // reference §1.5 single-segment compaction: an indexed segment with enough
        // of its rows deleted is rewritten alone, without them.
        let due: Vec<u32> = (0..ctx.world.ingest.segments.len() as u32)
            .filter(|&k| {
                let w = &ctx.world.ingest;
                let s = &w.segments[k as usize];
                s.shard as usize == shard
                    && s.state == SegState::Indexed
                    && w.deletes.compaction_due(s)
            })
            .collect();
        for k in due {
            if *self.merging.get(&dn).unwrap_or(&0) >= MERGES_PER_DATA_NODE {
                break;
            }
            ctx.world.ingest.deletes.compactions += 1;
            self.start_merge(shard, vec![k], dn, ctx);
        }
        let mut small: Vec<u32> = (0..ctx.world.ingest.segments.len() as u32)
            .filter(|&k| {
                let s = &ctx.world.ingest.segments[k as usize];
                s.shard as usize == shard
                    && s.state == SegState::Indexed
                    && s.live_rows() > 0
                    && (s.live_rows() as f64) < SMALL_PROPORTION * max
            })
            .collect();
        small.sort_by_key(|&k| {
            let s = &ctx.world.ingest.segments[k as usize];
            (std::cmp::Reverse(s.live_rows()), s.id)
        });
        while small.len() >= 2 && *self.merging.get(&dn).unwrap_or(&0) < MERGES_PER_DATA_NODE {
            let mut plan = Vec::new();
            let mut total = 0u64;
            small.retain(|&k| {
                let rows = ctx.world.ingest.segments[k as usize].live_rows();
                if plan.len() < MAX_SEGMENTS && (total + rows) as f64 <= EXPANSION_RATE * max {
                    plan.push(k);
                    total += rows;
                    false
                } else {
                    true
                }
            });
            let worth = plan.len() >= MIN_SEGMENTS || total as f64 >= COMPACTABLE_PROPORTION * max;
            if plan.len() < 2 || !worth {
                break;
            }
            self.start_merge(shard, plan, dn, ctx);
        }
    }

    /// A merge of `inputs` into a new segment: the rows their deltalogs delete go
    /// (compaction reads the deltalogs), deletes not yet in a deltalog carry over.
    fn start_merge(
        &mut self,
        shard: usize,
        inputs: Vec<u32>,
        dn: ActorId,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        let w = &mut *ctx.world;
        let (mut rows, mut gone, mut later) = (0, 0, 0);
        for &k in &inputs {
            let s = &w.ingest.segments[k as usize];
            rows += s.rows - s.deleted_synced;
            gone += s.deleted_synced;
            later += s.deleted - s.deleted_synced;
        }
        w.ingest.deletes.rows_compacted_away += gone;
        let plan = w.ingest.plans.len() as u32;
        let output = w.ingest.segments.len() as u32;
        let id = w.ingest.id_base + output as u64 + 1;
        let oldest_row = inputs
            .iter()
            .map(|&k| w.ingest.segments[k as usize].oldest_row)
            .min()
            .unwrap_or(now);
        w.ingest.segments.push(SegRt {
            allocated: rows,
            rows,
            sealed: Some(now),
            merged_by: Some(plan),
            deleted: later,
            oldest_row,
            ..SegRt::new(id, shard as u32, SegState::Flushing, now)
        });
        for &k in &inputs {
            w.ingest.segments[k as usize].state = SegState::Compacting;
        }
        let ids: Vec<String> = inputs
            .iter()
            .map(|&k| w.ingest.segments[k as usize].id.to_string())
            .collect();
        w.ingest.plans.push(Plan {
            shard: shard as u32,
            inputs,
            output,
            data_node: w.task_of(dn),
            started: now,
        });
        *self.merging.entry(dn).or_insert(0) += 1;
        ctx.world.task_event(
            now,
            "compaction_started",
            self.task,
            format!(
                "shard {shard}: segments {} ({rows} rows) merge into segment {id}",
                ids.join(", ")
            ),
        );
        send_to(ctx, self.task, dn, CONTROL_RPC_BYTES, Msg::Compact { plan });
    }

    /// The data node wrote the merged segment: it is flushed and goes to the index
    /// builder; its inputs stay served until it is loaded (reference §3.3 step 9).
    pub fn on_compaction_done(&mut self, plan: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let p = ctx.world.ingest.plans[plan as usize].clone();
        // A report of a plan done already (sent twice, or by the node it ran on
        // before the channel moved) changes nothing.
        if ctx.world.ingest.segments[p.output as usize].state != SegState::Flushing {
            return;
        }
        let dn = ctx.world.ingest.data_node_of_shard[p.shard as usize];
        if let Some(n) = self.merging.get_mut(&dn) {
            *n = n.saturating_sub(1);
        }
        let s = &mut ctx.world.ingest.segments[p.output as usize];
        s.state = SegState::Flushed;
        s.flushed = Some(now);
        s.binlog_bytes = s.rows * ctx.world.ingest.row_bytes;
        let (id, rows) = (s.id, s.rows);
        ctx.world.task_event(
            now,
            "compaction_finished",
            self.task,
            format!(
                "segment {id} rows {rows}: merged from {} segments in {:.1} s",
                p.inputs.len(),
                now.since(p.started).as_secs_f64()
            ),
        );
        self.queue_for_index(p.output, ctx);
    }

    /// reference §2.3: when a data node's session expires (datacoord notices the
    /// process gone and waits out its lease), its DML channels move to the running
    /// data node with the fewest; the new node replays each from its checkpoint, and
    /// flushes and merges that the dead node had in hand are asked of it again.
    fn watch_lost_channels(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let ttl = ctx.world.failover.session_ttl;
        for shard in 0..self.lost_since.len() {
            let dn = ctx.world.ingest.data_node_of_shard[shard];
            let up = |a: ActorId, w: &World| w.tasks[w.task_of(a)].up;
            // A restarted process lost its channels with its memory.
            let restarted = ctx.world.tasks[ctx.world.task_of(dn)].gen != self.watcher_gen[shard];
            if up(dn, ctx.world) && !restarted && self.lost_since[shard].is_none() {
                continue;
            }
            let since = *self.lost_since[shard].get_or_insert(now);
            // The old session expires a lease after the crash; a restarted node
            // registering a new one means it has (GUESS, reference §2.1).
            let back = up(dn, ctx.world) && restarted;
            if now < since + ttl && !back {
                continue;
            }
            let Some(&to) = self
                .data_nodes
                .iter()
                .filter(|&&a| up(a, ctx.world))
                .min_by_key(|&&a| {
                    let n = ctx
                        .world
                        .ingest
                        .data_node_of_shard
                        .iter()
                        .filter(|&&x| x == a)
                        .count();
                    (n, a)
                })
            else {
                continue;
            };
            self.lost_since[shard] = None;
            ctx.world.ingest.data_node_of_shard[shard] = to;
            self.watcher_gen[shard] = ctx.world.tasks[ctx.world.task_of(to)].gen;
            self.merging.remove(&dn);
            let to_task = ctx.world.task_of(to);
            let name = ctx.world.tasks[to_task].name.clone();
            ctx.world.task_event(
                now,
                "dml_channel_reassigned",
                self.task,
                format!("shard {shard}: its data node is gone; {name} watches the channel and replays it from the checkpoint"),
            );
            send_to(
                ctx,
                self.task,
                to,
                CONTROL_RPC_BYTES,
                Msg::ChannelWatch { shard: shard as u8 },
            );
            // Merges the dead node had in hand run again on the new one.
            let plans: Vec<u32> = (0..ctx.world.ingest.plans.len() as u32)
                .filter(|&p| {
                    let plan = &ctx.world.ingest.plans[p as usize];
                    plan.shard as usize == shard
                        && ctx.world.ingest.segments[plan.output as usize].state
                            == SegState::Flushing
                })
                .collect();
            for plan in plans {
                ctx.world.ingest.plans[plan as usize].data_node = to_task;
                *self.merging.entry(to).or_insert(0) += 1;
                send_to(ctx, self.task, to, CONTROL_RPC_BYTES, Msg::Compact { plan });
            }
        }
    }
}
