//! Many queries against one block of vectors, the block transposed.
//!
//! A pair kernel ([`super::distance`]) spreads one distance over the lanes of a register
//! and must add the lanes up at the end: at dim 128 that reduction and the loads of both
//! vectors cost as much as the arithmetic. With many queries on one block, the block is
//! worth transposing once: a register then holds one dim of 16 vectors, each FMA adds
//! that dim's term to 16 distances at once, nothing is reduced, and the 16 finished
//! distances are compared with the query's current k-th best in one instruction, so
//! only the rare candidate that gets in is handled one by one.
//!
//! Each lane sums its terms in dim order with one fused multiply-add per term
//! (`d.mul_add(d, acc)`, `x.mul_add(q, acc)`); the scalar reference in the tests does
//! the same, so the SIMD path agrees with it bit for bit. The sums are rounded otherwise
//! than a pair kernel's, so a distance may differ from [`super::distance::l2sq`] in its
//! last bits.

use super::distance::Metric;
use super::topk::{block_after, heaps_for, Neighbor, TopK};

/// Vectors per register.
pub(crate) const LANES: usize = 16;

/// One dim of 16 vectors, on a cache line of its own.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Lanes(pub(crate) [f32; LANES]);

/// A block of vectors transposed: vectors `16 g .. 16 g + 15` form group `g`, stored dim
/// after dim, a [`Lanes`] per dim. Lanes past the last vector hold zeros.
pub(crate) struct Transposed {
    lanes: Vec<Lanes>,
    dim: usize,
    rows: usize,
}

impl Transposed {
    pub(crate) fn new(dim: usize) -> Transposed {
        assert!(dim > 0, "dimension must be positive");
        Transposed {
            lanes: Vec::new(),
            dim,
            rows: 0,
        }
    }

    /// Transposes `block` (whole vectors of this dim) into this buffer.
    pub(crate) fn fill(&mut self, block: &[f32]) {
        let dim = self.dim;
        assert!(
            block.len().is_multiple_of(dim),
            "a block of whole vectors of dim {dim}"
        );
        self.rows = block.len() / dim;
        self.lanes.clear();
        self.lanes
            .resize(self.rows.div_ceil(LANES) * dim, Lanes([0.0; LANES]));
        // A group at a time: 16 vectors read side by side, each dim written whole.
        for (lanes, vectors) in self
            .lanes
            .chunks_exact_mut(dim)
            .zip(block.chunks(LANES * dim))
        {
            let mut done = 0;
            #[cfg(target_arch = "x86_64")]
            if supported() {
                // SAFETY: this CPU has AVX-512F; `vectors` holds at most 16 vectors of
                // `dim` floats and `lanes` has `dim` entries.
                done = unsafe { x86::transpose_group(vectors, dim, lanes) };
            }
            let rows = vectors.len() / dim;
            for (i, lanes) in lanes.iter_mut().enumerate().skip(done) {
                for l in 0..rows {
                    lanes.0[l] = vectors[l * dim + i];
                }
            }
        }
    }

    pub(crate) fn groups(&self) -> usize {
        self.rows.div_ceil(LANES)
    }

    /// The dims of group `g`, dim 0 first.
    pub(crate) fn group(&self, g: usize) -> &[Lanes] {
        &self.lanes[g * self.dim..][..self.dim]
    }

    /// Vectors in group `g` (16 but in the last group).
    pub(crate) fn rows_in(&self, g: usize) -> usize {
        (self.rows - g * LANES).min(LANES)
    }
}

/// [`super::topk::flat_search`] of several queries in blocks of `block_rows` vectors:
/// each block is transposed once, then every query passes over it. Callers check
/// [`supported`] first.
pub(crate) fn flat_search(
    metric: Metric,
    queries: &[f32],
    data: &[f32],
    dim: usize,
    k: usize,
    block_rows: usize,
) -> Vec<Vec<Neighbor>> {
    let mut heaps = heaps_for(metric, queries, dim, k);
    let mut t = Transposed::new(dim);
    let block_len = block_rows * dim;
    for (b, block) in data.chunks(block_len).enumerate() {
        t.fill(block);
        let first_id = (b * block_rows) as u64;
        let next = block_after(data, b, block_len);
        search_block(metric, queries, &t, first_id, &mut heaps, next);
    }
    heaps.into_iter().map(TopK::into_sorted).collect()
}

