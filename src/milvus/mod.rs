//! The Milvus 2.3 cluster as actors: the search path (reference §3.1): proxy, root
//! coordinator (TSO and time ticks), query coordinator (shard leaders, loads, handoff)
//! and query nodes (delegators and workers); and the write path (reference §3.3):
//! Pulsar brokers and bookies, data coordinator, data nodes, index nodes, with MinIO
//! as shared storage.

pub mod cluster;
pub mod control;
pub mod datacoord;
pub mod datanode;
pub mod ddl;
pub mod hardware;
pub mod indexnode;
pub mod ingest;
pub mod layout;
pub mod minio;
pub mod msg;
pub mod netfault;
pub mod nginx;
pub mod overheads;
pub mod proxy;
pub mod pulsar;
pub mod querycoord;
pub mod querynode;
pub mod retrieve;
pub mod rootcoord;
pub mod storage;
pub mod world;

pub use cluster::{build_cluster, Component};
pub use layout::{plan, Layout};
