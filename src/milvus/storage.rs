//! What object storage holds (reference §3.3 steps 5-10): binlogs, deltalogs and
//! index files; the files of segments compaction replaced, kept until garbage
//! collection removes them (reference §1.5: `dataCoord.gc.interval` 3600 s,
//! `dropTolerance` 10800 s); and whether the MinIO drives can hold it all.

use std::collections::VecDeque;

use crate::engine::{Ctx, SimDuration, SimTime};

use super::msg::Msg;
use super::world::World;
use crate::scenario::topology::ServiceKind;

/// Object storage contents, in logical bytes (before erasure coding).
#[derive(Default)]
pub struct Storage {
    pub at_start_bytes: u64,
    /// Files of segments in use (and of everything not yet dropped).
    pub live_bytes: u64,
    /// Files of dropped segments waiting for GC: when dropped, and their bytes.
    pub garbage: VecDeque<(SimTime, u64)>,
    pub garbage_bytes: u64,
    pub peak_bytes: u64,
    pub gc_runs: u64,
    pub gc_removed_bytes: u64,
    /// reference §1.5 dataCoord.enableGarbageCollection, gc.interval, dropTolerance.
    pub gc_enabled: bool,
    pub gc_interval: SimDuration,
    pub drop_tolerance: SimDuration,
    /// Physical bytes per logical byte: all drives over data drives (erasure coding,
    /// reference §2.9), 1 on a standalone's local disk.
    pub expansion: f64,
    /// Disk space of the MinIO hosts together (0: no object storage modelled).
    pub capacity_bytes: u64,
    /// When the drives first could not take a write.
    pub full_at: Option<SimTime>,
    /// When the garbage collector's loop runs next (a timer at another time belongs
    /// to a datacoord incarnation that died).
    pub gc_due: SimTime,
}

impl Storage {
    fn held(&self) -> u64 {
        self.live_bytes + self.garbage_bytes
    }

    /// Whether `bytes` more fit on the drives.
    pub fn fits(&self, bytes: u64) -> bool {
        self.capacity_bytes == 0
            || ((self.held() + bytes) as f64 * self.expansion) <= self.capacity_bytes as f64
    }

    pub fn add(&mut self, bytes: u64) {
        self.live_bytes += bytes;
        self.peak_bytes = self.peak_bytes.max(self.held());
    }

    /// A segment's files are no longer in use: garbage from `now`.
    pub fn drop_files(&mut self, now: SimTime, bytes: u64) {
        debug_assert!(bytes <= self.live_bytes, "dropping files never counted");
        let bytes = bytes.min(self.live_bytes);
        self.live_bytes -= bytes;
        self.garbage_bytes += bytes;
        self.garbage.push_back((now, bytes));
    }

    /// The figures of summary.json's `storage`.
    pub fn summary(&self) -> serde_json::Value {
        let fill = |b: u64| {
            if self.capacity_bytes == 0 {
                serde_json::Value::Null
            } else {
                serde_json::json!(b as f64 * self.expansion / self.capacity_bytes as f64)
            }
        };
        serde_json::json!({
            "bytes_at_start": self.at_start_bytes,
            "peak_bytes": self.peak_bytes,
            "bytes_at_end": self.held(),
            "garbage_bytes_at_end": self.garbage_bytes,
            "gc_runs": self.gc_runs,
            "gc_removed_bytes": self.gc_removed_bytes,
            "capacity_bytes": self.capacity_bytes,
            "peak_fill": fill(self.peak_bytes),
            "full_at_s": self.full_at.map(|t| t.0 as f64 / 1e9),
            "error": self.full_at.map(|t| format!(
                "object storage filled up at {:.0} s: MinIO refused writes (binlogs, index files, merged segments) while {:.0} GB of disks held {:.0} GB x {:.2} (erasure coding); give the MinIO hosts larger disks",
                t.0 as f64 / 1e9,
                self.capacity_bytes as f64 / 1e9,
                self.held() as f64 / 1e9,
                self.expansion
            )),
        })
    }
}

