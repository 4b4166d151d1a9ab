//! Integration tests: one binary, a module per behaviour.

mod common;
mod determinism;
mod faults;
mod goldens;
mod saturation;
mod search_path;
mod sweep;
mod validate;
