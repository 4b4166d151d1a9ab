//! Data coordinator (reference §1.5, §3.3 steps 2 and 6-7): hands out segment row
//! quotas, seals growing segments, asks the data nodes to flush sealed ones, and
//! schedules index builds on the index nodes (index coordination lives in datacoord in
//! 2.3, reference §1.9).

use std::collections::VecDeque;

use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::hw::IndexKind;

use super::ingest::{Part, SegRt, SegState};
use super::msg::{Msg, Req};
use super::overheads::CONTROL_RPC_BYTES;
use super::world::{send_net, Endpoint, World};

/// Datacoord's settings, from the Milvus keys of the experiment.
#[derive(Clone, Debug)]
pub struct DataCoordConfig {
    /// reference §1.5 dataCoord.segment.assignmentExpiration.
    pub assignment_expiration: SimDuration,
    /// reference §1.5 dataCoord.segment.maxIdleTime and minSizeFromIdleToSealed.
    pub max_idle: SimDuration,
    pub idle_min_bytes: u64,
    /// reference §1.1 datanode.timetick.interval: seal and flush decisions run on it.
    pub tick: SimDuration,
    /// reference §1.5 indexCoord.scheduler.interval.
    pub builder_interval: SimDuration,
    /// reference §1.5 minSegmentNumRowsToEnableIndex.
    pub min_index_rows: u64,
    /// reference §1.9 indexNode.scheduler.buildParallel.
    pub builds_per_node: u32,
}

pub struct DataCoord {
    pub task: usize,
    cfg: DataCoordConfig,
    /// Per shard: the growing segment taking new rows.
    growing: Vec<Option<u32>>,
    /// Index nodes: (actor, task, builds running).
    index_nodes: Vec<(ActorId, usize, u32)>,
    /// Flushed segments waiting for an index node, oldest first.
    to_build: VecDeque<u32>,
    /// Where each build runs: segment -> index node.
    building: Vec<(u32, usize)>,
}

impl DataCoord {
    pub fn new(
        task: usize,
        cfg: DataCoordConfig,
        shards: usize,
        index_nodes: Vec<(ActorId, usize)>,
    ) -> Self {
        DataCoord {
            task,
            cfg,
            growing: vec![None; shards],
            index_nodes: index_nodes.into_iter().map(|(a, t)| (a, t, 0)).collect(),
            to_build: VecDeque::new(),
            building: Vec::new(),
        }
    }

    /// A restarted datacoord reloads its meta and resumes its loops; builds that were
    /// running are scheduled again (reference §2.5).
    pub fn on_start(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        ctx.set_timer(self.cfg.tick, Msg::DataCoordTick);
        ctx.set_timer(self.cfg.builder_interval, Msg::IndexBuilderTick);
        for (seg, n) in std::mem::take(&mut self.building) {
            self.index_nodes[n].2 = self.index_nodes[n].2.saturating_sub(1);
            ctx.world.ingest.segments[seg as usize].state = SegState::Flushed;
            self.to_build.push_front(seg);
        }
    }

    /// reference §3.3 step 2: AssignSegmentID. Rows hash evenly over the shards;
    /// each shard's rows go into its growing segment, which is sealed when its
    /// allocations reach the seal point (reference §1.5 sealProportion).
    pub fn on_segments_requested(
        &mut self,
        req: Req,
        proxy: ActorId,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let now = ctx.now();
        // reference §2.7: new segments are recorded in etcd; without a quorum the
        // allocation fails.
        let ok = ctx.world.etcd_writable();
        if ok {
            let rows = ctx.world.ingest.inserts[req as usize].rows;
            let shards = self.growing.len() as u64;
            let mut parts = Vec::new();
            for shard in 0..shards {
                let n = rows / shards + u64::from(shard < rows % shards);
                self.allocate(shard as usize, n, now, &mut parts, ctx);
            }
            ctx.world.ingest.inserts[req as usize].parts = parts;
        }
        let task = ctx.world.task_of(proxy);
        send_net(
            ctx,
            Endpoint::Task(self.task),
            Endpoint::Task(task),
            CONTROL_RPC_BYTES,
            proxy,
            Msg::SegmentsAssigned { req, ok },
        );
    }

