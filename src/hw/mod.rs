//! Hardware: host specs, resources any model can use (CPU, memory, bandwidth servers,
//! the network graph) and the cost of vector work on a host.

pub mod bandwidth;
pub mod buckets;
pub mod cost;
pub mod cpu;
pub mod host;
pub mod memory;
pub mod network;

pub use bandwidth::BandwidthServer;
pub use buckets::SecondBuckets;
pub use cost::{HostCost, IndexKind, IndexSpec, SearchSpec};
pub use cpu::PsCpu;
pub use host::{DiskSpec, HostSpec, Isa, SearchServerCpu, SwarmRole};
pub use memory::{Memory, OutOfMemory};
pub use network::{Degradation, Link, Network, NetworkBuilder, TCP_MSS_BYTES};
