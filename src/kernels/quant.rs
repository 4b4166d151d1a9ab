//! Vector quantisation, as IVF_SQ8 and IVF_PQ store vectors.
//!
//! * [`Sq8`]: one byte per dimension, `x ~ min + code * step` with `min` and `step`
//!   per dimension from the training data; distances go from the f32 query straight to
//!   the codes (AVX-512F and AVX2 paths, scalar reference).
//! * [`Pq`]: `m` sub-spaces of `dim / m` dimensions, 256 centroids each (one byte per
//!   sub-space), trained by k-means; distances by asymmetric distance computation
//!   (ADC): one table of query-to-centroid distances per query, then one lookup per
//!   sub-space per vector.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::distance::{self, Metric};
use crate::hw::Isa;

/// Scalar quantiser to u8, per dimension.
#[derive(Clone, Debug, PartialEq)]
pub struct Sq8 {
    min: Vec<f32>,
    /// Width of one code step; 0 for a dimension that is constant in the training data.
    step: Vec<f32>,
}

/// Codes per dimension: a u8.
const SQ8_LEVELS: f32 = 255.0;

impl Sq8 {
    /// Range of each dimension over `data` (`data.len() / dim` vectors).
    pub fn train(data: &[f32], dim: usize) -> Sq8 {
        assert!(dim > 0, "dimension must be positive");
        assert!(
            !data.is_empty() && data.len().is_multiple_of(dim),
            "SQ8 training data must be one or more whole vectors of dim {dim}"
        );
        let mut min = data[..dim].to_vec();
        let mut max = min.clone();
        for v in data.chunks_exact(dim) {
            for ((lo, hi), &x) in min.iter_mut().zip(&mut max).zip(v) {
                *lo = lo.min(x);
                *hi = hi.max(x);
            }
        }
        let step = min
            .iter()
            .zip(&max)
            .map(|(lo, hi)| (hi - lo) / SQ8_LEVELS)
            .collect();
        Sq8 { min, step }
    }

    pub fn dim(&self) -> usize {
        self.min.len()
    }

    /// Nearest code per dimension; values outside the trained range clamp to its ends.
    pub fn encode(&self, v: &[f32], code: &mut [u8]) {
        assert_eq!(v.len(), self.dim(), "vector of the wrong dimension");
        assert_eq!(code.len(), self.dim(), "code of the wrong length");
        for (((c, &x), &lo), &step) in code.iter_mut().zip(v).zip(&self.min).zip(&self.step) {
            *c = if step > 0.0 {
                ((x - lo) / step).round().clamp(0.0, SQ8_LEVELS) as u8
            } else {
                0
            };
        }
    }

    pub fn decode(&self, code: &[u8], out: &mut [f32]) {
        assert_eq!(code.len(), self.dim(), "code of the wrong length");
        assert_eq!(out.len(), self.dim(), "output of the wrong dimension");
        for (((o, &c), &lo), &step) in out.iter_mut().zip(code).zip(&self.min).zip(&self.step) {
            *o = lo + f32::from(c) * step;
        }
    }

    /// Distance from an f32 query to the vector a code stands for, on the best ISA.
    pub fn distance(&self, metric: Metric, query: &[f32], code: &[u8]) -> f32 {
        self.distance_with(distance::best(), metric, query, code)
    }

    /// [`Sq8::distance`] on `isa`, or on scalar where this CPU lacks `isa`.
    pub fn distance_with(&self, isa: Isa, metric: Metric, query: &[f32], code: &[u8]) -> f32 {
        let mut out = [0.0];
        self.distance_batch_with(isa, metric, query, code, &mut out);
        out[0]
    }

    /// Distances from one query to `out.len()` consecutive codes, on the best ISA.
    pub fn distance_batch(&self, metric: Metric, query: &[f32], codes: &[u8], out: &mut [f32]) {
        self.distance_batch_with(distance::best(), metric, query, codes, out);
    }

    /// [`Sq8::distance_batch`] on `isa`, or on scalar where this CPU lacks `isa`.
    pub fn distance_batch_with(
        &self,
        isa: Isa,
        metric: Metric,
        query: &[f32],
        codes: &[u8],
        out: &mut [f32],
    ) {
        match metric {
            Metric::L2 => self.batch::<false>(isa, query, codes, out),
            Metric::Ip => self.batch::<true>(isa, query, codes, out),
        }
    }

