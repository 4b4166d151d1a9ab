//! Docker Swarm as the users run it: placement of services on hosts, the start order
//! of a cold cluster, and where tasks go when hosts fail.

pub mod dot;
pub mod marked_yaml;
pub mod milvus_yaml;
pub mod nginx_conf;
pub mod nginx_syntax;
pub mod placement;
pub mod reschedule;
pub mod stack_configs;
pub mod stack_import;
pub mod start_order;

pub use placement::{place, Placement, Task};

/// A topology from TOML text, for unit tests.
#[cfg(test)]
pub(crate) fn test_topology(text: &str) -> crate::scenario::Topology {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "simctl-swarm-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("topology.toml");
    std::fs::write(&path, text).unwrap();
    let t = crate::scenario::load_topology(&path, None).unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_dir_all(&dir).unwrap();
    t
}
