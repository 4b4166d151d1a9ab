//! First-come-first-served bandwidth servers: a NIC direction or a disk.
//!
//! A transfer occupies the server for bytes / bandwidth after whatever is already
//! queued. Transfers are admitted in simulated-time order, so keeping only the time the
//! server becomes free is exact for FCFS and needs no events of its own.

use crate::engine::{SimDuration, SimTime};

#[derive(Clone, Debug)]
pub struct BandwidthServer {
    bytes_per_s: f64,
    free_at: SimTime,
}

impl BandwidthServer {
    pub fn new(bytes_per_s: f64) -> Self {
        assert!(bytes_per_s > 0.0, "bandwidth must be positive");
        BandwidthServer {
            bytes_per_s,
            free_at: SimTime::ZERO,
        }
    }

    pub fn service_time(&self, bytes: u64) -> SimDuration {
        SimDuration::from_secs_f64(bytes as f64 / self.bytes_per_s)
    }

    /// Queues a transfer that can start at `start`; returns when it completes.
    pub fn reserve(&mut self, start: SimTime, bytes: u64) -> SimTime {
        let begin = start.max(self.free_at);
        let done = begin + self.service_time(bytes);
        self.free_at = done;
        done
    }

    /// When `bytes` starting at `start` would be done on an idle server, without
    /// queueing them (a transfer decided now that leaves later; see
    /// `Network::transfer_later`).
    pub fn unqueued(&self, start: SimTime, bytes: u64) -> SimTime {
        start + self.service_time(bytes)
    }

    /// Changes the bandwidth for transfers queued from now on (a slowed or restored
    /// disk); those already queued keep their completion times.
    pub fn set_bytes_per_s(&mut self, bytes_per_s: f64) {
        assert!(bytes_per_s > 0.0, "bandwidth must be positive");
        self.bytes_per_s = bytes_per_s;
    }

    pub fn bytes_per_s(&self) -> f64 {
        self.bytes_per_s
    }

    /// When everything queued so far is done.
    pub fn free_at(&self) -> SimTime {
        self.free_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_queue_behind_each_other() {
        let mut s = BandwidthServer::new(1e9); // 1 byte per ns
        assert_eq!(s.reserve(SimTime(0), 100), SimTime(100));
        assert_eq!(s.reserve(SimTime(50), 100), SimTime(200));
        assert_eq!(s.reserve(SimTime(500), 10), SimTime(510));
        assert_eq!(s.free_at(), SimTime(510));
    }
}
