//! Integration tests: one binary, a module per behaviour.

mod calibrate;
mod common;
mod determinism;
mod goldens;
mod saturation;
mod search_path;
mod sweep;
mod validate;
