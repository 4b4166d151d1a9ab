//! Docker Swarm as the users run it. This release: placement of services on hosts.

pub mod placement;

pub use placement::{place, Placement, Task};
