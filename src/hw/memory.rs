//! Memory as a capacity with an out-of-memory outcome.

use std::fmt;

#[derive(Clone, Debug)]
pub struct Memory {
    capacity_bytes: u64,
    used_bytes: u64,
    peak_bytes: u64,
}

/// An allocation that would exceed the capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfMemory {
    pub requested_bytes: u64,
    pub used_bytes: u64,
    pub capacity_bytes: u64,
}

impl fmt::Display for OutOfMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "out of memory: {} requested with {} of {} in use",
            crate::scenario::units::format_bytes(self.requested_bytes),
            crate::scenario::units::format_bytes(self.used_bytes),
            crate::scenario::units::format_bytes(self.capacity_bytes)
        )
    }
}

impl Memory {
    pub fn new(capacity_bytes: u64) -> Self {
        Memory {
            capacity_bytes,
            used_bytes: 0,
            peak_bytes: 0,
        }
    }

    pub fn allocate(&mut self, bytes: u64) -> Result<(), OutOfMemory> {
        let after = self.used_bytes.saturating_add(bytes);
        if after > self.capacity_bytes {
            return Err(OutOfMemory {
                requested_bytes: bytes,
                used_bytes: self.used_bytes,
                capacity_bytes: self.capacity_bytes,
            });
        }
        self.used_bytes = after;
        self.peak_bytes = self.peak_bytes.max(after);
        Ok(())
    }

    /// Takes `bytes` even past the capacity (memory the model cannot refuse, such as
    /// a data node's buffers); returns whether the host is now over its capacity.
    pub fn overcommit(&mut self, bytes: u64) -> bool {
        self.used_bytes = self.used_bytes.saturating_add(bytes);
        self.peak_bytes = self.peak_bytes.max(self.used_bytes);
        self.used_bytes > self.capacity_bytes
    }

    /// Gives `bytes` back. Freeing more than is in use is a bookkeeping error: tests
    /// (debug builds) stop on it; a run clamps at zero rather than abort.
    pub fn free(&mut self, bytes: u64) {
        debug_assert!(
            bytes <= self.used_bytes,
            "freeing {bytes} bytes but only {} are in use",
            self.used_bytes
        );
        self.used_bytes = self.used_bytes.saturating_sub(bytes);
    }

    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }
    pub fn peak_bytes(&self) -> u64 {
        self.peak_bytes
    }
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_past_capacity_fails_and_changes_nothing() {
        let mut m = Memory::new(100);
        m.allocate(60).unwrap();
        let err = m.allocate(50).unwrap_err();
        assert_eq!(err.used_bytes, 60);
        assert_eq!(m.used_bytes(), 60);
        m.free(60);
        assert_eq!(m.peak_bytes(), 60);
    }
}
