//! Pulsar as Milvus 2.3 uses it (reference §2.8, §3.3): brokers own the DML topics
//! and persist each message on a bookie ensemble before acknowledging it; bookies
//! group-commit their journal to disk. Consumers (the data node of the shard and the
//! delegators) get each message once it is persisted.

use crate::engine::{ActorId, Ctx, SimTime};
use crate::scenario::experiment::DeleteOrder;

use super::ingest::DELETE_ROW_BYTES;
use super::msg::{Msg, Req, Ts};
use super::overheads::CONTROL_RPC_BYTES;
use super::world::{send_to, World};

/// reference §2.8: ensemble, write quorum and ack quorum are 2 / 2 / 2.
pub const ENSEMBLE: usize = 2;
pub const ACK_QUORUM: u8 = 2;

/// How the log broker persists a message before acknowledging it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogStore {
    /// Stores each message is written to, and how many must confirm it.
    pub ensemble: usize,
    pub ack_quorum: u8,
    /// Whether a store syncs its journal to disk before confirming.
    pub fsync: bool,
}

/// Pulsar on a BookKeeper ensemble that group-commits its journal with fsync
/// (reference §2.8).
pub const PULSAR: LogStore = LogStore {
    ensemble: ENSEMBLE,
    ack_quorum: ACK_QUORUM,
    fsync: true,
};

/// RocksMQ in a Milvus standalone: one RocksDB on the local disk. GUESS (the
/// reference has no RocksMQ facts): RocksDB's default write options do not sync, so
/// a message is confirmed once written to the page cache, without an fsync or a
/// wait for the disk (see [`dirty_limit_bytes`]); memtable flushes write the bytes
/// again in the background, as a bookie's entry log does. The quiet insert records
/// agree: the Insert RPC's time per byte is the same at dim 128 and 768 and at
/// 100 MB or 300 MB inserted (experiments/fidelity/results-ingest-quiet.json), well
/// above what the disk would add.
pub const ROCKSMQ: LogStore = LogStore {
    ensemble: 1,
    ack_quorum: 1,
    fsync: false,
};

/// Dirty page-cache bytes a host holds before the kernel makes a writer wait for
/// the disk: Linux's `vm.dirty_ratio`, 20 % of memory by default (the kernel's
/// Documentation/admin-guide/sysctl/vm.rst; a setting of the host, not of Milvus).
pub fn dirty_limit_bytes(memory_bytes: u64) -> u64 {
    memory_bytes / 5
}

impl Default for LogStore {
    fn default() -> Self {
        PULSAR
    }
}

/// reference §2.8: a message is persisted before the broker acknowledges it.
struct Entry {
    req: Req,
    insert_id: u64,
    part: u8,
    shard: u8,
    segment: u32,
    rows: u32,
    acks: u8,
    /// The bookies written to (an ensemble change replaces a failed one).
    bookies: Vec<u16>,
    /// A time tick rather than rows: its timestamp.
    tick: Option<Ts>,
    /// Keys of a delete rather than rows, and which rows they remove.
    delete: Option<DeleteOrder>,
}

/// GUESS: bytes of a time-tick message with its Pulsar entry framing.
const TICK_BYTES: u64 = 128;

pub struct Broker {
    pub task: usize,
    pub index: u16,
    entries: Vec<Option<Entry>>,
    free: Vec<u32>,
}

impl Broker {
    pub fn new(task: usize, index: u16) -> Self {
        Broker {
            task,
            index,
            entries: Vec::new(),
            free: Vec::new(),
        }
    }

    /// The bookies a ledger of `shard` writes to: the first `ENSEMBLE` running
    /// bookies from the shard's offset (an ensemble change skips a dead bookie,
    /// reference §2.8 "1 bookie lost").
    fn ensemble(shard: usize, w: &World) -> Option<Vec<usize>> {
        let n = w.ingest.bookie_tasks.len();
        let up: Vec<usize> = (0..n)
            .map(|k| (shard + k) % n)
            .filter(|&b| writable(b, w))
            .take(w.ingest.log.ensemble)
            .collect();
        (up.len() == w.ingest.log.ensemble).then_some(up)
    }

    pub fn on_produce(&mut self, req: Req, part: u8, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let ins = &ctx.world.ingest.inserts[req as usize];
        let (proxy, insert_id) = (ins.proxy, ins.id);
        let p = ins.parts[part as usize];
        let shard = p.shard as usize;
        let delete = p.delete.then(|| ctx.world.ingest.delete_order(req));
        let bytes = rows as u64 * ctx.world.ingest.dml_row_bytes(p.delete);
        let Some(bookies) = Self::ensemble(shard, ctx.world) else {
            // reference §2.8 "2 bookies lost": no ledger can be written.
            self.answer(proxy, req, false, part, rows, ctx);
            return;
        };
        let entry = Entry {
            req,
            insert_id,
            part,
            shard: p.shard,
            segment: p.segment,
            rows,
            acks: 0,
            bookies: bookies.iter().map(|&b| b as u16).collect(),
            tick: None,
            delete,
        };
        let id = self.alloc(entry);
        for b in bookies {
            self.add_entry(id, b, bytes, ctx);
        }
    }

