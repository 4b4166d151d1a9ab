//! Deleting clients: `delete(expr="id in [...]")` with `batch_rows` keys per call, at
//! a fixed pace (open loop), or with `by = "expr"` a filter on another field matching
//! as many rows (the proxy queries their keys first). A delete takes the insert's
//! path through the proxy and the DML channels (reference §3.3), so it shares the
//! insert request table.

use super::writer::WriteProxies;
use crate::engine::{ActorId, Ctx, SimDuration, SimTime};
use crate::milvus::ingest::{WriteKind, DELETE_ROW_BYTES};
use crate::milvus::msg::{Msg, Req};
use crate::milvus::world::World;
use crate::scenario::experiment::{DeleteBy, DeleteSpec};

/// GUESS: gRPC framing, collection name and expression text around the keys.
const DELETE_FRAMING_BYTES: u64 = 512;

pub struct Deleters {
    spec: DeleteSpec,
    proxies: WriteProxies,
    /// Keys sent so far.
    sent: u64,
    open: u32,
    finished: bool,
}

impl Deleters {
    pub fn new(spec: DeleteSpec, proxies: Vec<(ActorId, usize)>) -> Self {
        Deleters {
            spec,
            proxies: WriteProxies::new(proxies),
            sent: 0,
            open: 0,
            finished: false,
        }
    }

    pub fn start_at(&self) -> SimTime {
        SimTime::ZERO + self.spec.start
    }

    pub fn on_next(&mut self, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        if now >= ctx.world.end || self.sent >= self.spec.rows {
            return;
        }
        let rows = self.spec.batch_rows.min(self.spec.rows - self.sent);
        self.sent += rows;
        self.open += 1;
        let req = ctx.world.ingest.open(0, rows, now);
        ctx.world.ingest.inserts[req as usize].kind = WriteKind::Delete;
        // An expression carries no keys: its text fits the framing (GUESS).
        let bytes = match self.spec.by {
            DeleteBy::Key => DELETE_FRAMING_BYTES + rows * DELETE_ROW_BYTES,
            DeleteBy::Expr => DELETE_FRAMING_BYTES,
        };
        self.proxies.send(req, bytes, ctx);
        let gap = SimDuration::from_secs_f64(self.spec.batch_rows as f64 / self.spec.rate);
        ctx.set_timer(gap, Msg::DeleteNext);
    }

    pub fn on_replied(&mut self, req: Req, ctx: &mut Ctx<'_, Msg, World>) {
        let now = ctx.now();
        let d = &ctx.world.ingest.inserts[req as usize];
        if d.closed {
            return;
        }
        if d.error.is_some() {
            ctx.world.ingest.failed(req);
        }
        ctx.world.close_insert(req, now);
        self.open = self.open.saturating_sub(1);
        if !self.finished && self.open == 0 && self.sent >= self.spec.rows {
            self.finished = true;
            // The keys acknowledged count the upserts' keys too.
            let ing = &ctx.world.ingest;
            let detail = format!(
                "clients: {} of {} deletes acknowledged",
                ing.deletes.acked_rows - ing.upserts.acked_rows,
                self.spec.rows
            );
            ctx.world.rec.event(now, "delete_finished", "", "", detail);
        }
    }
}
