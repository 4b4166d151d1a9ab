//! What a network cut does to a message that would cross it (reference §2.1, §2.2).
//!
//! Nothing crosses a cut. A caller cannot tell a partitioned peer from a dead one:
//! its call fails after the same dial timeout (`rpc_error_after`, reference §1.2), so a
//! call is handed to the dispatcher's dead-letter path. A reply that cannot cross is
//! lost, and the call it answers fails the same way on the caller's side. Anything
//! else (a notification) is lost, but for the write path's messages, which are sent
//! again until the cut heals (`world::hold_back`). Messages already on the wire when
//! a cut starts are delivered (they take microseconds to milliseconds).

use crate::engine::{ActorId, Ctx};
use crate::workload::client::ERR_PROXY_UNREACHABLE;

use super::msg::{Fail, Msg};
use super::world::{hold_back, Endpoint, World};

/// `msg`, on its way to `target`, meets a network cut.
pub fn undeliverable(
    msg: Msg,
    from: Endpoint,
    target: ActorId,
    bytes: u64,
    ctx: &mut Ctx<'_, Msg, World>,
) {
    let at = ctx.now() + ctx.world.rpc_error_after();
    let failed = match msg {
        Msg::SearchArrived { .. }
        | Msg::TsoRequested { .. }
        | Msg::ShardLeadersRequested { .. }
        | Msg::DelegatorSearchArrived { .. }
        | Msg::WorkerSearchArrived { .. }
        | Msg::InsertArrived { .. }
        | Msg::SegmentsRequested { .. }
        | Msg::Produce { .. } => return super::cluster::dead_letter(msg, ctx),
        Msg::AddEntry {
            entry, broker, gen, ..
        } => {
            // The broker's add to a bookie it cannot reach fails after its timeout.
            let w = &*ctx.world;
            if let Some(bookie) = w.ingest.bookie_actors.iter().position(|&a| a == target) {
                let actor = w.ingest.broker_actors[broker as usize];
                let bookie = bookie as u16;
                ctx.send_at(actor, Msg::EntryFailed { entry, bookie, gen }, at);
            }
            return;
        }
        // A bookie's answer that cannot reach its broker: the broker's add times out
        // and it changes ensembles (reference §2.8).
        Msg::EntryAdded { entry, bookie, gen } | Msg::EntryFailed { entry, bookie, gen } => {
            Msg::EntryFailed { entry, bookie, gen }
        }
        Msg::SearchReplied { req } => {
            // The client's call to its proxy breaks: the answer never comes.
            ctx.world.searches[req as usize].error = Some(ERR_PROXY_UNREACHABLE);
            msg
        }
        Msg::ShardSearched { req, shard, .. } => Msg::ShardSearched {
            req,
            shard,
            error: Some(Fail::NodeOffline),
        },
        Msg::WorkerReplied {
            req, shard, gen, ..
        } => Msg::WorkerReplied {
            req,
            shard,
            error: Some(Fail::NodeOffline),
            gen,
        },
        Msg::TsoAllocated { req, insert, .. } => Msg::TsoFailed { req, insert },
        Msg::InsertReplied { req } => {
            // The write path: the client's insert call breaks; it cannot know whether
            // the rows were persisted.
            ctx.world.ingest.inserts[req as usize].error = Some(ERR_PROXY_UNREACHABLE);
            msg
        }
        Msg::SegmentsAssigned { req, .. } => Msg::SegmentsAssigned { req, ok: false },
        Msg::Produced { req, .. } => Msg::Produced { req, ok: false },
        Msg::ShardLeadersFetched { .. } => Msg::ShardLeadersFetched { ok: false },
        Msg::SegmentLoaded {
            node,
            replica,
            segment,
            gen,
            ..
        } => Msg::SegmentLoaded {
            node,
            replica,
            segment,
            gen,
            ok: false,
        },
        Msg::LoadSegment {
            replica,
            segment,
            gen,
        } => {
            // querycoord's LoadSegments call fails: the load task fails.
            let node = ctx
                .world
                .query_node_actors
                .iter()
                .position(|&a| a == target)
                .expect("LoadSegment goes to a query node");
            let qc = ctx.world.querycoord;
            ctx.send_at(
                qc,
                Msg::SegmentLoaded {
                    node: node as u16,
                    replica,
                    segment,
                    gen,
                    ok: false,
                },
                at,
            );
            return;
        }
        // The write path retries its calls and its consumers resume: held back
        // until the cut heals.
        Msg::Dml { .. }
        | Msg::DeleteDml { .. }
        | Msg::FlushSegment { .. }
        | Msg::SegmentFlushed { .. }
        | Msg::ChannelWatch { .. }
        | Msg::Compact { .. }
        | Msg::CompactionDone { .. }
        | Msg::BuildIndex { .. }
        | Msg::IndexBuilt { .. } => return hold_back(ctx, from, target, bytes, msg),
        _ => return,
    };
    ctx.send_at(target, failed, at);
}
