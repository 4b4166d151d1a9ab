//! Synthetic vector data sets for kernel tests and calibration, and recall against their
//! exact ground truth (which `topk::flat_search` gives).
//!
//! Data is identical on every platform: uniforms come from ChaCha8 and normals from
//! Box-Muller through `libm`, so no platform math library decides a bit of it. Vectors are
//! flat `Vec<f32>`, row-major, `dim` floats per row.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::topk::Neighbor;

/// Share of the true `k` nearest ids found among the first `k` results, averaged over queries.
pub fn recall_at_k(found: &[Vec<Neighbor>], truth: &[Vec<Neighbor>], k: usize) -> f64 {
    assert_eq!(
        found.len(),
        truth.len(),
        "results and ground truth cover different query counts"
    );
    let hits: usize = found
        .iter()
        .zip(truth)
        .map(|(f, t)| {
            let truth_ids = &t[..k.min(t.len())];
            f.iter()
                .take(k)
                .filter(|n| truth_ids.iter().any(|x| x.id == n.id))
                .count()
        })
        .sum();
    hits as f64 / (found.len() * k) as f64
}

/// Standard normal variates by the Box-Muller transform.
pub struct Normal {
    rng: ChaCha8Rng,
    spare: Option<f32>,
}

impl Normal {
    pub fn new(seed: u64) -> Self {
        Normal {
            rng: ChaCha8Rng::seed_from_u64(seed),
            spare: None,
        }
    }

    pub fn sample(&mut self) -> f32 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        // 1 - u lies in (0, 1], so the logarithm is finite.
        let u = 1.0 - self.rng.random::<f32>();
        let angle_rad = std::f32::consts::TAU * self.rng.random::<f32>();
        let radius = libm::sqrtf(-2.0 * libm::logf(u));
        self.spare = Some(radius * libm::sinf(angle_rad));
        radius * libm::cosf(angle_rad)
    }

    pub fn fill(&mut self, out: &mut [f32]) {
        out.iter_mut().for_each(|x| *x = self.sample());
    }
}

/// The anchors' "embedding-like" data (performance-anchors.md, ANN): `z @ W + noise`, with
/// `z ~ N(0,1)^16` per row, one fixed `W ~ N(0,1)^(16 x dim)`, and `N(0, 0.01^2)` noise per
/// coordinate. Real embeddings have a low intrinsic dimension; uniform data would make every
/// graph index look broken (the anchors' 1M uniform row: HNSW recall 0.075).
pub struct LowRank {
    dim: usize,
    basis: Vec<f32>,
}

impl LowRank {
    /// Intrinsic dimension of the anchors' data set.
    pub const RANK: usize = 16;
    /// Noise standard deviation per coordinate, against a signal of standard deviation 4
    /// (the sum of 16 products of unit normals).
    pub const NOISE_STD: f32 = 0.01;

    /// The distribution; `seed` fixes `W`.
    pub fn new(dim: usize, seed: u64) -> Self {
        let mut basis = vec![0.0; Self::RANK * dim];
        Normal::new(seed).fill(&mut basis);
        LowRank { dim, basis }
    }

    /// `n` rows from the distribution; base vectors and queries take different seeds.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let mut normal = Normal::new(seed);
        let mut latent = [0.0; Self::RANK];
        let mut out = vec![0.0; n * self.dim];
        for row in out.chunks_exact_mut(self.dim) {
            normal.fill(&mut latent);
            for (x, column) in row.iter_mut().zip(0..self.dim) {
                let signal: f32 = latent
                    .iter()
                    .enumerate()
                    .map(|(r, z)| z * self.basis[r * self.dim + column])
                    .sum();
                *x = signal + Self::NOISE_STD * normal.sample();
            }
        }
        out
    }
}

/// A Gaussian mixture: `clusters` centres drawn from `N(0,1)^dim`, rows drawn around a
/// uniformly chosen centre with standard deviation `cluster_std` per coordinate. The data
/// IVF is made for: a coarse quantizer finds the clusters and a few lists hold a query's
/// neighbours.
pub struct Mixture {
    dim: usize,
    centres: Vec<f32>,
    cluster_std: f32,
}