    fn alloc(&mut self, entry: Entry) -> u32 {
        match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(entry);
                i
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as u32
            }
        }
    }

    fn add_entry(&self, entry: u32, bookie: usize, bytes: u64, ctx: &mut Ctx<'_, Msg, World>) {
        let actor = ctx.world.ingest.bookie_actors[bookie];
        send_to(
            ctx,
            self.task,
            actor,
            bytes,
            Msg::AddEntry {
                entry,
                bytes: bytes as u32,
                broker: self.index,
                gen: ctx.world.tasks[self.task].gen,
            },
        );
    }

    /// reference §2.8 "1 bookie lost": the add to a failed bookie is written to a
    /// running bookie outside the entry's ensemble instead (an ensemble change); with
    /// no such bookie the message cannot be persisted and its produce fails.
    pub fn on_entry_failed(&mut self, entry: u32, bookie: u16, ctx: &mut Ctx<'_, Msg, World>) {
        let Some(e) = self.entries.get(entry as usize).and_then(|e| e.as_ref()) else {
            return;
        };
        let w = &*ctx.world;
        let n = w.ingest.bookie_tasks.len();
        let replacement = (0..n).find(|&b| !e.bookies.contains(&(b as u16)) && writable(b, w));
        let bytes = match e.tick {
            Some(_) => TICK_BYTES,
            None => e.rows as u64 * w.ingest.dml_row_bytes(e.delete.is_some()),
        };
        match replacement {
            Some(b) => {
                let e = self.entries[entry as usize].as_mut().expect("present");
                if let Some(slot) = e.bookies.iter_mut().find(|x| **x == bookie) {
                    *slot = b as u16;
                }
                self.add_entry(entry, b, bytes, ctx);
            }
            None => {
                let e = self.entries[entry as usize].take().expect("present");
                self.free.push(entry);
                if e.tick.is_some() {
                    return; // the tick is lost; the next one carries a later time
                }
                let ins = &ctx.world.ingest.inserts[e.req as usize];
                if ins.id == e.insert_id && !ins.closed {
                    let proxy = ins.proxy;
                    self.answer(proxy, e.req, false, e.part, e.rows, ctx);
                } else if e.delete.is_none() {
                    ctx.world.ingest.rows_lost(e.segment, e.rows);
                }
            }
        }
    }

    fn answer(
        &self,
        proxy: ActorId,
        req: Req,
        ok: bool,
        part: u8,
        rows: u32,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        if !ok {
            ctx.world.ingest.produce_lost(req, part, rows);
        }
        send_to(
            ctx,
            self.task,
            proxy,
            CONTROL_RPC_BYTES,
            Msg::Produced { req, ok },
        );
    }

    /// The broker dies: the producers' connections break, so every message it was
    /// persisting fails on its proxy after the RPC error delay (reference §2.8: the
    /// insert fails; an unacknowledged message may be lost). Time ticks in flight
    /// are lost; the next owner carries later ones.
    pub fn on_crash(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let at = ctx.now() + ctx.world.rpc_error_after();
        for e in std::mem::take(&mut self.entries).into_iter().flatten() {
            if e.tick.is_some() {
                continue;
            }
            if e.delete.is_none() {
                ctx.world.ingest.rows_lost(e.segment, e.rows);
            }
            let ins = &ctx.world.ingest.inserts[e.req as usize];
            if ins.id == e.insert_id && !ins.closed {
                let failed = Msg::Produced {
                    req: e.req,
                    ok: false,
                };
                ctx.send_at(ins.proxy, failed, at);
            }
        }
        self.free.clear();
    }

    pub fn on_entry_added(&mut self, entry: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let Some(e) = self
            .entries
            .get_mut(entry as usize)
            .and_then(|e| e.as_mut())
        else {
            return;
        };
        e.acks += 1;
        if e.acks < ctx.world.ingest.log.ack_quorum {
            return;
        }
        let e = self.entries[entry as usize].take().expect("present");
        self.free.push(entry);
        if let Some(ts) = e.tick {
            return self.dispatch_tick(e.shard, ts, ctx);
        }
        if let Some(order) = e.delete {
            ctx.world.ingest.deletes.persisted_rows += e.rows as u64;
            // Persisted, the delete takes effect whether or not its client hears.
            ctx.world
                .apply_deletes(e.shard as usize, e.rows as u64, order);
        } else {
            ctx.world.ingest.persisted_rows += e.rows as u64;
        }
        let ins = &ctx.world.ingest.inserts[e.req as usize];
        let proxy = ins.proxy;
        // An insert answered already (its proxy died) gets no ack; the message is
        // persisted all the same and its consumers still get it.
        if ins.id == e.insert_id && !ins.closed {
            self.answer(proxy, e.req, true, e.part, e.rows, ctx);
        }
        if e.delete.is_some() {
            self.dispatch_delete(e.shard, e.rows, ctx);
        } else {
            self.dispatch(e.shard as usize, e.segment, e.rows, ctx);
        }
    }

    /// reference §3.3 steps 4-5: a delete reaches the same consumers as rows do.
    fn dispatch_delete(&self, shard: u8, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let bytes = rows as u64 * DELETE_ROW_BYTES;
        let s = shard as usize;
        let (consumers, data_node_up) = consumers(s, ctx.world);
        if !data_node_up {
            // Kept in the subscription until a data node watches the channel again.
            ctx.world.ingest.deletes.buffer(s, rows as u64, ctx.now());
        }
        for actor in consumers {
            send_to(ctx, self.task, actor, bytes, Msg::DeleteDml { shard, rows });
        }
    }

    /// reference §1.1: rootcoord's time tick for channel `shard`, persisted like any
    /// message, then consumed by the channel's delegators and data node.
    pub fn on_tick_produce(&mut self, shard: u8, ts: Ts, ctx: &mut Ctx<'_, Msg, World>) {
        let Some(bookies) = Self::ensemble(shard as usize, ctx.world) else {
            return; // reference §2.8: no ledger can be written; tsafe stops.
        };
        let entry = Entry {
            req: 0,
            insert_id: u64::MAX,
            part: 0,
            shard,
            segment: 0,
            rows: 0,
            acks: 0,
            bookies: bookies.iter().map(|&b| b as u16).collect(),
            tick: Some(ts),
            delete: None,
        };
        let id = self.alloc(entry);
        for b in bookies {
            self.add_entry(id, b, TICK_BYTES, ctx);
        }
    }

    /// The tick reaches the channel's delegators (their tsafe) and its data node
    /// (it closes the pack of messages the data node consumes).
    fn dispatch_tick(&self, shard: u8, ts: Ts, ctx: &mut Ctx<'_, Msg, World>) {
        for actor in consumers(shard as usize, ctx.world).0 {
            send_to(
                ctx,
                self.task,
                actor,
                TICK_BYTES,
                Msg::TimeTickArrived { ts, shard },
            );
        }
    }

    /// reference §3.3 steps 4-5: the delegators of every replica and the shard's data
    /// node consume the persisted message.
    fn dispatch(&self, shard: usize, segment: u32, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let bytes = rows as u64 * ctx.world.ingest.row_bytes;
        let (consumers, data_node_up) = consumers(shard, ctx.world);
        if !data_node_up {
            // The subscription keeps the message until a data node watches the
            // channel again (reference §2.3).
            ctx.world.ingest.backlog[shard].push((segment, rows));
        }
        for actor in consumers {
            send_to(ctx, self.task, actor, bytes, Msg::Dml { segment, rows });
        }
    }
}

