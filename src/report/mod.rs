//! Results: what a run records, and the files it writes (the output contract).

pub mod output;
pub mod recorder;
pub mod summary;
pub mod tables;