    fn batch<const DOT: bool>(&self, isa: Isa, query: &[f32], codes: &[u8], out: &mut [f32]) {
        let dim = self.dim();
        assert_eq!(query.len(), dim, "query of the wrong dimension");
        assert_eq!(
            codes.len(),
            dim * out.len(),
            "codes are not out.len() codes of dim {dim}"
        );
        // The query folded with the quantiser once per batch, so the per-code loop reads
        // one f32 per dimension besides the code (see `sq8_scalar`).
        let (folded, offset): (Vec<f32>, f32) = if DOT {
            let scaled = query.iter().zip(&self.step).map(|(q, s)| q * s).collect();
            (scaled, distance::dot_with(isa, query, &self.min))
        } else {
            let shifted = query.iter().zip(&self.min).map(|(q, m)| q - m).collect();
            (shifted, 0.0)
        };
        let step = &self.step[..];
        match distance::resolve(isa) {
            // SAFETY: resolve() returns Avx512 only where the CPU has AVX-512F; folded and
            // step have dim elements (dim > 0: `train` asserts it) and codes has
            // dim * out.len() (asserted above).
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { x86::sq8_avx512::<DOT>(&folded, step, codes, out) },
            // SAFETY: as above, for AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { x86::sq8_avx2::<DOT>(&folded, step, codes, out) },
            _ => {
                for (o, code) in out.iter_mut().zip(codes.chunks_exact(dim)) {
                    *o = sq8_scalar::<DOT>(&folded, step, code, 0);
                }
            }
        }
        if DOT {
            for o in out.iter_mut() {
                *o += offset;
            }
        }
    }
}

/// One code's distance over dimensions `from..`, from the folded query `f`: for L2,
/// `f = q - min` and `sum (f - code * step)^2`; for the inner product, `f = q * step`
/// and `sum f * code`, to which the caller adds `q . min`. The scalar kernel and the
/// tail of the SIMD ones.
fn sq8_scalar<const DOT: bool>(f: &[f32], step: &[f32], code: &[u8], from: usize) -> f32 {
    let mut sum = 0.0;
    for i in from..f.len() {
        let c = f32::from(code[i]);
        sum += if DOT {
            f[i] * c
        } else {
            let d = f[i] - c * step[i];
            d * d
        };
    }
    sum
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::sq8_scalar;

    /// Lanes per 512-bit and 256-bit register; 4 accumulators hide the FMA latency.
    const LANES_512: usize = 16;
    const LANES_256: usize = 8;
    const ACCUMULATORS: usize = 4;

    /// One chunk of 16 dimensions added to `acc` (see `sq8_scalar`).
    // SAFETY: callers run on a CPU with AVX-512F, with 16 readable elements at each of
    // `f`, `step` and `code`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn chunk_512<const DOT: bool>(
        acc: __m512,
        f: *const f32,
        step: *const f32,
        code: *const u8,
    ) -> __m512 {
        let c = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128(
            code as *const __m128i,
        )));
        if DOT {
            _mm512_fmadd_ps(_mm512_loadu_ps(f), c, acc)
        } else {
            let d = _mm512_fnmadd_ps(c, _mm512_loadu_ps(step), _mm512_loadu_ps(f));
            _mm512_fmadd_ps(d, d, acc)
        }
    }

    // SAFETY: callers run on a CPU with AVX-512F, with f and step of one length dim > 0
    // and codes.len() == dim * out.len(); loads stop at the last full 16 lanes (a masked
    // byte load would need AVX-512BW, so the tail is scalar).
    #[target_feature(enable = "avx512f")]
    pub unsafe fn sq8_avx512<const DOT: bool>(
        f: &[f32],
        step: &[f32],
        codes: &[u8],
        out: &mut [f32],
    ) {
        let dim = f.len();
        let full = dim - dim % LANES_512;
        let (pf, ps) = (f.as_ptr(), step.as_ptr());
        for (o, code) in out.iter_mut().zip(codes.chunks_exact(dim)) {
            let pc = code.as_ptr();
            let mut acc = [_mm512_setzero_ps(); ACCUMULATORS];
            let mut i = 0;
            while i + ACCUMULATORS * LANES_512 <= full {
                for (k, acc) in acc.iter_mut().enumerate() {
                    let at = i + k * LANES_512;
                    *acc = chunk_512::<DOT>(*acc, pf.add(at), ps.add(at), pc.add(at));
                }
                i += ACCUMULATORS * LANES_512;
            }
            let mut k = 0;
            while i < full {
                acc[k] = chunk_512::<DOT>(acc[k], pf.add(i), ps.add(i), pc.add(i));
                i += LANES_512;
                k += 1;
            }
            let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
            *o = _mm512_reduce_add_ps(sum) + sq8_scalar::<DOT>(f, step, code, full);
        }
    }

    /// One chunk of 8 dimensions added to `acc` (see `sq8_scalar`).
    // SAFETY: callers run on a CPU with AVX2 and FMA, with 8 readable elements at each
    // of `f`, `step` and `code`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn chunk_256<const DOT: bool>(
        acc: __m256,
        f: *const f32,
        step: *const f32,
        code: *const u8,
    ) -> __m256 {
        let c = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(
            code as *const __m128i,
        )));
        if DOT {
            _mm256_fmadd_ps(_mm256_loadu_ps(f), c, acc)
        } else {
            let d = _mm256_fnmadd_ps(c, _mm256_loadu_ps(step), _mm256_loadu_ps(f));
            _mm256_fmadd_ps(d, d, acc)
        }
    }

    // SAFETY: callers run on a CPU with AVX2 and FMA, with f and step of one length
    // dim > 0 and codes.len() == dim * out.len(); loads stop at the last full 8 lanes.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn sq8_avx2<const DOT: bool>(
        f: &[f32],
        step: &[f32],
        codes: &[u8],
        out: &mut [f32],
    ) {
        let dim = f.len();
        let full = dim - dim % LANES_256;
        let (pf, ps) = (f.as_ptr(), step.as_ptr());
        for (o, code) in out.iter_mut().zip(codes.chunks_exact(dim)) {
            let pc = code.as_ptr();
            let mut acc = [_mm256_setzero_ps(); ACCUMULATORS];
            let mut i = 0;
            while i + ACCUMULATORS * LANES_256 <= full {
                for (k, acc) in acc.iter_mut().enumerate() {
                    let at = i + k * LANES_256;
                    *acc = chunk_256::<DOT>(*acc, pf.add(at), ps.add(at), pc.add(at));
                }
                i += ACCUMULATORS * LANES_256;
            }
            let mut k = 0;
            while i < full {
                acc[k] = chunk_256::<DOT>(acc[k], pf.add(i), ps.add(i), pc.add(i));
                i += LANES_256;
                k += 1;
            }
            let v = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
            let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
            let s = _mm_add_ss(s, _mm_movehdup_ps(s));
            *o = _mm_cvtss_f32(s) + sq8_scalar::<DOT>(f, step, code, full);
        }
    }
}