/// Whether this CPU runs the transposed kernels.
pub(crate) fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Offers every vector of `t` (ids `first_id ..`) to the heap of each of the
/// `heaps.len()` queries in `queries`, and meanwhile asks for `ahead` (the next block)
/// to be brought into L2, a slice per query, so that transposing it does not wait for
/// RAM. Callers check [`supported`] first.
pub(crate) fn search_block(
    metric: Metric,
    queries: &[f32],
    t: &Transposed,
    first_id: u64,
    heaps: &mut [TopK],
    ahead: &[f32],
) {
    assert!(supported(), "the transposed kernels need AVX-512F");
    assert_eq!(queries.len(), heaps.len() * t.dim, "one heap per query");
    #[cfg(target_arch = "x86_64")]
    // SAFETY: this CPU has AVX-512F (asserted above) and the query count matches.
    unsafe {
        match metric {
            Metric::L2 => x86::search_block::<false>(queries, t, first_id, heaps, ahead),
            Metric::Ip => x86::search_block::<true>(queries, t, first_id, heaps, ahead),
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Lanes, Transposed, LANES};
    use crate::kernels::topk::TopK;

    /// Transposes the first `16 * (dim / 16)` dims of up to 16 vectors (rows past the
    /// last read as zeros) into `lanes`, a 16 x 16 tile at a time; returns how many
    /// dims it wrote. Four butterfly stages, each swapping one bit of the row index
    /// with the same bit of the column index: 64 two-register permutes per tile.
    // SAFETY: callers run on a CPU with AVX-512F, with `vectors.len() == rows * dim`,
    // rows <= 16, and `lanes.len() >= dim`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn transpose_group(
        vectors: &[f32],
        dim: usize,
        lanes: &mut [Lanes],
    ) -> usize {
        let rows = vectors.len() / dim;
        let p = vectors.as_ptr();
        // Stage `bit`: rows r (bit clear) and r | bit become, lane c:
        //   low  = c & bit == 0 ? a[c]       : b[c ^ bit]
        //   high = c & bit == 0 ? a[c | bit] : b[c]
        // (permutex2var: index 16 + j picks b[j]).
        let index = |bit: usize, high: bool| {
            let lanes: [i32; LANES] = std::array::from_fn(|c| {
                let from_a = c & bit == 0;
                (match (from_a, high) {
                    (true, false) => c,
                    (false, false) => LANES + (c ^ bit),
                    (true, true) => c | bit,
                    (false, true) => LANES + c,
                }) as i32
            });
            _mm512_loadu_si512(lanes.as_ptr().cast())
        };
        let stages = [1, 2, 4, 8].map(|bit| (bit, index(bit, false), index(bit, true)));
        let tiles = dim / LANES;
        for t in 0..tiles {
            let i0 = t * LANES;
            let mut r: [__m512; LANES] = std::array::from_fn(|l| {
                if l < rows {
                    _mm512_loadu_ps(p.add(l * dim + i0))
                } else {
                    _mm512_setzero_ps()
                }
            });
            for &(bit, lo, hi) in &stages {
                for a in 0..LANES {
                    if a & bit == 0 {
                        let (x, y) = (r[a], r[a | bit]);
                        r[a] = _mm512_permutex2var_ps(x, lo, y);
                        r[a | bit] = _mm512_permutex2var_ps(x, hi, y);
                    }
                }
            }
            for (c, reg) in r.into_iter().enumerate() {
                _mm512_store_ps(lanes[i0 + c].0.as_mut_ptr(), reg);
            }
        }
        tiles * LANES
    }

    /// f32 in a 64-byte cache line.
    const FLOATS_PER_LINE: usize = 16;

    /// Queries that share each load of the block.
    const QUERIES: usize = 2;
    /// Groups (of 16 vectors) that share each query term: 2 x 4 accumulators cover the
    /// FMA latency with room to spare and leave registers for the loads.
    const GROUPS: usize = 4;

    /// Sums of `Q` queries (their dims at `q[j]`) to the vectors of `G` groups (their
    /// dims at `x[g]`, 16 floats each, 64-byte aligned).
    // SAFETY: callers run on a CPU with AVX-512F; each `q[j]` points to `dim` floats
    // and each `x[g]` to `16 dim` aligned floats.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn sums<const DOT: bool, const Q: usize, const G: usize>(
        q: [*const f32; Q],
        x: [*const f32; G],
        dim: usize,
    ) -> [[__m512; G]; Q] {
        let mut acc = [[_mm512_setzero_ps(); G]; Q];
        for i in 0..dim {
            let mut xi = [_mm512_setzero_ps(); G];
            for g in 0..G {
                xi[g] = _mm512_load_ps(x[g].add(i * LANES));
            }
            for j in 0..Q {
                let qi = _mm512_set1_ps(*q[j].add(i));
                for g in 0..G {
                    acc[j][g] = if DOT {
                        _mm512_fmadd_ps(xi[g], qi, acc[j][g])
                    } else {
                        let d = _mm512_sub_ps(xi[g], qi);
                        _mm512_fmadd_ps(d, d, acc[j][g])
                    };
                }
            }
        }
        acc
    }

    /// Offers the `rows` first lanes of `d` to `heap`, one by one only where a lane
    /// beats its current worst (`d <= worst` for L2, `d >= -worst` for the inner
    /// product, as [`TopK::push_block`]; NaN never).
    // SAFETY: callers run on a CPU with AVX-512F; no memory access but `heap`'s.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn offer<const DOT: bool>(heap: &mut TopK, first_id: u64, d: __m512, rows: usize) {
        let valid = ((1u32 << rows) - 1) as __mmask16;
        let worst = heap.worst_key();
        let hits = if DOT {
            _mm512_mask_cmp_ps_mask::<_CMP_GE_OQ>(valid, d, _mm512_set1_ps(-worst))
        } else {
            _mm512_mask_cmp_ps_mask::<_CMP_LE_OQ>(valid, d, _mm512_set1_ps(worst))
        };
        if hits != 0 {
            let mut lanes = [0.0f32; LANES];
            _mm512_storeu_ps(lanes.as_mut_ptr(), d);
            let mut m = hits;
            while m != 0 {
                let l = m.trailing_zeros() as usize;
                heap.push(first_id + l as u64, lanes[l]);
                m &= m - 1;
            }
        }
    }

    /// The queries `q` (their heaps alongside) against groups `g0 .. g0 + G`.
    // SAFETY: as `sums`, with `heaps.len() == Q` and the groups inside `t`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn tile<const DOT: bool, const Q: usize, const G: usize>(
        q: [*const f32; Q],
        heaps: &mut [TopK],
        t: &Transposed,
        g0: usize,
        first_id: u64,
    ) {
        let x: [*const f32; G] = std::array::from_fn(|g| t.group(g0 + g).as_ptr().cast());
        let acc = sums::<DOT, Q, G>(q, x, t.dim);
        for (heap, acc) in heaps.iter_mut().zip(acc) {
            for (g, d) in acc.into_iter().enumerate() {
                let id = first_id + ((g0 + g) * LANES) as u64;
                offer::<DOT>(heap, id, d, t.rows_in(g0 + g));
            }
        }
    }

    /// `Q` queries against every group of `t`, `GROUPS` at a time.
    // SAFETY: as `tile`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn run_queries<const DOT: bool, const Q: usize>(
        q: [*const f32; Q],
        heaps: &mut [TopK],
        t: &Transposed,
        first_id: u64,
    ) {
        let groups = t.groups();
        let mut g = 0;
        while g + GROUPS <= groups {
            tile::<DOT, Q, GROUPS>(q, heaps, t, g, first_id);
            g += GROUPS;
        }
        match groups - g {
            0 => {}
            1 => tile::<DOT, Q, 1>(q, heaps, t, g, first_id),
            2 => tile::<DOT, Q, 2>(q, heaps, t, g, first_id),
            3 => tile::<DOT, Q, 3>(q, heaps, t, g, first_id),
            _ => unreachable!("fewer than GROUPS groups left"),
        }
    }

    // SAFETY: callers run on a CPU with AVX-512F, with queries.len() == heaps.len() *
    // t.dim.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn search_block<const DOT: bool>(
        queries: &[f32],
        t: &Transposed,
        first_id: u64,
        heaps: &mut [TopK],
        ahead: &[f32],
    ) {
        let dim = t.dim;
        let p = queries.as_ptr();
        let pairs = heaps.len() / QUERIES;
        let slice = ahead
            .len()
            .div_ceil(pairs.max(1))
            .next_multiple_of(FLOATS_PER_LINE)
            .max(FLOATS_PER_LINE);
        let mut ahead = ahead.chunks(slice);
        for (j, pair) in heaps.chunks_exact_mut(QUERIES).enumerate() {
            for line in ahead.next().unwrap_or(&[]).chunks(FLOATS_PER_LINE) {
                _mm_prefetch::<_MM_HINT_T1>(line.as_ptr().cast());
            }
            let q = std::array::from_fn(|k| p.add((j * QUERIES + k) * dim));
            run_queries::<DOT, QUERIES>(q, pair, t, first_id);
        }
        if heaps.len() > pairs * QUERIES {
            let last = heaps.len() - 1;
            run_queries::<DOT, 1>([p.add(last * dim)], &mut heaps[last..], t, first_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// The scalar reference: each lane's terms in dim order, one fused multiply-add
    /// each, every vector offered to a plain heap.
    fn reference(
        metric: Metric,
        queries: &[f32],
        data: &[f32],
        dim: usize,
        k: usize,
    ) -> Vec<Vec<Neighbor>> {
        queries
            .chunks_exact(dim)
            .map(|q| {
                let mut heap = TopK::new(metric, k);
                for (id, x) in data.chunks_exact(dim).enumerate() {
                    let d = x.iter().zip(q).fold(0.0f32, |acc, (&x, &q)| match metric {
                        Metric::L2 => (x - q).mul_add(x - q, acc),
                        Metric::Ip => x.mul_add(q, acc),
                    });
                    heap.push(id as u64, d);
                }
                heap.into_sorted()
            })
            .collect()
    }

    #[test]
    fn transposing_keeps_every_value_and_pads_with_zeros() {
        // Two 16 x 16 tiles and 8 dims left over; a full group and a partial one.
        let (dim, rows) = (40, 20);
        let data: Vec<f32> = (0..dim * rows).map(|i| i as f32 + 1.0).collect();
        let mut t = Transposed::new(dim);
        t.fill(&data);
        assert_eq!((t.groups(), t.rows_in(0), t.rows_in(1)), (2, 16, 4));
        for v in 0..rows {
            for i in 0..dim {
                assert_eq!(t.group(v / LANES)[i].0[v % LANES], data[v * dim + i]);
            }
        }
        assert_eq!(t.group(1)[2].0[4..], [0.0; 12]);
        assert_eq!(t.group(1)[39].0[4..], [0.0; 12]);
    }

    #[test]
    fn the_simd_path_agrees_with_the_scalar_reference_bit_for_bit() {
        if !supported() {
            return;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        // Odd dims, query counts that leave a lone query, blocks that end mid-group and
        // runs of groups shorter than a tile.
        for (dim, rows, nq, block_rows) in [
            (1, 40, 1, 16),
            (7, 1000, 3, 64),
            (100, 1500, 5, 80),
            (128, 700, 4, 48),
            (300, 333, 2, 256),
        ] {
            let data: Vec<f32> = (0..rows * dim)
                .map(|_| rng.random_range(-1.0..1.0))
                .collect();
            let queries: Vec<f32> = (0..nq * dim).map(|_| rng.random_range(-1.0..1.0)).collect();
            for metric in [Metric::L2, Metric::Ip] {
                for k in [1, 10, 50] {
                    assert_eq!(
                        flat_search(metric, &queries, &data, dim, k, block_rows),
                        reference(metric, &queries, &data, dim, k),
                        "{metric:?} dim {dim} rows {rows} nq {nq} k {k}"
                    );
                }
            }
        }
    }

    #[test]
    fn nan_distances_are_never_kept_and_ties_go_to_the_smaller_id() {
        if !supported() {
            return;
        }
        let dim = 2;
        let mut data = vec![1.0f32; 40 * dim];
        data[5 * dim] = f32::NAN;
        let q = [0.0, 0.0];
        for metric in [Metric::L2, Metric::Ip] {
            let got = flat_search(metric, &q, &data, dim, 4, 32).remove(0);
            let ids: Vec<u64> = got.iter().map(|n| n.id).collect();
            assert_eq!(ids, [0, 1, 2, 3], "{metric:?}");
        }
    }
}
