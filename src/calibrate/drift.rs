//! How far a machine's speed moved between two calibrations of it, figure by figure.
//!
//! The fidelity harness can calibrate the machine just before it starts the server and
//! again once it stopped it (`harness.py --calibrate`). A virtual machine's speed moves
//! with its neighbours on the physical host, by more than the fidelity band is wide
//! (README "A quiet machine is not a steady one": the same 2-core VM ran the in-cache
//! kernels 1.1-2.1 times slower one afternoon than that morning, its memory reads no
//! slower; one evening its HNSW searches 2.9 times slower and its memory reads at 0.6 of
//! the bandwidth), so two calibrations around a run say whether its figures were
//! measured on one machine or on two.

use super::profile::Profile;

/// After over before, over a group of matching figures: times as they are, bandwidths
/// and clocks inverted, so that above 1 is always "slower after".
#[derive(Clone, Debug, PartialEq)]
pub struct Spread {
    /// Figures compared.
    pub figures: usize,
    /// Geometric mean of the ratios.
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

impl Spread {
    fn of(ratios: &[f64]) -> Option<Spread> {
        let r: Vec<f64> = ratios
            .iter()
            .copied()
            .filter(|r| r.is_finite() && *r > 0.0)
            .collect();
        if r.is_empty() {
            return None;
        }
        Some(Spread {
            figures: r.len(),
            mean: libm::exp(r.iter().map(|x| libm::log(*x)).sum::<f64>() / r.len() as f64),
            min: r.iter().copied().fold(f64::INFINITY, f64::min),
            max: r.iter().copied().fold(0.0, f64::max),
        })
    }

