//! Inserting clients: batches of rows at a fixed pace (open loop) or N clients each
//! waiting for its last batch's acknowledgement (closed loop), then flush(). Upserting
//! clients are the same clients calling upsert() with their batches, without flush().

use super::writer::WriteProxies;
use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::milvus::ingest::WriteKind;
use crate::milvus::msg::{Msg, Req};
use crate::milvus::world::World;
use crate::scenario::experiment::{InsertArrivals, InsertSpec};

/// GUESS: gRPC framing and field headers of an insert request.
const INSERT_FRAMING_BYTES: u64 = 1024;

pub struct Inserters {
    /// What the clients call: insert() or upsert().
    kind: WriteKind,
    spec: InsertSpec,
    proxies: WriteProxies,
    /// Rows sent so far.
    sent: u64,
    /// Inserts sent and not yet answered.
    open: u32,
    finished: bool,
}

impl Inserters {
    /// Clients calling `kind` (insert or upsert) as `spec` says.
    pub fn new(kind: WriteKind, spec: InsertSpec, proxies: Vec<(ActorId, usize)>) -> Self {
        assert!(kind.writes_rows(), "inserting clients write rows");
        Inserters {
            kind,
            spec,
            proxies: WriteProxies::new(proxies),
            sent: 0,
            open: 0,
            finished: false,
        }
    }

    /// The first events and when they happen.
    pub fn start_messages(&self) -> Vec<(SimTime, Msg)> {
        let at = SimTime::ZERO + self.spec.start;
        match self.spec.arrivals {
            InsertArrivals::Rate(_) => vec![(at, Msg::InsertNext { client: 0 })],
            InsertArrivals::Clients(n) => (0..n)
                .map(|client| (at, Msg::InsertNext { client }))
                .collect(),
        }
    }

    pub fn on_next(&mut self, client: u32, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if now >= ctx.world.end || self.sent >= self.spec.rows {
            return;
        }
        let rows = self.spec.batch_rows.min(self.spec.rows - self.sent);
        self.sent += rows;
        self.open += 1;
        let ing = &mut ctx.world.ingest;
        ing.first_insert.get_or_insert(now);
        let req = ing.open(client, rows, now);
        ing.inserts[req as usize].kind = self.kind;
        // An upsert carries whole rows, keys included, as an insert does.
        let bytes = INSERT_FRAMING_BYTES + rows * ctx.world.ingest.row_bytes;
        self.proxies.send(req, bytes, ctx);
        if let InsertArrivals::Rate(rate) = self.spec.arrivals {
            let gap = SimDuration::from_secs_f64(self.spec.batch_rows as f64 / rate);
            ctx.set_timer(gap, Msg::InsertNext { client });
        }
    }

    pub fn on_replied(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let ins = &ctx.world.ingest.inserts[req as usize];
        if ins.closed {
            return;
        }
        let (client, failed) = (ins.client, ins.error.is_some());
        if failed {
            ctx.world.ingest.failed(req);
        }
        ctx.world.close_insert(req, now);
        self.open = self.open.saturating_sub(1);
        if let InsertArrivals::Clients(_) = self.spec.arrivals {
            ctx.send(ctx.me(), Msg::InsertNext { client }, SimDuration::ZERO);
        }
        if !self.finished && self.open == 0 && self.sent >= self.spec.rows {
            self.finished = true;
            let ing = &ctx.world.ingest;
            // The rows acknowledged count both workloads' rows.
            let acked = match self.kind {
                WriteKind::Upsert => ing.upserts.acked_rows,
                WriteKind::Insert | WriteKind::Delete => ing.acked_rows - ing.upserts.acked_rows,
            };
            ctx.world.rec.event(
                now,
                if self.kind == WriteKind::Upsert {
                    "upsert_finished"
                } else {
                    "insert_finished"
                },
                "",
                "",
                format!(
                    "clients: {acked} of {} rows acknowledged{}",
                    self.spec.rows,
                    if self.spec.flush {
                        "; flush() seals the growing segments"
                    } else {
                        ""
                    }
                ),
            );
            if self.kind == WriteKind::Insert {
                if self.spec.flush {
                    ctx.world.ingest.flush_requested = true;
                }
                ctx.world.ingest.inserts_done = true;
            }
        }
    }
}
