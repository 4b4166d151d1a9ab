//! The generic discrete-event engine. It knows nothing about Milvus: time, the event
//! queue, actors and their context, timers and random streams.

pub mod queue;
pub mod rng;
pub mod sim;
pub mod time;

pub use queue::EventId;
pub use rng::SimRng;
pub use sim::{Actor, ActorId, Counters, Ctx, Simulation};
pub use time::{SimDuration, SimTime, NS_PER_MS, NS_PER_S, NS_PER_US};
