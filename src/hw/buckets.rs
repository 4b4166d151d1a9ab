//! Per-second accumulators for the time series.

use crate::engine::{SimTime, NS_PER_S};

/// Sums a quantity into one bucket per simulated second.
#[derive(Clone, Debug, Default)]
pub struct SecondBuckets {
    values: Vec<f64>,
}

impl SecondBuckets {
    fn slot(&mut self, second: usize) -> &mut f64 {
        if second >= self.values.len() {
            self.values.resize(second + 1, 0.0);
        }
        &mut self.values[second]
    }

    /// Adds `amount` to the second that contains `t`.
    pub fn add_at(&mut self, t: SimTime, amount: f64) {
        *self.slot((t.0 / NS_PER_S) as usize) += amount;
    }

    /// Adds `rate` per nanosecond over [from, to), split across second boundaries.
    pub fn add_interval(&mut self, from: SimTime, to: SimTime, rate: f64) {
        if to <= from || rate == 0.0 {
            return;
        }
        let mut t = from.0;
        while t < to.0 {
            let second = t / NS_PER_S;
            let end = ((second + 1) * NS_PER_S).min(to.0);
            *self.slot(second as usize) += (end - t) as f64 * rate;
            t = end;
        }
    }

    /// The total of second `s` (zero if nothing was added).
    pub fn get(&self, s: usize) -> f64 {
        self.values.get(s).copied().unwrap_or(0.0)
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
}