    /// Whether the mean moved by more than `tolerance` (0.1: 10 %) either way.
    pub fn moved(&self, tolerance: f64) -> bool {
        self.mean > 1.0 + tolerance || self.mean < 1.0 / (1.0 + tolerance)
    }
}

/// The speed change between two calibrations of one machine.
#[derive(Clone, Debug, PartialEq)]
pub struct SpeedChange {
    /// Work mostly from the caches: distances and SQ8 codes in cache, the transposed
    /// kernel in cache, top-k, k-means, PQ lookups, and HNSW searches and builds at dim
    /// 128 (the larger graphs among them, 60k and 180k rows, also wait on memory).
    pub cache: Option<Spread>,
    /// Work from memory: read bandwidth at each thread count, distances and the
    /// transposed kernel streamed from RAM, the wide (dim 768) graph's searches.
    pub memory: Option<Spread>,
    /// The clock estimate.
    pub clock: f64,
}

/// Compares two calibrations figure by figure. Figures are paired by what they measure
/// (ISA, metric, dim; rows, M, ef; the top-k's k, the k-means and HNSW dims, the PQ
/// sub-quantisers), so two profiles of different simctl versions or of `--quick` and
/// full runs compare on what they share.
pub fn speed_change(before: &Profile, after: &Profile) -> SpeedChange {
    let mut cache = Vec::new();
    let mut memory = Vec::new();
    let ratio = |b: f64, a: f64| a / b;
    if before.topk.k == after.topk.k {
        cache.push(ratio(
            before.topk.ns_per_candidate,
            after.topk.ns_per_candidate,
        ));
    }
    if before.ivf.dim == after.ivf.dim {
        cache.push(ratio(
            before.ivf.kmeans_ns_per_eval,
            after.ivf.kmeans_ns_per_eval,
        ));
        if before.ivf.pq_m == after.ivf.pq_m {
            cache.push(ratio(
                before.ivf.pq_ns_per_lookup,
                after.ivf.pq_ns_per_lookup,
            ));
        }
    }
    for a in &after.distance {
        if let Some(b) = before
            .distance
            .iter()
            .find(|b| (b.isa, b.metric, b.dtype, b.dim) == (a.isa, a.metric, a.dtype, a.dim))
        {
            cache.push(ratio(b.cache_ns, a.cache_ns));
            memory.push(ratio(b.stream_ns, a.stream_ns));
        }
    }
    for a in &after.sq8 {
        if let Some(b) = before.sq8.iter().find(|b| (b.isa, b.dim) == (a.isa, a.dim)) {
            cache.push(ratio(b.cache_ns, a.cache_ns));
        }
    }
    for a in &after.tiled {
        let key = (a.isa, a.metric, a.dtype, a.dim, a.queries, a.k);
        if let Some(b) = before
            .tiled
            .iter()
            .find(|b| (b.isa, b.metric, b.dtype, b.dim, b.queries, b.k) == key)
        {
            cache.push(ratio(b.cache_ns, a.cache_ns));
            memory.push(ratio(b.stream_ns, a.stream_ns));
        }
    }
    let search = |b: &[super::profile::HnswSearchSample],
                  a: &[super::profile::HnswSearchSample],
                  out: &mut Vec<f64>| {
        for x in a {
            if let Some(y) = b
                .iter()
                .find(|y| (y.rows, y.m, y.ef) == (x.rows, x.m, x.ef))
            {
                out.push(ratio(y.ns_per_query, x.ns_per_query));
            }
        }
    };
    let (hb, ha) = (&before.hnsw, &after.hnsw);
    if hb.dim == ha.dim {
        search(&hb.search, &ha.search, &mut cache);
    }
    if hb.wide_dim == ha.wide_dim {
        search(&hb.wide_search, &ha.wide_search, &mut memory);
    }
    for a in ha.build.iter().filter(|_| hb.dim == ha.dim) {
        if let Some(b) = hb
            .build
            .iter()
            .find(|b| (b.rows, b.m, b.ef_construction) == (a.rows, a.m, a.ef_construction))
        {
            cache.push(ratio(b.ns_per_insert, a.ns_per_insert));
        }
    }
    // Bandwidths: before over after, so that a slower machine is above 1 here too.
    for (b, a) in before
        .bandwidth
        .read_bytes_per_s
        .iter()
        .zip(&after.bandwidth.read_bytes_per_s)
    {
        memory.push(b / a);
    }
    SpeedChange {
        cache: Spread::of(&cache),
        memory: Spread::of(&memory),
        clock: before.machine.ghz / after.machine.ghz,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_calibration_twice_has_not_moved() {
        let p = Profile::reference();
        let c = speed_change(&p, &p);
        let cache = c.cache.clone().unwrap();
        let memory = c.memory.clone().unwrap();
        assert_eq!((cache.mean, cache.min, cache.max), (1.0, 1.0, 1.0));
        assert_eq!((memory.mean, memory.min, memory.max), (1.0, 1.0, 1.0));
        assert!(cache.figures > 20 && memory.figures > 5, "{c:?}");
        assert!(!cache.moved(0.1) && !memory.moved(0.1));
        assert_eq!(c.clock, 1.0);
    }

    #[test]
    fn a_neighbour_slowing_the_caches_shows_in_the_cache_group_only() {
        let before = Profile::reference();
        let mut after = before.clone();
        // In-cache work 1.6 times slower, one HNSW build 2 times; memory untouched.
        after.distance.iter_mut().for_each(|d| d.cache_ns *= 1.6);
        after.sq8.iter_mut().for_each(|d| d.cache_ns *= 1.6);
        after.tiled.iter_mut().for_each(|d| d.cache_ns *= 1.6);
        after.topk.ns_per_candidate *= 1.6;
        after.ivf.kmeans_ns_per_eval *= 1.6;
        after.ivf.pq_ns_per_lookup *= 1.6;
        after
            .hnsw
            .search
            .iter_mut()
            .for_each(|s| s.ns_per_query *= 1.6);
        after
            .hnsw
            .build
            .iter_mut()
            .for_each(|s| s.ns_per_insert *= 1.6);
        after.hnsw.build[0].ns_per_insert *= 2.0 / 1.6;
        let c = speed_change(&before, &after);
        let cache = c.cache.unwrap();
        assert!(cache.mean > 1.6 && cache.mean < 1.65, "{cache:?}");
        assert!((cache.min - 1.6).abs() < 1e-9 && (cache.max - 2.0).abs() < 1e-9);
        assert!(cache.moved(0.1));
        let memory = c.memory.unwrap();
        assert_eq!(memory.mean, 1.0);
        assert!(!memory.moved(0.1));
    }

    #[test]
    fn less_bandwidth_after_is_slower_and_unmatched_figures_are_left_out() {
        let before = Profile::reference();
        let mut after = before.clone();
        after
            .bandwidth
            .read_bytes_per_s
            .iter_mut()
            .for_each(|b| *b /= 2.0);
        after.distance.iter_mut().for_each(|d| d.stream_ns *= 2.0);
        after.tiled.iter_mut().for_each(|d| d.stream_ns *= 2.0);
        after
            .hnsw
            .wide_search
            .iter_mut()
            .for_each(|s| s.ns_per_query *= 2.0);
        // A dim measured only after (another simctl version) is not paired.
        let mut extra = after.distance[0].clone();
        extra.dim = 4096;
        extra.cache_ns *= 100.0;
        after.distance.push(extra);
        // Top-k of another k, k-means at another dim: not the same measurement.
        after.topk.k += 1;
        after.topk.ns_per_candidate *= 100.0;
        after.ivf.dim *= 2;
        after.ivf.kmeans_ns_per_eval *= 100.0;
        let c = speed_change(&before, &after);
        let memory = c.memory.unwrap();
        assert!((memory.mean - 2.0).abs() < 1e-9, "{memory:?}");
        let cache = c.cache.unwrap();
        assert_eq!((cache.mean, cache.max), (1.0, 1.0));
        let same = speed_change(&before, &before).cache.unwrap().figures;
        assert_eq!(cache.figures, same - 3);
    }
}
