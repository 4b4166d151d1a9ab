//! simctl: a deterministic discrete-event simulator of a Milvus 2.3 cluster on the
//! hardware a team plans to buy.
//!
//! Layers, from the bottom: `engine` (time, events, actors; knows nothing of Milvus),
//! `hw` (hosts, CPU, memory, disks, network, cost of vector work), `swarm` (placement),
//! `scenario` (TOML inputs), `milvus` and `workload` (the models), `report` (outputs),
//! `run` (playing an experiment) and `cli`.

pub mod calibrate;
pub mod cli;
pub mod engine;
pub mod fidelity;
pub mod hw;
pub mod kernels;
pub mod milvus;
pub mod regress;
pub mod report;
pub mod run;
pub mod scenario;
pub mod swarm;
pub mod sweep;
pub mod workload;
