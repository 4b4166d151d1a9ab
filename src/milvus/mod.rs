//! The Milvus 2.3 cluster as actors. This release models the search path of a loaded
//! collection (reference §3.1): proxy, root coordinator (TSO and time ticks), query
//! coordinator (shard leaders) and query nodes (delegators and workers).

pub mod cluster;
pub mod control;
pub mod hardware;
pub mod layout;
pub mod msg;
pub mod netfault;
pub mod overheads;
pub mod proxy;
pub mod querycoord;
pub mod querynode;
pub mod rootcoord;
pub mod world;

pub use cluster::{build_cluster, Component};
pub use layout::{plan, Layout};