impl Mixture {
    /// The distribution; `seed` fixes the centres.
    pub fn new(dim: usize, clusters: usize, cluster_std: f32, seed: u64) -> Self {
        assert!(clusters > 0, "a mixture needs at least one cluster");
        let mut centres = vec![0.0; clusters * dim];
        Normal::new(seed).fill(&mut centres);
        Mixture {
            dim,
            centres,
            cluster_std,
        }
    }

    /// `n` rows from the distribution; base vectors and queries take different seeds.
    pub fn sample(&self, n: usize, seed: u64) -> Vec<f32> {
        let clusters = self.centres.len() / self.dim;
        let mut normal = Normal::new(seed);
        let mut pick = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut out = vec![0.0; n * self.dim];
        for row in out.chunks_exact_mut(self.dim) {
            let c = pick.random_range(0..clusters);
            let centre = &self.centres[c * self.dim..(c + 1) * self.dim];
            for (x, m) in row.iter_mut().zip(centre) {
                *x = m + self.cluster_std * normal.sample();
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normals_have_unit_moments() {
        let mut normal = Normal::new(1);
        let samples: Vec<f64> = (0..200_000).map(|_| normal.sample() as f64).collect();
        let mean = samples.iter().sum::<f64>() / samples.len() as f64;
        let var =
            samples.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / samples.len() as f64;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.01, "variance {var}");
    }

    #[test]
    fn generators_are_deterministic_and_seeded() {
        let low_rank = LowRank::new(32, 7);
        assert_eq!(low_rank.sample(50, 1), LowRank::new(32, 7).sample(50, 1));
        assert_ne!(low_rank.sample(50, 1), low_rank.sample(50, 2));
        let mixture = Mixture::new(32, 10, 0.5, 7);
        assert_eq!(
            mixture.sample(50, 1),
            Mixture::new(32, 10, 0.5, 7).sample(50, 1)
        );
    }

    #[test]
    fn low_rank_data_lies_in_the_span_of_w_up_to_the_noise() {
        let dim = 64;
        let source = LowRank::new(dim, 3);
        // An orthonormal basis of W's row space by Gram-Schmidt.
        let mut basis: Vec<Vec<f64>> = Vec::new();
        for row in source.basis.chunks_exact(dim) {
            let mut v: Vec<f64> = row.iter().map(|&x| x as f64).collect();
            for b in &basis {
                let p: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(b).for_each(|(x, y)| *x -= p * y);
            }
            let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
            basis.push(v.iter().map(|x| x / norm).collect());
        }
        let (mut residual, mut total) = (0.0, 0.0);
        for row in source.sample(400, 4).chunks_exact(dim) {
            let mut v: Vec<f64> = row.iter().map(|&x| x as f64).collect();
            total += v.iter().map(|x| x * x).sum::<f64>();
            for b in &basis {
                let p: f64 = v.iter().zip(b).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(b).for_each(|(x, y)| *x -= p * y);
            }
            residual += v.iter().map(|x| x * x).sum::<f64>();
        }
        // Signal: 16 per coordinate; noise left outside the span: (64 - 16) x 0.01^2 per row.
        let expected = 400.0 * (dim - LowRank::RANK) as f64 * (LowRank::NOISE_STD as f64).powi(2);
        assert!(
            (residual / expected - 1.0).abs() < 0.1,
            "residual {residual}, expected {expected}"
        );
        assert!(
            (total / (400.0 * dim as f64 * 16.0) - 1.0).abs() < 0.2,
            "energy {total}"
        );
    }

    #[test]
    fn recall_counts_true_ids_among_the_first_k() {
        let hit = |id| Neighbor { id, distance: 0.0 };
        let truth = vec![vec![hit(1), hit(2), hit(3), hit(4)]];
        let found = vec![vec![hit(2), hit(9), hit(1), hit(4)]];
        assert_eq!(recall_at_k(&found, &truth, 4), 0.75);
        assert_eq!(recall_at_k(&found, &truth, 2), 0.5);
    }
}
