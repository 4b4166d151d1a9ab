//! Integration tests: one binary, a module per behaviour.

mod calibrate;
mod common;
mod ddl;
mod delete_expr;
mod determinism;
mod faults;
mod fidelity;
mod goldens;
mod ingest;
mod keys;
mod nginx;
mod saturation;
mod search_path;
mod segments;
mod stack_configs;
mod standalone;
mod storage;
mod swarm;
mod sweep;
mod upsert;
mod validate;
mod write_faults;
