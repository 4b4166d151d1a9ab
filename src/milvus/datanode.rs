//! Data node (reference §1.6, §3.3 step 5): consumes the DML channels datacoord gave
//! it in time-tick packs, buffers rows per segment, and syncs binlogs to object storage when a buffer
//! reaches insertBufSize or the segment is flushed, with a bounded number of syncs in
//! flight.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::engine::{Ctx, SimDuration, SimTime};

use super::ingest::SegState;
use super::ingest::DELETE_ROW_BYTES;
use super::msg::{Msg, Ts};
use super::overheads::{
    binlog_serialize_ns, on_task_host, CONTROL_RPC_BYTES, DATANODE_BUFFER_NS_PER_BYTE,
    DATANODE_DECODE_NS_PER_BYTE,
};
use super::world::{run_cpu, send_to, World};

/// GUESS: a merge reads, sorts by primary key and re-encodes its rows: twice the
/// work of serialising them (overheads::binlog_serialize_ns, measured).
const MERGE_SERIALIZE_FACTOR: f64 = 2.0;
/// GUESS: how often a flush waiting for rows still in the channel looks again (the
/// data node's time-tick interval, reference §1.1).
const FLUSH_RECHECK: SimDuration = SimDuration::from_millis(500);
/// GUESS: a sync whose write found no write quorum is retried after this long.
const SYNC_RETRY: SimDuration = SimDuration::from_secs(1);

pub struct DataNode {
    pub task: usize,
    /// reference §1.6 dataNode.segment.insertBufSize.
    buffer_limit: u64,
    /// reference §1.6 maxParallelSyncTaskNum.
    max_syncs: u32,
    /// Bytes buffered per segment (ingest segment index).
    buffers: BTreeMap<u32, u64>,
    queue: VecDeque<(u32, u64)>,
    running: u32,
    /// Syncs queued or running per segment.
    in_flight: BTreeMap<u32, u32>,
    /// Segments datacoord asked to flush and not yet reported flushed.
    flushing: BTreeSet<u32>,
    /// Of those, the ones whose rows have all arrived and whose last sync started.
    flush_started: BTreeSet<u32>,
    /// DML channels (shards) this incarnation watches.
    watching: BTreeSet<u8>,
    /// Per channel: messages (segment, rows) received since its last time tick, which
    /// the node consumes when the next tick closes their pack.
    unpacked: BTreeMap<u8, Vec<(u32, u32)>>,
    /// Replays in flight, per shard: bytes lost with the old node's buffers per
    /// segment, and the backlog the broker held.
    replays: BTreeMap<u8, Replay>,
    /// reference §1.6 dataNode.segment.syncPeriod, and when each buffer got its
    /// first unsynced rows.
    sync_period: SimDuration,
    buffered_since: BTreeMap<u32, SimTime>,
    /// reference §1.6 dataNode.memory.watermarkCluster, when forceSyncEnable is on.
    pub force_sync_watermark: Option<f64>,
    /// Per channel: bytes of buffered deletes this incarnation holds in memory.
    delete_held: BTreeMap<u8, u64>,
}

/// GUESS: how often a data node checks its buffers' age (the sync period is coarse;
/// 10 s keeps the check cheap and the error small).
pub const SYNC_PERIOD_CHECK: SimDuration = SimDuration::from_secs(10);

/// A channel replay: bytes lost with the old node's buffers per segment, and the
/// broker's backlog as (segment, rows).
type Replay = (Vec<(u32, u64)>, Vec<(u32, u32)>);

impl DataNode {
    pub fn new(
        task: usize,
        buffer_limit: u64,
        max_syncs: u32,
        watching: Vec<u8>,
        sync_period: SimDuration,
    ) -> Self {
        DataNode {
            task,
            buffer_limit,
            max_syncs: max_syncs.max(1),
            buffers: BTreeMap::new(),
            queue: VecDeque::new(),
            running: 0,
            in_flight: BTreeMap::new(),
            flushing: BTreeSet::new(),
            flush_started: BTreeSet::new(),
            watching: watching.into_iter().collect(),
            unpacked: BTreeMap::new(),
            replays: BTreeMap::new(),
            sync_period,
            buffered_since: BTreeMap::new(),
            force_sync_watermark: None,
            delete_held: BTreeMap::new(),
        }
    }

    fn gen(&self, ctx: &Ctx<'_, Msg, World>) -> u8 {
        ctx.world.tasks[self.task].gen
    }