    fn allocate(
        &mut self,
        shard: usize,
        mut rows: u64,
        now: SimTime,
        parts: &mut Vec<Part>,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        let seal_rows = ctx.world.ingest.seal_rows;
        while rows > 0 {
            let seg = match self.growing[shard] {
                Some(s) => s,
                None => self.create(shard, now, ctx),
            };
            let s = &mut ctx.world.ingest.segments[seg as usize];
            let take = rows.min(seal_rows - s.allocated);
            s.allocated += take;
            s.last_alloc = now;
            rows -= take;
            parts.push(Part {
                shard: shard as u8,
                segment: seg,
                rows: take as u32,
            });
            if s.allocated >= seal_rows {
                self.seal(seg, "full", ctx);
            }
        }
    }

    fn create(&mut self, shard: usize, now: SimTime, ctx: &mut Ctx<'_, Msg, World>) -> u32 {
        let w = &mut ctx.world.ingest;
        let id = w.segments.len() as u32;
        // Ids continue after the segments loaded at the start.
        let seg_id = ctx.world.layout.segments.len() as u64 + id as u64 + 1;
        w.segments.push(SegRt {
            id: seg_id,
            shard: shard as u32,
            state: SegState::Growing,
            allocated: 0,
            rows: 0,
            last_alloc: now,
            created: now,
            sealed: None,
            flushed: None,
            indexed: None,
            loaded: None,
            layout: None,
            binlog_bytes: 0,
        });
        self.growing[shard] = Some(id);
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
        if self.growing[shard as usize] == Some(seg) {
            self.growing[shard as usize] = None;
        }
        ctx.world.task_event(
            now,
            "segment_sealed",
            self.task,
            format!("segment {id} shard {shard} rows {rows}: sealed ({why})"),
        );
    }

    /// reference §1.5 seal and flush policies, decided on each data-node tick.
    pub fn on_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if now < ctx.world.end {
            ctx.set_timer(self.cfg.tick, Msg::DataCoordTick);
        }
        if !ctx.world.etcd_writable() {
            return;
        }
        let row_bytes = ctx.world.ingest.row_bytes;
        let flush_all = ctx.world.ingest.flush_requested;
        for shard in 0..self.growing.len() {
            let Some(seg) = self.growing[shard] else {
                continue;
            };
            let s = &ctx.world.ingest.segments[seg as usize];
            if s.allocated == 0 {
                continue;
            }
            if flush_all {
                self.seal(seg, "flush called", ctx);
            } else if now >= s.last_alloc + self.cfg.max_idle
                && s.allocated * row_bytes >= self.cfg.idle_min_bytes
            {
                self.seal(seg, "idle", ctx);
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
            let task = ctx.world.task_of(dn);
            send_net(
                ctx,
                Endpoint::Task(self.task),
                Endpoint::Task(task),
                CONTROL_RPC_BYTES,
                dn,
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
        if !ctx.world.etcd_writable() {
            return;
        }
        // A build on an index node that died goes back to the queue (reference §2.4).
        let mut lost = Vec::new();
        self.building.retain(|&(seg, n)| {
            let t = self.index_nodes[n].1;
            let alive = ctx.world.tasks[t].up;
            if !alive {
                lost.push(seg);
            }
            alive
        });
        for seg in lost.into_iter().rev() {
            ctx.world.ingest.segments[seg as usize].state = SegState::Flushed;
            self.to_build.push_front(seg);
        }
        for (_, t, running) in self.index_nodes.iter_mut() {
            if !ctx.world.tasks[*t].up {
                *running = 0;
            }
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
            self.building.push((seg, n));
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
            send_net(
                ctx,
                Endpoint::Task(self.task),
                Endpoint::Task(task),
                CONTROL_RPC_BYTES,
                actor,
                Msg::BuildIndex { segment: seg },
            );
        }
    }

    pub fn on_index_built(&mut self, seg: u32, node: usize, ctx: &mut Ctx<'_, Msg, World>) {
        let Some(i) = self
            .building
            .iter()
            .position(|&(s, n)| s == seg && n == node)
        else {
            return;
        };
        self.building.swap_remove(i);
        self.index_nodes[node].2 = self.index_nodes[node].2.saturating_sub(1);
        let task = self.index_nodes[node].1;
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
}