/// The consumers of channel `shard`'s messages: its data node if it runs, and the
/// delegators of every replica; and whether the data node runs.
fn consumers(shard: usize, w: &World) -> (Vec<ActorId>, bool) {
    let dn = w.ingest.data_node_of_shard[shard];
    let up = w.tasks[w.task_of(dn)].up;
    let mut out = if up { vec![dn] } else { Vec::new() };
    for r in 0..w.dist.leader.len() {
        if let Some(n) = w.dist.leader[r][shard] {
            let actor = w.query_node_actors[n];
            if !out.contains(&actor) {
                out.push(actor);
            }
        }
    }
    (out, up)
}

/// A bookie: entries join the journal queue; one write plus fsync commits every entry
/// queued (group commit), then each is acknowledged. The entry log (ledger storage)
/// gets the same bytes again, flushed in the background on the same disk.
pub struct Bookie {
    pub task: usize,
    /// Adds waiting for the next group commit, and those in it: (entry, broker and
    /// its incarnation).
    queue: Vec<(u32, (u16, u8))>,
    queued_bytes: u64,
    committing: Vec<(u32, (u16, u8))>,
    busy: bool,
}

impl Bookie {
    pub fn new(task: usize) -> Self {
        Bookie {
            task,
            queue: Vec::new(),
            queued_bytes: 0,
            committing: Vec::new(),
            busy: false,
        }
    }