    fn hold(&self, bytes: i64, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        ctx.world.hold_memory(self.task, bytes, now);
    }

    /// A message of rows arrived: the node's message stream hands its flow graph
    /// whole packs, the messages between two time ticks of the channel (reference
    /// §1.1 proxy.timeTickInterval; measured on Milvus 2.3.5, experiments/fidelity
    /// segments.py: the data node's row count trails the allocations by 0.06-0.57 s),
    /// so the rows wait for the channel's next tick.
    pub fn on_dml(&mut self, segment: u32, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let shard = ctx.world.ingest.segments[segment as usize].shard as u8;
        if !self.watching.contains(&shard) {
            // Not (or not yet) this process's channel: the subscription holds it for
            // the channel's consumer.
            return to_channel_consumer(segment, rows, ctx);
        }
        self.unpacked
            .entry(shard)
            .or_default()
            .push((segment, rows));
        // The pack's messages sit in the node's memory until the tick consumes them.
        let bytes = rows as u64 * ctx.world.ingest.row_bytes;
        self.hold(bytes as i64, ctx);
        // Reading and decoding the message as it arrives, beside the flow graph.
        self.beside(bytes as f64 * DATANODE_DECODE_NS_PER_BYTE, ctx);
    }

    /// `ns` of work (measured at overheads::MEASURED_ON_GHZ) on this node's cores that
    /// nothing waits for.
    fn beside(&self, ns: f64, ctx: &mut Ctx<'_, Msg, World>) {
        let demand = on_task_host(ctx.world, self.task, ns);
        let me = ctx.me();
        run_cpu(ctx, self.task, demand, 1, me, Msg::BesideDone);
    }

    /// The channel's time tick closes the pack: its rows are consumed, and the
    /// channel's position moves to the tick.
    pub fn on_time_tick(&mut self, ts: Ts, shard: u8, ctx: &mut Ctx<'_, Msg, World>) {
        if !self.watching.contains(&shard) {
            return;
        }
        let at = &mut ctx.world.ingest.consumed_ts[shard as usize];
        *at = (*at).max(ts);
        let mut consumed = 0;
        for (segment, rows) in self.unpacked.remove(&shard).unwrap_or_default() {
            let bytes = rows as u64 * ctx.world.ingest.row_bytes;
            self.hold(-(bytes as i64), ctx);
            self.consume(segment, rows, ctx);
            consumed += bytes;
        }
        if consumed > 0 {
            // Appending the pack to the insert buffers (GUESS: beside the flow graph's
            // bookkeeping rather than before it, which the measured 0.06-0.57 s lag of
            // the node's row count already covers).
            self.beside(consumed as f64 * DATANODE_BUFFER_NS_PER_BYTE, ctx);
        }
    }

    fn consume(&mut self, segment: u32, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let bytes = rows as u64 * ctx.world.ingest.row_bytes;
        let s = &mut ctx.world.ingest.segments[segment as usize];
        s.rows += rows as u64;
        s.in_flight = s.in_flight.saturating_sub(rows as u64);
        let drained = s.in_flight == 0;
        let now = ctx.now();
        self.buffered_since.entry(segment).or_insert(now);
        let b = self.buffers.entry(segment).or_insert(0);
        *b += bytes;
        let full = *b >= self.buffer_limit;
        self.hold(bytes as i64, ctx);
        if full {
            self.sync(segment, ctx);
        } else if let Some(mark) = self.force_sync_watermark {
            // reference §1.6 dataNode.memory: above the watermark of memory in use, the
            // largest buffer is synced (forceSyncSegmentNum 1). In a container Milvus
            // reads its own cgroup's use against the host's memory (the stack sets no
            // limit): inference from the Milvus source, not in the reference.
            let t = &ctx.world.tasks[self.task];
            let held = ctx.world.usage[t.usage].memory_bytes;
            let capacity = ctx.world.hosts[t.host].memory.capacity_bytes();
            if held as f64 > mark * capacity as f64 {
                let largest = self
                    .buffers
                    .iter()
                    .max_by_key(|&(&k, &b)| (b, std::cmp::Reverse(k)))
                    .map(|(&k, _)| k);
                if let Some(k) = largest {
                    ctx.world.ingest.forced_syncs += 1;
                    self.sync(k, ctx);
                }
            }
        }
        if drained && self.flushing.contains(&segment) && !self.flush_started.contains(&segment) {
            self.start_flush(segment, ctx);
        }
    }

