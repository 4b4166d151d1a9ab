//! Integration tests: one binary, a module per behaviour.

mod common;
mod determinism;
mod saturation;
mod search_path;
mod validate;