    /// This bookie's index among the bookies.
    fn index(&self, ctx: &Ctx<'_, Msg, World>) -> u16 {
        let me = ctx.me();
        let i = ctx.world.ingest.bookie_actors.iter().position(|&a| a == me);
        i.expect("a bookie is listed") as u16
    }

    pub fn on_add_entry(
        &mut self,
        entry: u32,
        bytes: u32,
        broker: (u16, u8),
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        if ctx.world.hosts[ctx.world.tasks[self.task].host].disk_full {
            // Read-only: the add is refused at once and the broker changes ensembles.
            let (bookie, gen) = (self.index(ctx), broker.1);
            self.reply(broker.0, Msg::EntryFailed { entry, bookie, gen }, ctx);
            return;
        }
        self.queue.push((entry, broker));
        self.queued_bytes += bytes as u64;
        if !self.busy {
            self.commit(ctx);
        }
    }

    /// The bookie's answer to an add from broker `broker`.
    fn reply(&self, broker: u16, msg: Msg, ctx: &mut Ctx<'_, Msg, World>) {
        let actor = ctx.world.ingest.broker_actors[broker as usize];
        send_to(ctx, self.task, actor, CONTROL_RPC_BYTES, msg);
    }

    fn commit(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let bytes = std::mem::take(&mut self.queued_bytes);
        self.committing = std::mem::take(&mut self.queue);
        self.busy = true;
        let w = &mut *ctx.world;
        let (host, u) = (w.tasks[self.task].host, w.tasks[self.task].usage);
        let h = &mut w.hosts[host];
        let written = h.disk_write.reserve(now, bytes);
        let synced: SimTime = if w.ingest.log.fsync {
            written + h.spec.disk.fsync_latency
        } else {
            // A write without sync returns once its bytes are in the page cache; the
            // disk takes them in the background. Only a backlog beyond the kernel's
            // dirty limit holds the writer back, by the excess.
            let backlog = written.since(now);
            let allowance = h
                .disk_write
                .service_time(dirty_limit_bytes(h.spec.memory_bytes));
            now + backlog.saturating_sub(allowance)
        };
        // The entry log gets the bytes too, behind the journal on the same disk.
        let logged = h.disk_write.reserve(synced, bytes);
        w.usage[u].disk_write.add_at(written, bytes as f64);
        w.usage[u].disk_write.add_at(logged, bytes as f64);
        let me = ctx.me();
        ctx.send_at(me, Msg::JournalSynced, synced);
    }

    pub fn on_journal_synced(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let bookie = self.index(ctx);
        for (entry, (broker, gen)) in std::mem::take(&mut self.committing) {
            self.reply(broker, Msg::EntryAdded { entry, bookie, gen }, ctx);
        }
        self.busy = false;
        if !self.queue.is_empty() {
            self.commit(ctx);
        }
    }

    /// A crashed bookie loses what it had not committed; each broker learns that its
    /// adds failed at once if the connection is refused (the process died), after the
    /// client timeout if the host hangs (reference §2.8).
    pub fn on_crash(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let lost: Vec<(u32, (u16, u8))> = self
            .queue
            .drain(..)
            .chain(self.committing.drain(..))
            .collect();
        self.queued_bytes = 0;
        self.busy = false;
        let me = ctx.me();
        let at = ctx.now() + failed_add_delay(self.task, ctx.world);
        let Some(bookie) = ctx.world.ingest.bookie_actors.iter().position(|&a| a == me) else {
            return;
        };
        for (entry, (broker, gen)) in lost {
            let actor = ctx.world.ingest.broker_actors[broker as usize];
            let bookie = bookie as u16;
            ctx.send_at(actor, Msg::EntryFailed { entry, bookie, gen }, at);
        }
    }
}

/// Whether bookie `b` takes adds: it runs, and its disk is not full (a bookie whose
/// disk fills turns read-only; inference: BookKeeper's read-only mode, not in the
/// reference).
fn writable(b: usize, w: &World) -> bool {
    let t = w.ingest.bookie_tasks[b];
    let host = &w.hosts[w.tasks[t].host];
    w.tasks[t].up && host.up && !host.disk_full
}

/// reference §2.8: how long a broker's add to the bookie of task `task` takes to fail:
/// a refused connection (the process died, the host runs) fails after the dial
/// timeout; a host that hangs, after bookkeeperClientTimeoutInSeconds.
pub fn failed_add_delay(task: usize, w: &World) -> crate::engine::SimDuration {
    if w.hosts[w.tasks[task].host].up {
        w.rpc_error_after()
    } else {
        w.failover.bookie_client_timeout
    }
}
