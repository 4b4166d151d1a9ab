//! What a host is: the spec a team plans to buy.

use std::collections::BTreeMap;

use crate::engine::SimDuration;

/// SIMD instruction set the vector kernels can use on a host.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Isa {
    Avx512,
    Avx2,
    Neon,
    Scalar,
}

impl Isa {
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Neon => "neon",
            Isa::Scalar => "scalar",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SwarmRole {
    Manager,
    Worker,
}

#[derive(Clone, Debug, PartialEq)]
pub struct DiskSpec {
    pub size_bytes: u64,
    pub read_bytes_per_s: f64,
    pub write_bytes_per_s: f64,
    pub iops: f64,
    pub fsync_latency: SimDuration,
    /// One 4 KiB random read at queue depth 1 (topology key `read_latency`; default
    /// [`DEFAULT_DISK_READ_LATENCY`]): what a DISKANN hop waits for.
    pub read_latency: SimDuration,
}

// GUESS: one 4 KiB random read on a local NAND SSD at queue depth 1, ~100 us (the order
// of a NAND page read plus the controller; not from the reference, which gives no disk
// latency, and a host spec's IOPS and bandwidth do not imply one). A topology sets its
// own with `disk = { ..., read_latency = "80us" }`.
pub const DEFAULT_DISK_READ_LATENCY: SimDuration = SimDuration::from_micros(100);

/// A host of the topology with its class resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct HostSpec {
    pub name: String,
    pub address: String,
    pub class: String,
    pub cores: u32,
    /// Threads' worth of CPU that processes outside the model keep runnable on the
    /// host (other tenants of a shared machine): up to the cores, what they use while
    /// the model leaves them room; under load they and the model's threads share the
    /// cores (hw::cpu). A topology sets it below the cores; `simctl fidelity`'s replay
    /// may set more threads than cores. 0 for a machine of its own.
    pub background_cores: f64,
    pub ghz: f64,
    pub isa: Isa,
    pub memory_bytes: u64,
    pub memory_bandwidth_bytes_per_s: f64,
    pub disk: DiskSpec,
    pub nic_bytes_per_s: f64,
    pub labels: BTreeMap<String, String>,
    pub role: SwarmRole,
    /// Milvus's own CPU per search on this host, where the topology gives it (class
    /// keys `search_server_cpu`, `search_server_cpu_per_query`); `None`: the
    /// measurement on the reference machine scaled by the clock
    /// (milvus::overheads::search_server_on).
    pub search_server: SearchServerCpu,
}

/// Milvus's own CPU per search on a host (everything around the vector kernels, from
/// the Search RPC reaching the proxy to its reply leaving it): a fixed part and a part
/// per query vector. Each part the topology leaves out is the reference measurement
/// scaled by the host's clock (src/milvus/overheads.rs).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct SearchServerCpu {
    pub fixed: Option<SimDuration>,
    pub per_query: Option<SimDuration>,
}