    fn sync(&mut self, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        ctx.world.ingest.syncs += 1;
        let bytes = self.buffers.remove(&segment).unwrap_or(0);
        self.buffered_since.remove(&segment);
        *self.in_flight.entry(segment).or_insert(0) += 1;
        self.queue.push_back((segment, bytes));
        self.pump(ctx);
    }

    fn pump(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        while self.running < self.max_syncs {
            let Some((segment, bytes)) = self.queue.pop_front() else {
                break;
            };
            self.running += 1;
            let me = ctx.me();
            let gen = self.gen(ctx);
            let demand = on_task_host(
                ctx.world,
                self.task,
                binlog_serialize_ns(bytes, ctx.world.ingest.row_bytes),
            );
            run_cpu(
                ctx,
                self.task,
                demand,
                1,
                me,
                Msg::SyncSerialized {
                    segment,
                    bytes,
                    gen,
                },
            );
        }
    }

    pub fn on_sync_serialized(&mut self, segment: u32, bytes: u64, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        let gen = self.gen(ctx);
        match super::storage::minio_write_files(ctx, self.task, bytes, segment) {
            Some(done) => ctx.send_at(
                me,
                Msg::SyncWritten {
                    segment,
                    bytes,
                    gen,
                },
                done,
            ),
            // reference §2.9: without a write quorum the sync fails and is retried.
            None => ctx.send(
                me,
                Msg::SyncSerialized {
                    segment,
                    bytes,
                    gen,
                },
                SYNC_RETRY,
            ),
        }
    }

    pub fn on_sync_written(&mut self, segment: u32, bytes: u64, ctx: &mut Ctx<'_, Msg, World>) {
        // A sync of an incarnation that crashed since is forgotten.
        let Some(left) = self.in_flight.get_mut(&segment) else {
            return;
        };
        *left -= 1;
        let last = *left == 0;
        self.running = self.running.saturating_sub(1);
        self.hold(-(bytes as i64), ctx);
        ctx.world.ingest.segments[segment as usize].binlog_bytes += bytes;
        if last {
            self.in_flight.remove(&segment);
            // A sync of a segment whose flush waits for rows still on their way does
            // not finish that flush.
            if self.flush_started.contains(&segment) {
                self.report_flushed(segment, ctx);
            }
        }
        self.pump(ctx);
    }

    /// reference §3.3 step 6: once every row produced into the segment is consumed,
    /// write what is buffered, then report the segment flushed.
    pub fn on_flush_segment(&mut self, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        self.flushing.insert(segment);
        if self.flush_started.contains(&segment) {
            return;
        }
        if ctx.world.ingest.segments[segment as usize].in_flight > 0 {
            // Rows still on their way (or their produce failing): look again later.
            let me = ctx.me();
            ctx.send(me, Msg::FlushSegment { segment }, FLUSH_RECHECK);
            return;
        }
        self.start_flush(segment, ctx);
    }

    fn start_flush(&mut self, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        self.flush_started.insert(segment);
        if self.buffers.contains_key(&segment) {
            self.sync(segment, ctx);
        } else if !self.in_flight.contains_key(&segment) {
            self.report_flushed(segment, ctx);
        }
    }

    fn report_flushed(&mut self, segment: u32, ctx: &mut Ctx<'_, Msg, World>) {
        self.flushing.remove(&segment);
        self.flush_started.remove(&segment);
        let dc = ctx.world.ingest.datacoord;
        send_to(
            ctx,
            self.task,
            dc,
            CONTROL_RPC_BYTES,
            Msg::SegmentFlushed { segment },
        );
    }

    /// A crashed data node loses its buffers (they are still in Pulsar, reference
    /// §2.3); the messages of packs it had not consumed stay in the subscription.
    pub fn on_crash(&mut self, w: &mut World) {
        for (shard, msgs) in std::mem::take(&mut self.unpacked) {
            w.ingest.backlog[shard as usize].extend(msgs);
        }
        self.buffers.clear();
        self.queue.clear();
        self.running = 0;
        self.in_flight.clear();
        self.flushing.clear();
        self.flush_started.clear();
        self.watching.clear();
        // A replay cut short: the broker's backlog it had taken is still unacknowledged
        // in the subscription, ahead of what came since, for the next consumer.
        for (shard, (_, mut backlog)) in std::mem::take(&mut self.replays) {
            let since = &mut w.ingest.backlog[shard as usize];
            backlog.append(since);
            *since = backlog;
        }
        self.buffered_since.clear();
        self.delete_held.clear();
    }