impl World {
    /// Segment `k`'s files gain `bytes` in object storage. Counted when the write is
    /// issued: a write whose writer dies later still leaves its object behind (an
    /// orphan that goes with the segment's files).
    /// After drop_collection() marked the segments dropped, a write still in flight
    /// (a sync, a build, a merge) leaves garbage.
    pub fn add_segment_files(&mut self, k: u32, bytes: u64, now: SimTime) {
        self.ingest.segments[k as usize].files_bytes += bytes;
        self.storage.add(bytes);
        if self.ddl.drop_segments_dropped.is_some() {
            self.storage.drop_files(now, bytes);
            self.ddl.drop_bytes += bytes;
        }
    }
}

/// [`minio_write`](super::minio::minio_write) of segment `k`'s file of `bytes`.
pub fn minio_write_files(
    ctx: &mut Ctx<'_, Msg, World>,
    from: usize,
    bytes: u64,
    k: u32,
) -> Option<SimTime> {
    let done = super::minio::minio_write(ctx, from, bytes)?;
    let now = ctx.now();
    ctx.world.add_segment_files(k, bytes, now);
    Some(done)
}

impl World {
    /// reference §1.5: datacoord's garbage collector removes the files of segments
    /// dropped more than dropTolerance ago, every gc.interval.
    pub fn on_gc_tick(&mut self, now: SimTime) -> Option<(u64, String)> {
        let st = &mut self.storage;
        st.gc_runs += 1;
        let mut removed = 0;
        while let Some(&(at, bytes)) = st.garbage.front() {
            if now < at + st.drop_tolerance {
                break;
            }
            st.garbage.pop_front();
            removed += bytes;
        }
        st.garbage_bytes -= removed;
        st.gc_removed_bytes += removed;
        (removed > 0).then(|| {
            (
                removed,
                format!(
                    "datacoord: garbage collection removed {:.1} GB of dropped segments' files",
                    removed as f64 / 1e9
                ),
            )
        })
    }
}

/// Datacoord's garbage collector loop.
pub fn gc_tick(ctx: &mut Ctx<'_, Msg, World>, task: usize) {
    let now = ctx.now();
    if now != ctx.world.storage.gc_due {
        return;
    }
    if now < ctx.world.end {
        let every = ctx.world.storage.gc_interval;
        ctx.world.storage.gc_due = now + every;
        ctx.set_timer(every, Msg::GcTick);
    }
    if !ctx.world.etcd_writable() {
        return; // reference §2.7: it works from the meta in etcd
    }
    if let Some((_, detail)) = ctx.world.on_gc_tick(now) {
        ctx.world.task_event(now, "gc_removed", task, detail);
    }
    collection_files_removed(ctx, task);
}

/// After drop_collection(): once garbage collection has removed every file dropped
/// up to the collection's segments (dropTolerance after the drop, at a pass every
/// gc.interval), the collection's storage is freed, and rootcoord's confirm-GC step
/// goes on to remove its meta (GUESS: it asks datacoord, which answers from this
/// pass, and deletes the meta with one etcd write).
fn collection_files_removed(ctx: &mut Ctx<'_, Msg, World>, task: usize) {
    let now = ctx.now();
    let w = &*ctx.world;
    let Some(dropped) = w.ddl.drop_segments_dropped else {
        return;
    };
    let left = w
        .storage
        .garbage
        .front()
        .is_some_and(|&(at, _)| at <= dropped);
    if w.ddl.drop_storage_freed.is_some() || left {
        return;
    }
    let rootcoord = super::ddl::running(w, ServiceKind::Rootcoord).unwrap_or(task);
    let hop = super::ddl::drop_hop(w, task, rootcoord);
    let confirm = hop + hop + super::ddl::drop_write(w, rootcoord);
    let bytes = w.ddl.drop_bytes;
    let to = w.rootcoord;
    ctx.world.ddl.drop_storage_freed = Some(now);
    ctx.world.task_event(
        now,
        "collection_files_removed",
        task,
        format!(
            "drop_collection(): garbage collection removed the collection's files ({:.3} GB)",
            bytes as f64 / 1e9
        ),
    );
    ctx.send(to, Msg::DdlDropMetaRemoved, confirm);
}
