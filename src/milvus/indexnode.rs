//! Index node (reference §1.9, §3.3 step 7): downloads a flushed segment's binlogs,
//! builds its index on a knowhere pool of one thread per core, and uploads the index
//! files to object storage.

use crate::engine::{Ctx, SimDuration};
use crate::hw::cost::index_bytes;

use super::msg::Msg;
use super::overheads::CONTROL_RPC_BYTES;
use super::world::{run_cpu, send_to, World};

/// GUESS: a download or upload that found no object storage is retried after this.
const STORAGE_RETRY: SimDuration = SimDuration::from_secs(1);

pub struct IndexNode {
    pub task: usize,
    /// Index among the index nodes (datacoord's numbering).
    pub index: u16,
}

impl IndexNode {
    pub fn new(task: usize, index: u16) -> Self {
        IndexNode { task, index }
    }

    fn segment_bytes(segment: u32, w: &World) -> (u64, u64) {
        let s = &w.ingest.segments[segment as usize];
        (s.rows * w.ingest.row_bytes, index_bytes(&w.index, s.rows))
    }

    fn gen(&self, ctx: &Ctx<'_, Msg, World>) -> u8 {
        ctx.world.tasks[self.task].gen
    }

    fn hold(&self, bytes: i64, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.hold_memory(self.task, bytes, now);
    }

    pub fn on_build_index(&mut self, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        let gen = self.gen(ctx);
        let (raw, _) = Self::segment_bytes(segment, ctx.world);
        match super::minio::minio_read(ctx, self.task, raw) {
            Some(done) => {
                self.hold(raw as i64, ctx);
                ctx.send_at(me, Msg::BuildDownloaded { segment, gen }, done);
            }
            None => ctx.send(me, Msg::BuildIndex { segment, gen }, STORAGE_RETRY),
        }
    }

    /// reference §1.9: one build at a time, NumCPU knowhere build threads.
    pub fn on_build_downloaded(&mut self, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let w = &*ctx.world;
        let rows = w.ingest.segments[segment as usize].rows;
        let host = &w.hosts[w.tasks[self.task].host];
        let demand = host
            .cost
            .segment_build_ns(&w.index, rows, w.ingest.ef_construction);
        let threads = host.spec.cores;
        let (_, idx) = Self::segment_bytes(segment, ctx.world);
        self.hold(idx as i64, ctx);
        let me = ctx.me();
        let gen = self.gen(ctx);
        run_cpu(
            ctx,
            self.task,
            demand,
            threads,
            me,
            Msg::BuildComputed { segment, gen },
        );
    }

    pub fn on_build_computed(&mut self, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        let gen = self.gen(ctx);
        let (_, idx) = Self::segment_bytes(segment, ctx.world);
        let Some(done) = super::storage::minio_write_files(ctx, self.task, idx, segment) else {
            // reference §2.9: without a write quorum the upload fails and is retried.
            ctx.send(me, Msg::BuildComputed { segment, gen }, STORAGE_RETRY);
            return;
        };
        ctx.send_at(me, Msg::BuildUploaded { segment, gen }, done);
    }

    /// The index files are in object storage: the node lets the build's memory go
    /// and reports to datacoord (a node that died meanwhile never does).
    pub fn on_build_uploaded(&mut self, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let (raw, idx) = Self::segment_bytes(segment, ctx.world);
        self.hold(-((raw + idx) as i64), ctx);
        let dc = ctx.world.ingest.datacoord;
        let msg = Msg::IndexBuilt {
            segment,
            node: self.index,
            gen: self.gen(ctx),
        };
        send_to(ctx, self.task, dc, CONTROL_RPC_BYTES, msg);
    }
}
