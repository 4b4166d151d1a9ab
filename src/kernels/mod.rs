//! Vector-search kernels: the real work a query node and an index node do, measured
//! by `simctl calibrate` to give the cost model its constants.
//!
//! Every SIMD path has a scalar reference it is tested against.

pub mod data;
pub mod distance;
pub mod hnsw;
pub mod ivf;
pub mod quant;
mod tiled;
pub mod topk;
