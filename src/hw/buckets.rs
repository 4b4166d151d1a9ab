//! Per-second (and finer) accumulators for the time series and measured spans.

use crate::engine::{SimTime, NS_PER_S};

/// Sums a quantity into buckets of `WIDTH_NS` each (a constant, so that finding a
/// bucket on the CPU's hot path is a multiplication, not a division).
#[derive(Clone, Debug, Default)]
pub struct Buckets<const WIDTH_NS: u64> {
    values: Vec<f64>,
}

/// One bucket per simulated second: the time series.
pub type SecondBuckets = Buckets<NS_PER_S>;

/// Width of [`FineBuckets`]: 10 ms, so a span of a few seconds is read to a few
/// thousandths of its mean at its edges.
pub const FINE_BUCKET_NS: u64 = 10_000_000;

/// Buckets for spans shorter than a second (`simctl fidelity`'s measured spans).
pub type FineBuckets = Buckets<FINE_BUCKET_NS>;

impl<const WIDTH_NS: u64> Buckets<WIDTH_NS> {
    fn slot(&mut self, bucket: usize) -> &mut f64 {
        if bucket >= self.values.len() {
            self.values.resize(bucket + 1, 0.0);
        }
        &mut self.values[bucket]
    }

    /// Adds `amount` to the bucket that contains `t`.
    pub fn add_at(&mut self, t: SimTime, amount: f64) {
        *self.slot((t.0 / WIDTH_NS) as usize) += amount;
    }

    /// Adds `rate` per nanosecond over [from, to), split across bucket boundaries.
    pub fn add_interval(&mut self, from: SimTime, to: SimTime, rate: f64) {
        if to <= from || rate == 0.0 {
            return;
        }
        let mut t = from.0;
        while t < to.0 {
            let bucket = t / WIDTH_NS;
            let end = ((bucket + 1) * WIDTH_NS).min(to.0);
            *self.slot(bucket as usize) += (end - t) as f64 * rate;
            t = end;
        }
    }

    /// The total of bucket `i` (zero if nothing was added).
    pub fn get(&self, i: usize) -> f64 {
        self.values.get(i).copied().unwrap_or(0.0)
    }

    /// The total over [from, to) seconds, per second of it: the buckets inside whole,
    /// the ones at the edges by the part inside. None for an empty span.
    pub fn mean_over(&self, from_s: f64, to_s: f64) -> Option<f64> {
        if !(to_s > from_s && from_s >= 0.0) {
            return None;
        }
        let w = WIDTH_NS as f64 / NS_PER_S as f64;
        let (from, to) = (from_s / w, to_s / w);
        let mut sum = 0.0;
        let mut t = from;
        while t < to {
            let b = t.floor();
            let end = (b + 1.0).min(to);
            sum += self.get(b as usize) * (end - t);
            t = end;
        }
        Some(sum / NS_PER_S as f64 / (to_s - from_s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_split_across_seconds() {
        let mut b = SecondBuckets::default();
        b.add_interval(SimTime(NS_PER_S / 2), SimTime(2 * NS_PER_S), 1.0);
        assert_eq!(b.get(0), (NS_PER_S / 2) as f64);
        assert_eq!(b.get(1), NS_PER_S as f64);
        assert_eq!(b.get(2), 0.0);
    }

    #[test]
    fn a_span_mean_counts_its_edge_buckets_in_part() {
        // 10 ms buckets; one core busy over [10 ms, 30 ms), none before or after.
        let mut b = FineBuckets::default();
        b.add_interval(SimTime(10_000_000), SimTime(30_000_000), 1.0);
        assert!((b.mean_over(0.01, 0.03).unwrap() - 1.0).abs() < 1e-12);
        assert!((b.mean_over(0.0, 0.04).unwrap() - 0.5).abs() < 1e-12);
        // Half of an idle bucket and half of a busy one.
        assert!((b.mean_over(0.005, 0.015).unwrap() - 0.5).abs() < 1e-12);
        // Within a bucket the use is taken as even over it.
        let mut c = FineBuckets::default();
        c.add_interval(SimTime(0), SimTime(5_000_000), 1.0);
        assert!((c.mean_over(0.005, 0.01).unwrap() - 0.5).abs() < 1e-12);
        assert_eq!(b.mean_over(1.0, 2.0), Some(0.0));
        assert_eq!(b.mean_over(0.02, 0.02), None);
    }
}