    /// create_collection(): datacoord's watch of the new collection's vchannels
    /// reached this node, which subscribes to them (its channels are set from the
    /// start; nothing flows on them before the collection exists).
    pub fn on_create_watch(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let shards: Vec<String> = self.watching.iter().map(|s| s.to_string()).collect();
        ctx.world.task_event(
            now,
            "dml_channels_watched",
            self.task,
            format!(
                "create_collection(): the data node subscribes to the new collection's shard(s) {}",
                shards.join(", ")
            ),
        );
    }

    /// drop_collection()'s mark reached the channels this node consumes: it stops
    /// consuming them and lets go of what it buffers (GUESS: Milvus 2.3's data node
    /// writes its buffers once more and reports the segments dropped; those files
    /// would be garbage at once, so they are left out), and of syncs not started.
    pub fn on_drop_channels(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let row_bytes = ctx.world.ingest.row_bytes;
        let mut freed: u64 = 0;
        for (_, msgs) in std::mem::take(&mut self.unpacked) {
            freed += msgs
                .iter()
                .map(|&(_, rows)| rows as u64 * row_bytes)
                .sum::<u64>();
        }
        freed += std::mem::take(&mut self.buffers).values().sum::<u64>();
        freed += std::mem::take(&mut self.delete_held).values().sum::<u64>();
        for (segment, bytes) in std::mem::take(&mut self.queue) {
            freed += bytes;
            if let Some(n) = self.in_flight.get_mut(&segment) {
                *n -= 1;
                if *n == 0 {
                    self.in_flight.remove(&segment);
                }
            }
        }
        let channels = self.watching.len();
        let d = &mut ctx.world.ingest.deletes;
        for &s in &self.watching {
            if let Some(b) = d.buffered.get_mut(s as usize) {
                *b = 0;
            }
            if let Some(b) = d.buffered_since.get_mut(s as usize) {
                *b = None;
            }
        }
        self.watching.clear();
        self.replays.clear();
        self.flushing.clear();
        self.flush_started.clear();
        self.buffered_since.clear();
        self.hold(-(freed as i64), ctx);
        let now = ctx.now();
        ctx.world.task_event(
            now,
            "channels_dropped",
            self.task,
            format!(
                "drop_collection(): the data node stopped consuming {channels} channel(s) and let go of {freed} buffered bytes"
            ),
        );
    }

    /// reference §3.3 step 9: a merge reads its inputs' binlogs from object storage,
    /// merges them on the CPU and writes the result.
    pub fn on_compact(&mut self, plan: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        let bytes = plan_bytes(plan, ctx.world);
        match super::minio::minio_read(ctx, self.task, bytes) {
            Some(done) => {
                self.hold(bytes as i64, ctx);
                let gen = self.gen(ctx);
                ctx.send_at(me, Msg::CompactionRead { plan, gen }, done);
            }
            None => ctx.send(me, Msg::Compact { plan }, SYNC_RETRY),
        }
    }

    pub fn on_compaction_read(&mut self, plan: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let bytes = plan_bytes(plan, ctx.world);
        let me = ctx.me();
        let gen = self.gen(ctx);
        let merge = MERGE_SERIALIZE_FACTOR * binlog_serialize_ns(bytes, ctx.world.ingest.row_bytes);
        let demand = on_task_host(ctx.world, self.task, merge);
        run_cpu(
            ctx,
            self.task,
            demand,
            1,
            me,
            Msg::CompactionMerged { plan, gen },
        );
    }

    pub fn on_compaction_merged(&mut self, plan: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let me = ctx.me();
        let bytes = plan_bytes(plan, ctx.world);
        let output = ctx.world.ingest.plans[plan as usize].output;
        let Some(done) = super::storage::minio_write_files(ctx, self.task, bytes, output) else {
            let gen = self.gen(ctx);
            ctx.send(me, Msg::CompactionMerged { plan, gen }, SYNC_RETRY);
            return;
        };
        let gen = self.gen(ctx);
        ctx.send_at(me, Msg::CompactionWritten { plan, gen }, done);
    }

    /// The merged segment is written: the node lets its rows go and reports to
    /// datacoord.
    pub fn on_compaction_written(&mut self, plan: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let bytes = plan_bytes(plan, ctx.world);
        self.hold(-(bytes as i64), ctx);
        let dc = ctx.world.ingest.datacoord;
        send_to(
            ctx,
            self.task,
            dc,
            CONTROL_RPC_BYTES,
            Msg::CompactionDone { plan },
        );
    }