/// Centroids per PQ sub-space: one u8 code.
pub const PQ_CENTROIDS: usize = 256;

/// Product quantiser: `m` sub-spaces, 256 centroids each.
#[derive(Clone, Debug, PartialEq)]
pub struct Pq {
    dim: usize,
    m: usize,
    /// `[m][PQ_CENTROIDS][dim / m]`, row-major.
    centroids: Vec<f32>,
}

impl Pq {
    /// k-means (`iterations` Lloyd rounds) in each sub-space of `data`
    /// (`data.len() / dim` vectors, at least 256), from 256 distinct training vectors
    /// drawn with ChaCha8 seeded by `seed`: the same inputs give the same codebooks.
    pub fn train(data: &[f32], dim: usize, m: usize, iterations: usize, seed: u64) -> Pq {
        assert!(
            dim > 0 && m > 0 && dim.is_multiple_of(m),
            "m = {m} must divide dim = {dim}"
        );
        assert!(
            data.len().is_multiple_of(dim),
            "data is not whole vectors of dim {dim}"
        );
        let n = data.len() / dim;
        assert!(
            n >= PQ_CENTROIDS,
            "PQ training needs at least {PQ_CENTROIDS} vectors, got {n}"
        );
        let dsub = dim / m;
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut centroids = Vec::with_capacity(m * PQ_CENTROIDS * dsub);
        let mut points = vec![0.0f32; n * dsub];
        for j in 0..m {
            for (p, v) in points.chunks_exact_mut(dsub).zip(data.chunks_exact(dim)) {
                p.copy_from_slice(&v[j * dsub..(j + 1) * dsub]);
            }
            centroids.extend(kmeans(&points, dsub, iterations, &mut rng));
        }
        Pq { dim, m, centroids }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Sub-spaces, which is also the bytes per code.
    pub fn m(&self) -> usize {
        self.m
    }

    fn dsub(&self) -> usize {
        self.dim / self.m
    }

    /// Centroids of sub-space `j`, `PQ_CENTROIDS x dsub`.
    fn codebook(&self, j: usize) -> &[f32] {
        let len = PQ_CENTROIDS * self.dsub();
        &self.centroids[j * len..(j + 1) * len]
    }

    /// Nearest centroid in each sub-space (ties to the lower code).
    pub fn encode(&self, v: &[f32], code: &mut [u8]) {
        assert_eq!(v.len(), self.dim, "vector of the wrong dimension");
        assert_eq!(code.len(), self.m, "code of the wrong length");
        let mut distances = [0.0f32; PQ_CENTROIDS];
        for ((j, c), sub) in code.iter_mut().enumerate().zip(v.chunks_exact(self.dsub())) {
            distance::l2sq_batch(sub, self.codebook(j), &mut distances);
            *c = argmin(&distances) as u8;
        }
    }

    pub fn decode(&self, code: &[u8], out: &mut [f32]) {
        assert_eq!(code.len(), self.m, "code of the wrong length");
        assert_eq!(out.len(), self.dim, "output of the wrong dimension");
        let dsub = self.dsub();
        for ((j, &c), o) in code.iter().enumerate().zip(out.chunks_exact_mut(dsub)) {
            let at = usize::from(c) * dsub;
            o.copy_from_slice(&self.codebook(j)[at..at + dsub]);
        }
    }

    /// The ADC table of one query, `[m][PQ_CENTROIDS]`: entry `(j, c)` is the distance
    /// from the query's sub-vector `j` to centroid `c` of sub-space `j`. Summed over a
    /// code it gives the distance to the code's reconstruction (both metrics add up
    /// over sub-spaces).
    pub fn table(&self, metric: Metric, query: &[f32]) -> Vec<f32> {
        assert_eq!(query.len(), self.dim, "query of the wrong dimension");
        let mut table = vec![0.0f32; self.m * PQ_CENTROIDS];
        for ((j, row), sub) in table
            .chunks_exact_mut(PQ_CENTROIDS)
            .enumerate()
            .zip(query.chunks_exact(self.dsub()))
        {
            match metric {
                Metric::L2 => distance::l2sq_batch(sub, self.codebook(j), row),
                Metric::Ip => distance::dot_batch(sub, self.codebook(j), row),
            }
        }
        table
    }

    /// Distance of one code from the query whose [`Pq::table`] this is.
    pub fn adc(&self, table: &[f32], code: &[u8]) -> f32 {
        assert_eq!(
            table.len(),
            self.m * PQ_CENTROIDS,
            "table of another quantiser"
        );
        assert_eq!(code.len(), self.m, "code of the wrong length");
        adc(table, code)
    }

    /// [`Pq::adc`] for `out.len()` consecutive codes.
    pub fn adc_batch(&self, table: &[f32], codes: &[u8], out: &mut [f32]) {
        assert_eq!(
            table.len(),
            self.m * PQ_CENTROIDS,
            "table of another quantiser"
        );
        assert_eq!(
            codes.len(),
            self.m * out.len(),
            "codes are not out.len() codes of m bytes"
        );
        for (o, code) in out.iter_mut().zip(codes.chunks_exact(self.m)) {
            *o = adc(table, code);
        }
    }
}

fn adc(table: &[f32], code: &[u8]) -> f32 {
    table
        .chunks_exact(PQ_CENTROIDS)
        .zip(code)
        .map(|(row, &c)| row[usize::from(c)])
        .sum()
}

/// Index of the smallest value, the first one on ties.
fn argmin(values: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in values.iter().enumerate() {
        if v < values[best] {
            best = i;
        }
    }
    best
}

/// `PQ_CENTROIDS` centroids of `points` (`dsub` floats each) after `iterations` Lloyd
/// rounds from distinct random points. An emptied centroid restarts at a random
/// training point rather than staying where no data is.
fn kmeans(points: &[f32], dsub: usize, iterations: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let n = points.len() / dsub;
    // A partial Fisher-Yates shuffle: the first PQ_CENTROIDS indices are distinct draws.
    let mut order: Vec<usize> = (0..n).collect();
    for i in 0..PQ_CENTROIDS {
        let j = rng.random_range(i..n);
        order.swap(i, j);
    }
    let mut centroids: Vec<f32> = order[..PQ_CENTROIDS]
        .iter()
        .flat_map(|&i| &points[i * dsub..(i + 1) * dsub])
        .copied()
        .collect();
    let mut distances = [0.0f32; PQ_CENTROIDS];
    let mut sums = vec![0.0f64; PQ_CENTROIDS * dsub];
    let mut counts = [0usize; PQ_CENTROIDS];
    for _ in 0..iterations {
        sums.fill(0.0);
        counts.fill(0);
        for p in points.chunks_exact(dsub) {
            distance::l2sq_batch(p, &centroids, &mut distances);
            let c = argmin(&distances);
            counts[c] += 1;
            for (s, &x) in sums[c * dsub..(c + 1) * dsub].iter_mut().zip(p) {
                *s += f64::from(x);
            }
        }
        for ((centroid, sum), &count) in centroids
            .chunks_exact_mut(dsub)
            .zip(sums.chunks_exact(dsub))
            .zip(&counts)
        {
            if count == 0 {
                let i = rng.random_range(0..n);
                centroid.copy_from_slice(&points[i * dsub..(i + 1) * dsub]);
            } else {
                for (c, &s) in centroid.iter_mut().zip(sum) {
                    *c = (s / count as f64) as f32;
                }
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;

    /// Odd dimensions: every tail length of both SIMD paths.
    const DIMS: [usize; 9] = [1, 3, 15, 16, 17, 100, 127, 1023, 1025];

    fn uniform(rng: &mut ChaCha8Rng, len: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..len).map(|_| rng.random_range(lo..hi)).collect()
    }

    /// Tolerance: 1e-5 relative plus 1e-6 per dimension absolute: sums of `dim` terms
    /// of magnitude <= 1 rounded to f32 (eps 6e-8) in different orders, and the SIMD
    /// paths reconstruct with a fused multiply-add where the scalar one rounds twice.
    fn close(got: f32, want: f32, dim: usize) -> bool {
        (got - want).abs() <= 1e-5 * want.abs() + 1e-6 * dim as f32
    }

    #[test]
    fn sq8_reconstruction_error_is_at_most_half_a_step() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let dim = 37;
        let data = uniform(&mut rng, 500 * dim, -3.0, 5.0);
        let sq = Sq8::train(&data, dim);
        let mut code = vec![0u8; dim];
        let mut back = vec![0.0f32; dim];
        for v in data.chunks_exact(dim) {
            sq.encode(v, &mut code);
            sq.decode(&code, &mut back);
            for i in 0..dim {
                // Half a step from rounding to the nearest code, plus f32 rounding of
                // values of magnitude <= 5.
                let bound = sq.step[i] / 2.0 + 1e-6 * 5.0;
                assert!(
                    (back[i] - v[i]).abs() <= bound,
                    "dim {i}: {} vs {}",
                    back[i],
                    v[i]
                );
            }
        }
    }

    #[test]
    fn sq8_clamps_out_of_range_and_handles_constant_dimensions() {
        let data = [0.0, 7.0, 1.0, 7.0];
        let sq = Sq8::train(&data, 2);
        let mut code = [0u8; 2];
        sq.encode(&[-5.0, 7.0], &mut code);
        assert_eq!(code, [0, 0]);
        sq.encode(&[9.0, 8.0], &mut code);
        assert_eq!(code, [255, 0]);
        let mut back = [0.0; 2];
        sq.decode(&code, &mut back);
        assert_eq!(back, [1.0, 7.0]);
    }

    #[test]
    fn sq8_distance_is_the_distance_to_the_reconstruction_on_every_isa() {
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        for dim in DIMS {
            let n = 5;
            let data = uniform(&mut rng, n * dim, -1.0, 1.0);
            let sq = Sq8::train(&data, dim);
            // One extra leading element so the query and the codes are unaligned slices.
            let mut codes = vec![0u8; n * dim + 1];
            for (code, v) in codes[1..].chunks_exact_mut(dim).zip(data.chunks_exact(dim)) {
                sq.encode(v, code);
            }
            let codes = &codes[1..];
            let q = uniform(&mut rng, dim + 1, -1.0, 1.0);
            let q = &q[1..];
            let mut back = vec![0.0f32; dim];
            for isa in distance::available() {
                for metric in [Metric::L2, Metric::Ip] {
                    let mut out = vec![0.0f32; n];
                    sq.distance_batch_with(isa, metric, q, codes, &mut out);
                    for (j, code) in codes.chunks_exact(dim).enumerate() {
                        sq.decode(code, &mut back);
                        let want = match metric {
                            Metric::L2 => distance::l2sq_scalar(q, &back),
                            Metric::Ip => distance::dot_scalar(q, &back),
                        };
                        assert!(
                            close(out[j], want, dim),
                            "{isa:?} {metric:?} d={dim}: {} vs {want}",
                            out[j]
                        );
                        let one = sq.distance_with(isa, metric, q, code);
                        assert!(close(one, want, dim), "{isa:?} {metric:?} d={dim} single");
                    }
                }
            }
        }
    }

    /// 1024 x 16 uniform in [0, 1), m = 4 (4 dimensions per sub-space), 6 rounds:
    /// trained once for every test that reads it (a training takes seconds unoptimised).
    fn pq_fixture() -> &'static (Vec<f32>, usize, Pq) {
        static FIXTURE: OnceLock<(Vec<f32>, usize, Pq)> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            let mut rng = ChaCha8Rng::seed_from_u64(13);
            let dim = 16;
            let data = uniform(&mut rng, 1024 * dim, 0.0, 1.0);
            let pq = Pq::train(&data, dim, 4, 6, 42);
            (data, dim, pq)
        })
    }

    /// Mean squared reconstruction error per vector.
    fn pq_mse(pq: &Pq, data: &[f32]) -> f64 {
        let mut code = vec![0u8; pq.m()];
        let mut back = vec![0.0f32; pq.dim()];
        let n = data.len() / pq.dim();
        let total: f64 = data
            .chunks_exact(pq.dim())
            .map(|v| {
                pq.encode(v, &mut code);
                pq.decode(&code, &mut back);
                f64::from(distance::l2sq_scalar(v, &back))
            })
            .sum();
        total / n as f64
    }

    #[test]
    fn pq_reconstruction_error_is_a_small_fraction_of_the_variance() {
        let (data, dim, pq) = pq_fixture();
        // Uniform [0, 1): variance 1/12 per dimension. 256 centroids in 4 dimensions are
        // ~4 cells per axis, so a cell's error is ~(1/4)^2/12 per dimension, 1/16 of the
        // variance; measured 0.039 of it on the training set. Bound: a quarter.
        let variance = *dim as f64 / 12.0;
        let mse = pq_mse(pq, data);
        assert!(mse < 0.25 * variance, "PQ mse {mse} vs variance {variance}");
        // Lloyd rounds only lower the error: none is worse than the random start
        // (measured 0.068 of the variance).
        let start = Pq::train(data, *dim, 4, 0, 42);
        assert!(
            mse < pq_mse(&start, data),
            "k-means did not improve on its start"
        );
    }

    #[test]
    fn pq_training_is_deterministic_for_a_seed() {
        let mut rng = ChaCha8Rng::seed_from_u64(15);
        let data = uniform(&mut rng, 300 * 8, 0.0, 1.0);
        let pq = Pq::train(&data, 8, 2, 3, 42);
        assert_eq!(Pq::train(&data, 8, 2, 3, 42), pq);
        assert_ne!(Pq::train(&data, 8, 2, 3, 43), pq);
    }

    #[test]
    fn adc_equals_the_distance_to_the_reconstruction() {
        let (data, dim, pq) = pq_fixture();
        let dim = *dim;
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        let q = uniform(&mut rng, dim, 0.0, 1.0);
        let n = 50;
        let mut codes = vec![0u8; n * pq.m()];
        for (code, v) in codes.chunks_exact_mut(pq.m()).zip(data.chunks_exact(dim)) {
            pq.encode(v, code);
        }
        let mut back = vec![0.0f32; dim];
        for metric in [Metric::L2, Metric::Ip] {
            let table = pq.table(metric, &q);
            let mut out = vec![0.0f32; n];
            pq.adc_batch(&table, &codes, &mut out);
            for (j, code) in codes.chunks_exact(pq.m()).enumerate() {
                pq.decode(code, &mut back);
                let want = match metric {
                    Metric::L2 => distance::l2sq_scalar(&q, &back),
                    Metric::Ip => distance::dot_scalar(&q, &back),
                };
                assert!(close(out[j], want, dim), "{metric:?}: {} vs {want}", out[j]);
                assert_eq!(pq.adc(&table, code), out[j]);
            }
        }
    }

    #[test]
    #[should_panic(expected = "at least 256 vectors")]
    fn pq_refuses_too_little_training_data() {
        Pq::train(&[0.0; 100 * 4], 4, 2, 4, 1);
    }
}
