//! Load on the cluster: the clients and their request mix.

pub mod client;
pub mod deleter;
pub mod inserter;
pub mod writer;

pub use client::Clients;