    /// reference §1.6: a non-empty buffer is synced at least every syncPeriod, so a
    /// slow trickle of rows reaches object storage before its segment seals.
    pub fn on_sync_period_tick(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if now < ctx.world.end {
            ctx.set_timer(SYNC_PERIOD_CHECK, Msg::SyncPeriodTick);
        }
        // reference §1.6: buffered deletes are written at least every sync period.
        let shards: Vec<u8> = self.watching.iter().copied().collect();
        for shard in shards {
            let d = &ctx.world.ingest.deletes;
            let old = d.buffered_since[shard as usize].is_some_and(|t| now >= t + self.sync_period);
            if old {
                self.write_deltalog(shard, ctx);
            }
        }
        let old: Vec<u32> = self
            .buffered_since
            .iter()
            .filter(|&(_, &t)| now >= t + self.sync_period)
            .map(|(&k, _)| k)
            .collect();
        for segment in old {
            self.sync(segment, ctx);
        }
    }

    /// reference §3.3 step 5: the data node buffers a channel's deletes; past
    /// deleteBufBytes they are written as a deltalog. Deletes of a channel no node
    /// watches wait in the subscription for the next owner.
    pub fn on_delete_dml(&mut self, shard: u8, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if ctx.world.ddl.collection_dropped() && !self.watching.contains(&shard) {
            // The drop mark reached this node: the channel is no longer consumed.
            return;
        }
        let d = &mut ctx.world.ingest.deletes;
        d.buffer(shard as usize, rows as u64, now);
        let full = d.buffered[shard as usize] * DELETE_ROW_BYTES >= d.buffer_limit_bytes;
        if self.watching.contains(&shard) {
            self.hold_deletes(shard, rows as u64 * DELETE_ROW_BYTES, ctx);
            if full {
                self.write_deltalog(shard, ctx);
            }
        }
    }

    /// The delete buffer of a channel takes memory as it grows: a key and its
    /// timestamp per delete (what deleteBufBytes counts, reference §1.6).
    fn hold_deletes(&mut self, shard: u8, bytes: u64, ctx: &mut Ctx<'_, Msg, World>) {
        *self.delete_held.entry(shard).or_insert(0) += bytes;
        self.hold(bytes as i64, ctx);
    }

    /// The channel's buffered deletes go to object storage as one deltalog; without
    /// a write quorum they stay buffered and the next check tries again (§2.9).
    fn write_deltalog(&mut self, shard: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let s = shard as usize;
        let rows = ctx.world.ingest.deletes.buffered[s];
        if rows == 0 {
            return;
        }
        let bytes = rows * DELETE_ROW_BYTES;
        let Some(done) = super::minio::minio_write(ctx, self.task, bytes) else {
            return;
        };
        // The deltalog holds every delete of the channel so far: datacoord's meta
        // counts them for each segment once it is written (accounted when issued;
        // object storage has the bytes queued).
        let _ = done;
        let held = self.delete_held.remove(&shard).unwrap_or(0);
        self.hold(-(held as i64), ctx);
        let w = &mut ctx.world.ingest;
        let mut per_segment = Vec::new();
        for (k, seg) in w.segments.iter_mut().enumerate() {
            // A merge's inputs gave their deletes not yet in a deltalog to its
            // output, which holds them now; a dropped segment has no files left.
            if seg.shard as usize == s && seg.holds_rows() && seg.deleted > seg.deleted_synced {
                per_segment.push((
                    k as u32,
                    (seg.deleted - seg.deleted_synced) * DELETE_ROW_BYTES,
                ));
                seg.deleted_synced = seg.deleted;
                // One more deltalog file in the segment's meta (reference §1.5:
                // single-segment compaction past 200 files).
                seg.deltalog_files += 1;
            }
        }
        // Each segment's share of the deltalog goes with it; keys that matched no
        // row stay with the channel.
        let mut left = bytes;
        for (k, b) in per_segment {
            let b = b.min(left);
            left -= b;
            let now = ctx.now();
            ctx.world.add_segment_files(k, b, now);
        }
        ctx.world.storage.add(left);
        let d = &mut ctx.world.ingest.deletes;
        d.buffered[s] = 0;
        d.buffered_since[s] = None;
        d.deltalog_rows += rows;
        d.deltalog_bytes += bytes;
        d.deltalogs += 1;
    }

