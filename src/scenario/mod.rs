//! Scenario files: topologies and experiments in TOML, their units, validation and
//! located errors.

pub mod error;
pub mod experiment;
pub mod faults;
pub mod load;
pub mod milvus_config;
pub mod nginx;
pub mod overrides;
pub mod scale;
pub mod standalone;
pub mod topology;
pub mod units;

pub use error::{InputError, InputErrors};
pub use experiment::{load_experiment, Experiment};
pub use topology::{load_topology, Topology};
