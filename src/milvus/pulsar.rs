//! Pulsar as Milvus 2.3 uses it (reference §2.8, §3.3): brokers own the DML topics
//! and persist each message on a bookie ensemble before acknowledging it; bookies
//! group-commit their journal to disk. Consumers (the data node of the shard and the
//! delegators) get each message once it is persisted.

use crate::engine::{ActorId, Ctx, SimTime};

use super::msg::{Msg, Req};
use super::overheads::CONTROL_RPC_BYTES;
use super::world::{send_net, Endpoint, World};

/// reference §2.8: ensemble, write quorum and ack quorum are 2 / 2 / 2.
pub const ENSEMBLE: usize = 2;
pub const ACK_QUORUM: u8 = 2;

/// reference §2.8: a message is persisted before the broker acknowledges it.
struct Entry {
    req: Req,
    insert_id: u64,
    part: u8,
    shard: u8,
    segment: u32,
    rows: u32,
    acks: u8,
}

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
            .filter(|&b| {
                let t = w.ingest.bookie_tasks[b];
                w.tasks[t].up && w.hosts[w.tasks[t].host].up
            })
            .take(ENSEMBLE)
            .collect();
        (up.len() == ENSEMBLE).then_some(up)
    }

    pub fn on_produce(&mut self, req: Req, part: u8, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let ins = &ctx.world.ingest.inserts[req as usize];
        let (proxy, insert_id) = (ins.proxy, ins.id);
        let p = ins.parts[part as usize];
        let shard = p.shard as usize;
        let bytes = rows as u64 * ctx.world.ingest.row_bytes;
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
        };
        let id = match self.free.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(entry);
                i
            }
            None => {
                self.entries.push(Some(entry));
                (self.entries.len() - 1) as u32
            }
        };
        for b in bookies {
            let (actor, task) = (
                ctx.world.ingest.bookie_actors[b],
                ctx.world.ingest.bookie_tasks[b],
            );
            send_net(
                ctx,
                Endpoint::Task(self.task),
                Endpoint::Task(task),
                bytes,
                actor,
                Msg::AddEntry {
                    entry: id,
                    bytes: bytes as u32,
                    broker: self.index,
                },
            );
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
        let task = ctx.world.task_of(proxy);
        send_net(
            ctx,
            Endpoint::Task(self.task),
            Endpoint::Task(task),
            CONTROL_RPC_BYTES,
            proxy,
            Msg::Produced {
                req,
                ok,
                part,
                rows,
            },
        );
    }

    pub fn on_entry_added(&mut self, entry: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let Some(e) = self.entries[entry as usize].as_mut() else {
            return;
        };
        e.acks += 1;
        if e.acks < ACK_QUORUM {
            return;
        }
        let e = self.entries[entry as usize].take().expect("present");
        self.free.push(entry);
        ctx.world.ingest.persisted_rows += e.rows as u64;
        let ins = &ctx.world.ingest.inserts[e.req as usize];
        let proxy = ins.proxy;
        // An insert answered already (its proxy died) gets no ack; the message is
        // persisted all the same and its consumers still get it.
        if ins.id == e.insert_id && !ins.closed {
            self.answer(proxy, e.req, true, e.part, e.rows, ctx);
        }
        self.dispatch(e.shard as usize, e.segment, e.rows, ctx);
    }

    /// reference §3.3 steps 4-5: the delegators of every replica and the shard's data
    /// node consume the persisted message.
    fn dispatch(&self, shard: usize, segment: u32, rows: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let bytes = rows as u64 * ctx.world.ingest.row_bytes;
        let mut consumers = vec![ctx.world.ingest.data_node_of_shard[shard]];
        for r in 0..ctx.world.dist.leader.len() {
            if let Some(n) = ctx.world.dist.leader[r][shard] {
                let actor = ctx.world.query_node_actors[n];
                if !consumers.contains(&actor) {
                    consumers.push(actor);
                }
            }
        }
        for actor in consumers {
            let task = ctx.world.task_of(actor);
            send_net(
                ctx,
                Endpoint::Task(self.task),
                Endpoint::Task(task),
                bytes,
                actor,
                Msg::Dml { segment, rows },
            );
        }
    }
}

/// A bookie: entries join the journal queue; one write plus fsync commits every entry
/// queued (group commit), then each is acknowledged. The entry log (ledger storage)
/// gets the same bytes again, flushed in the background on the same disk.
pub struct Bookie {
    pub task: usize,
    queue: Vec<(u32, u16)>,
    queued_bytes: u64,
    committing: Vec<(u32, u16)>,
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

    pub fn on_add_entry(
        &mut self,
        entry: u32,
        bytes: u32,
        broker: u16,
        ctx: &mut Ctx<'_, Msg, World>,
    ) {
        self.queue.push((entry, broker));
        self.queued_bytes += bytes as u64;
        if !self.busy {
            self.commit(ctx);
        }
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
        let synced: SimTime = written + h.spec.disk.fsync_latency;
        // The entry log gets the bytes too, behind the journal on the same disk.
        let logged = h.disk_write.reserve(synced, bytes);
        w.usage[u].disk_write.add_at(written, bytes as f64);
        w.usage[u].disk_write.add_at(logged, bytes as f64);
        let me = ctx.me();
        ctx.send_at(me, Msg::JournalSynced, synced);
    }

    pub fn on_journal_synced(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        for (entry, broker) in std::mem::take(&mut self.committing) {
            let actor = ctx.world.ingest.broker_actors[broker as usize];
            let task = ctx.world.task_of(actor);
            send_net(
                ctx,
                Endpoint::Task(self.task),
                Endpoint::Task(task),
                CONTROL_RPC_BYTES,
                actor,
                Msg::EntryAdded { entry },
            );
        }
        self.busy = false;
        if !self.queue.is_empty() {
            self.commit(ctx);
        }
    }

    /// A crashed bookie loses what it had not committed.
    pub fn on_crash(&mut self) {
        self.queue.clear();
        self.committing.clear();
        self.queued_bytes = 0;
        self.busy = false;
    }
}