    /// reference §2.3: the node watches a channel that was another's: what that node
    /// had consumed but not synced, and what the broker held since, is read again from
    /// the bookies; then flushes waiting on the channel go on here.
    pub fn on_channel_watch(&mut self, shard: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let w = &mut *ctx.world;
        let rb = w.ingest.row_bytes;
        let lost: Vec<(u32, u64)> = (0..w.ingest.segments.len() as u32)
            .filter_map(|k| {
                let s = &w.ingest.segments[k as usize];
                let open = matches!(
                    s.state,
                    SegState::Growing | SegState::Sealed | SegState::Flushing
                );
                let bytes = (s.rows * rb).saturating_sub(s.binlog_bytes);
                (s.shard as u8 == shard && s.merged_by.is_none() && open && bytes > 0)
                    .then_some((k, bytes))
            })
            .collect();
        let backlog = std::mem::take(&mut w.ingest.backlog[shard as usize]);
        let bytes: u64 = lost.iter().map(|x| x.1).sum::<u64>()
            + backlog.iter().map(|x| x.1 as u64 * rb).sum::<u64>();
        // Read back from a running bookie: its disk, then the network.
        let mut done = now;
        if let Some(&b) = w
            .ingest
            .bookie_tasks
            .iter()
            .find(|&&b| w.tasks[b].up && w.hosts[w.tasks[b].host].up)
        {
            let host = w.tasks[b].host;
            let read = w.hosts[host].disk_read.reserve(now, bytes);
            let u = w.tasks[b].usage;
            w.usage[u].disk_read.add_at(read, bytes as f64);
            let (src, dst) = (
                w.hosts[host].endpoint,
                w.hosts[w.tasks[self.task].host].endpoint,
            );
            done = w.net.transfer_bulk(read, src, dst, bytes);
        }
        self.replays.insert(shard, (lost, backlog));
        let me = ctx.me();
        ctx.send_at(me, Msg::ChannelReplayed { shard }, done);
    }

    pub fn on_channel_replayed(&mut self, shard: u8, ctx: &mut Ctx<'_, Msg, World>) {
        let Some((lost, backlog)) = self.replays.remove(&shard) else {
            return;
        };
        self.watching.insert(shard);
        // Messages that came while the replay ran (GUESS: read at the same speed).
        let mut backlog = backlog;
        backlog.append(&mut ctx.world.ingest.backlog[shard as usize]);
        for (segment, bytes) in lost {
            *self.buffers.entry(segment).or_insert(0) += bytes;
            self.hold(bytes as i64, ctx);
        }
        // The channel's deletes not yet in a deltalog were read again too.
        let deletes = ctx.world.ingest.deletes.buffered[shard as usize] * DELETE_ROW_BYTES;
        if deletes > 0 {
            self.hold_deletes(shard, deletes, ctx);
        }
        // Read back with their time ticks: consumed at once.
        for (segment, rows) in backlog {
            self.consume(segment, rows, ctx);
        }
        // Flushes datacoord asked of the old node.
        let flushing: Vec<u32> = (0..ctx.world.ingest.segments.len() as u32)
            .filter(|&k| {
                let s = &ctx.world.ingest.segments[k as usize];
                s.shard as u8 == shard && s.merged_by.is_none() && s.state == SegState::Flushing
            })
            .collect();
        for segment in flushing {
            self.on_flush_segment(segment, ctx);
        }
    }
}

/// A message of channel rows that reached a data node not consuming the channel (a
/// restarted process before datacoord gives its channels back, or one the channel
/// moved away from): the subscription delivers it to the channel's data node if that
/// one consumes it now, and keeps it in its backlog otherwise, which the next
/// consumer replays (reference §2.3).
pub fn to_channel_consumer(segment: u32, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
    let shard = ctx.world.ingest.segments[segment as usize].shard as usize;
    let owner = ctx.world.ingest.data_node_of_shard[shard];
    if owner != ctx.me() && ctx.world.tasks[ctx.world.task_of(owner)].up {
        ctx.send(owner, Msg::Dml { segment, rows }, SimDuration::ZERO);
    } else {
        ctx.world.ingest.backlog[shard].push((segment, rows));
    }
}

/// Bytes of a merge plan's rows.
fn plan_bytes(plan: u32, w: &World) -> u64 {
    let p = &w.ingest.plans[plan as usize];
    w.ingest.segments[p.output as usize].rows * w.ingest.row_bytes
}
