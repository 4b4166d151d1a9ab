//! f32 distances: squared L2, inner product, cosine.
//!
//! The public functions dispatch to the best instruction set the running CPU offers;
//! the `*_with` variants take an explicit [`Isa`] so calibration can measure each one.
//! An ISA the CPU lacks resolves to the scalar reference, never to an illegal
//! instruction.
//!
//! Kernels: AVX-512F (16 lanes, masked tail) and AVX2+FMA (8 lanes, scalar tail) on
//! x86_64. Each distance runs 4 independent accumulators so the loop is bound by loads,
//! not by the FMA latency chain (anchors: one accumulator, as simsimd has, is 2x slower
//! in L1 at d=1024); on AVX-512, dims below 144 (those a batch holds the query of in
//! registers) run 2, the batch then being bound by its adds and FMAs, not by latency. The batch kernels take several vectors at once, sharing each query
//! load, and give results bit-identical to single pairs (same accumulators, same
//! reduction tree), so a top-k over either agrees exactly.
//! NEON is not written yet: no aarch64 target is installed here to build and test it,
//! so `Isa::Neon` resolves to scalar.

use std::sync::OnceLock;

use crate::hw::Isa;

/// What "near" means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    /// Squared Euclidean distance: smaller is nearer.
    L2,
    /// Inner product: larger is nearer.
    Ip,
}

/// Squared Euclidean distance, scalar reference.
pub fn l2sq_scalar(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vectors of different dimension");
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Inner product, scalar reference.
pub fn dot_scalar(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vectors of different dimension");
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Whether this CPU can run the kernels of `isa`.
pub fn supported(isa: Isa) -> bool {
    match isa {
        Isa::Scalar => true,
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 => is_x86_feature_detected!("avx512f"),
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 => is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"),
        _ => false,
    }
}

/// The ISA whose kernels actually run when `isa` is asked for.
pub fn resolve(isa: Isa) -> Isa {
    if supported(isa) {
        isa
    } else {
        Isa::Scalar
    }
}

/// Every ISA, best first.
const ALL_ISAS: [Isa; 4] = [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar];

/// The instruction sets this CPU can run, best first (always ends with `Scalar`).
pub fn available() -> Vec<Isa> {
    ALL_ISAS.into_iter().filter(|&isa| supported(isa)).collect()
}

/// The best instruction set this CPU can run.
pub fn best() -> Isa {
    best_kernels().isa
}

/// Squared L2 on `isa`, or on scalar where this CPU lacks `isa`.
pub fn l2sq_with(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    pair(&Kernels::of(isa), Metric::L2, a, b)
}

/// Inner product on `isa`, or on scalar where this CPU lacks `isa`.
pub fn dot_with(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    pair(&Kernels::of(isa), Metric::Ip, a, b)
}

/// Squared L2 on the best available instruction set.
#[inline]
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    pair(best_kernels(), Metric::L2, a, b)
}

/// Inner product on the best available instruction set.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    pair(best_kernels(), Metric::Ip, a, b)
}

/// Cosine similarity (1 = same direction); zero vectors give 0.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (ab, aa, bb) = (dot(a, b), dot(a, a), dot(b, b));
    if aa == 0.0 || bb == 0.0 {
        0.0
    } else {
        ab / (aa.sqrt() * bb.sqrt())
    }
}

/// Squared L2 from one query to `n = data.len() / dim` consecutive vectors.
pub fn l2sq_batch(query: &[f32], data: &[f32], out: &mut [f32]) {
    batch(best_kernels(), Metric::L2, query, data, out);
}

/// Inner product from one query to `n = data.len() / dim` consecutive vectors.
pub fn dot_batch(query: &[f32], data: &[f32], out: &mut [f32]) {
    batch(best_kernels(), Metric::Ip, query, data, out);
}

/// [`l2sq_batch`] on `isa`, or on scalar where this CPU lacks `isa`.
pub fn l2sq_batch_with(isa: Isa, query: &[f32], data: &[f32], out: &mut [f32]) {
    batch(&Kernels::of(isa), Metric::L2, query, data, out);
}

/// [`dot_batch`] on `isa`, or on scalar where this CPU lacks `isa`.
pub fn dot_batch_with(isa: Isa, query: &[f32], data: &[f32], out: &mut [f32]) {
    batch(&Kernels::of(isa), Metric::Ip, query, data, out);
}

/// A pair kernel: `a` and `b` must have equal length.
type PairFn = unsafe fn(&[f32], &[f32]) -> f32;
/// A batch kernel: `q` non-empty and `data.len() == q.len() * out.len()`.
type BatchFn = unsafe fn(&[f32], &[f32], &mut [f32]);

/// The kernels of one ISA the CPU runs. Resolved once for the best ISA and then called
/// through these pointers: a dim-128 distance is ~5 ns of work, and checking the CPU
/// features on every call made it 1.3 ns slower (7.7 against 6.4 ns, measured here).
struct Kernels {
    isa: Isa,
    l2sq: PairFn,
    dot: PairFn,
    l2sq_batch: BatchFn,
    dot_batch: BatchFn,
}

impl Kernels {
    /// The kernels of `isa`, or the scalar ones where this CPU lacks `isa`: the only
    /// place that hands out SIMD kernels, and only after `supported` said yes.
    fn of(isa: Isa) -> Kernels {
        match resolve(isa) {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => Kernels {
                isa: Isa::Avx512,
                l2sq: x86::avx512_pair::<false>,
                dot: x86::avx512_pair::<true>,
                l2sq_batch: x86::avx512_batch::<false>,
                dot_batch: x86::avx512_batch::<true>,
            },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => Kernels {
                isa: Isa::Avx2,
                l2sq: x86::avx2_pair::<false>,
                dot: x86::avx2_pair::<true>,
                l2sq_batch: x86::avx2_batch::<false>,
                dot_batch: x86::avx2_batch::<true>,
            },
            _ => Kernels {
                isa: Isa::Scalar,
                l2sq: l2sq_scalar,
                dot: dot_scalar,
                l2sq_batch: scalar_batch::<false>,
                dot_batch: scalar_batch::<true>,
            },
        }
    }
}

#[inline]
fn best_kernels() -> &'static Kernels {
    static BEST: OnceLock<Kernels> = OnceLock::new();
    BEST.get_or_init(|| {
        let best = ALL_ISAS
            .into_iter()
            .find(|&isa| supported(isa))
            .unwrap_or(Isa::Scalar);
        Kernels::of(best)
    })
}

#[inline]
fn pair(kernels: &Kernels, metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "vectors of different dimension");
    let kernel = match metric {
        Metric::L2 => kernels.l2sq,
        Metric::Ip => kernels.dot,
    };
    // SAFETY: `Kernels::of` gave only kernels this CPU runs; the lengths are equal.
    unsafe { kernel(a, b) }
}

/// Distances from `query` to every vector of `data`: the ISA is chosen once, not per
/// vector, so short vectors do not pay the call and dispatch each time.
fn batch(kernels: &Kernels, metric: Metric, query: &[f32], data: &[f32], out: &mut [f32]) {
    let dim = query.len();
    assert_eq!(
        data.len(),
        dim * out.len(),
        "data is not out.len() vectors of the query's dimension"
    );
    if dim == 0 {
        out.fill(0.0);
        return;
    }
    let kernel = match metric {
        Metric::L2 => kernels.l2sq_batch,
        Metric::Ip => kernels.dot_batch,
    };
    // SAFETY: `Kernels::of` gave only kernels this CPU runs; dim > 0 and data holds
    // exactly out.len() vectors of dim floats (checked above).
    unsafe { kernel(query, data, out) }
}

fn scalar_batch<const DOT: bool>(q: &[f32], data: &[f32], out: &mut [f32]) {
    for (o, v) in out.iter_mut().zip(data.chunks_exact(q.len())) {
        *o = if DOT {
            dot_scalar(q, v)
        } else {
            l2sq_scalar(q, v)
        };
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// f32 lanes in a 512-bit and a 256-bit register.
    const LANES_512: usize = 16;
    const LANES_256: usize = 8;
    /// Independent accumulators per distance: a pair loads 2 registers per FMA, so with
    /// 4 chains each FMA has 8 load slots (at one 64-byte load per cycle, Zen 4's L1
    /// rate) to cover its 4-cycle latency.
    const ACCUMULATORS: usize = 4;
    /// Accumulators per distance for dims below [`HELD_DIMS`] on AVX-512, pairs and
    /// batches alike (they must agree bit for bit). A held-query batch has no query
    /// loads, so 2 chains per vector x 4 vectors cover the FMA latency, and each
    /// distance then saves 2 of the ~22 adds, FMAs and shuffles that bound it.
    const HELD_ACCUMULATORS: usize = 2;
    /// Dims up to here are batched with the query held in registers.
    const HELD_DIMS: usize = 9 * LANES_512;
    /// Vectors a batch kernel takes at once, sharing each query load: 4 x 4 accumulators
    /// fit AVX-512's 32 registers; AVX2 has 16, so 2 x 4 there.
    const GROUP_512: usize = 4;
    const GROUP_256: usize = 2;

    /// The vectors of one batch group: `j, j + stride, j + 2 stride, ...`, not `j..j+G`.
    /// Interleaving loads from adjacent short vectors breaks the hardware prefetcher's
    /// sequential streams (d=128 from RAM: 9 GB/s, against 20 GB/s when each of the G
    /// streams runs through its own quarter of the block).
    fn group_ptrs<const G: usize>(
        data: *const f32,
        j: usize,
        stride: usize,
        dim: usize,
    ) -> [*const f32; G] {
        // wrapping_add: computing the pointers is safe; callers only read in bounds.
        std::array::from_fn(|g| data.wrapping_add((j + g * stride) * dim))
    }

    /// `acc + a*b` for an inner product, `acc + (a-b)^2` for squared L2.
    // SAFETY: callers run on a CPU with AVX-512F (the target feature); no memory access.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn step_512<const DOT: bool>(acc: __m512, a: __m512, b: __m512) -> __m512 {
        if DOT {
            _mm512_fmadd_ps(a, b, acc)
        } else {
            let d = _mm512_sub_ps(a, b);
            _mm512_fmadd_ps(d, d, acc)
        }
    }

    /// Per-lane partial sums from `q` to each of the `G` vectors at `v`, the
    /// accumulators added as (0 + 1) + (2 + 3). Chunk `c` of 16 goes to accumulator
    /// `c % 4` (the last partial chunk, masked, to accumulator 3) whatever `G` is.
    // SAFETY: callers run on a CPU with AVX-512F, and each `v[g]` points to q.len()
    // readable floats; full loads stay below that end and the tail load is masked.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn lanes_512<const DOT: bool, const G: usize, const A: usize>(
        q: &[f32],
        v: [*const f32; G],
    ) -> [__m512; G] {
        let n = q.len();
        let pq = q.as_ptr();
        let mut acc = [[_mm512_setzero_ps(); A]; G];
        let mut i = 0;
        while i + A * LANES_512 <= n {
            for k in 0..A {
                let at = i + k * LANES_512;
                let qv = _mm512_loadu_ps(pq.add(at));
                for (acc, v) in acc.iter_mut().zip(v) {
                    acc[k] = step_512::<DOT>(acc[k], qv, _mm512_loadu_ps(v.add(at)));
                }
            }
            i += A * LANES_512;
        }
        let mut k = 0;
        while i + LANES_512 <= n {
            let qv = _mm512_loadu_ps(pq.add(i));
            for (acc, v) in acc.iter_mut().zip(v) {
                acc[k] = step_512::<DOT>(acc[k], qv, _mm512_loadu_ps(v.add(i)));
            }
            i += LANES_512;
            k += 1;
        }
        if i < n {
            let mask = ((1u32 << (n - i)) - 1) as __mmask16;
            let qv = _mm512_maskz_loadu_ps(mask, pq.add(i));
            for (acc, v) in acc.iter_mut().zip(v) {
                let x = _mm512_maskz_loadu_ps(mask, v.add(i));
                acc[A - 1] = step_512::<DOT>(acc[A - 1], qv, x);
            }
        }
        // SAFETY: this CPU has AVX-512F (this function's own requirement).
        acc.map(|a| unsafe { combine(a) })
    }

    /// The accumulators of one distance added lane by lane: `a0 + a1`, or
    /// `(a0 + a1) + (a2 + a3)`.
    // SAFETY: callers run on a CPU with AVX-512F; no memory access.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn combine<const A: usize>(a: [__m512; A]) -> __m512 {
        match A {
            2 => _mm512_add_ps(a[0], a[1]),
            4 => _mm512_add_ps(_mm512_add_ps(a[0], a[1]), _mm512_add_ps(a[2], a[3])),
            _ => unreachable!("2 or 4 accumulators"),
        }
    }

    /// The lane sums of 4 registers, `[sum a, sum b, sum c, sum d]`: 128-bit blocks
    /// (0 + 2) + (1 + 3), then within the block (0 + 1) + (2 + 3). A transposed tree:
    /// 10 shuffles and adds for 4 sums, where 4 separate reductions take 24.
    // SAFETY: callers run on a CPU with AVX-512F; no memory access.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn hsum4_512(a: __m512, b: __m512, c: __m512, d: __m512) -> __m128 {
        let ab = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b01_00_01_00>(a, b),
            _mm512_shuffle_f32x4::<0b11_10_11_10>(a, b),
        );
        let cd = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b01_00_01_00>(c, d),
            _mm512_shuffle_f32x4::<0b11_10_11_10>(c, d),
        );
        let x = _mm512_add_ps(
            _mm512_shuffle_f32x4::<0b10_00_10_00>(ab, cd),
            _mm512_shuffle_f32x4::<0b11_01_11_01>(ab, cd),
        );
        let x = _mm512_add_ps(x, _mm512_permute_ps::<0b10_11_00_01>(x));
        let x = _mm512_add_ps(x, _mm512_permute_ps::<0b01_00_11_10>(x));
        let first_of_each_block =
            _mm512_setr_epi32(0, 4, 8, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        _mm512_castps512_ps128(_mm512_permutexvar_ps(first_of_each_block, x))
    }

    // SAFETY: callers run on a CPU with AVX-512F and pass slices of equal length.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_pair<const DOT: bool>(a: &[f32], b: &[f32]) -> f32 {
        // Dims the batch holds in registers use its accumulators (see avx512_batch).
        let [s] = if a.len() < HELD_DIMS {
            lanes_512::<DOT, 1, HELD_ACCUMULATORS>(a, [b.as_ptr()])
        } else {
            lanes_512::<DOT, 1, ACCUMULATORS>(a, [b.as_ptr()])
        };
        hsum_512(s)
    }

    /// The lane sum of one register in [`hsum4_512`]'s order, so a pair and a batch
    /// agree bit for bit: 128-bit blocks (0 + 2) + (1 + 3), then within the block
    /// (0 + 1) + (2 + 3). The same four dependent shuffle-add steps without
    /// `hsum4_512`'s final cross-lane permute (the end of a pair is latency, not
    /// throughput).
    // SAFETY: callers run on a CPU with AVX-512F; no memory access.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn hsum_512(s: __m512) -> f32 {
        let x = _mm512_add_ps(s, _mm512_shuffle_f32x4::<0b01_00_11_10>(s, s));
        let x = _mm512_add_ps(x, _mm512_shuffle_f32x4::<0b10_11_00_01>(x, x));
        let x = _mm512_castps512_ps128(x);
        let x = _mm_add_ps(x, _mm_permute_ps::<0b10_11_00_01>(x));
        let x = _mm_add_ps(x, _mm_permute_ps::<0b01_00_11_10>(x));
        _mm_cvtss_f32(x)
    }

    /// [`step_512`] with squared L2's difference `a - b` taken on the FMA unit, as
    /// `-(b * 1) + a` (one rounding of an exact product: the same bits as the
    /// subtraction), `one` being 1.0 in every lane. Zen 4 runs 512-bit adds and FMAs on
    /// separate pipe pairs, one of each per cycle; a held-query L2 batch issues a sub
    /// and an FMA per chunk plus the adds of the sums, so its add pipes are the
    /// bottleneck; moving an eighth of the subtractions (a quarter before the held
    /// batch went to 2 accumulators) evens the two out.
    // SAFETY: callers run on a CPU with AVX-512F (the target feature); no memory access.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn step_512_fma_sub<const DOT: bool>(
        acc: __m512,
        a: __m512,
        b: __m512,
        one: __m512,
    ) -> __m512 {
        if DOT {
            _mm512_fmadd_ps(a, b, acc)
        } else {
            let d = _mm512_fnmadd_ps(b, one, a);
            _mm512_fmadd_ps(d, d, acc)
        }
    }

    /// As [`lanes_512`] with the query already in registers: `C` full chunks and the
    /// masked tail (zero past the end). Same accumulators in the same order.
    // SAFETY: callers run on a CPU with AVX-512F, `mask` covers the `dim - 16 C` tail
    // lanes, and each `v[g]` points to `dim` readable floats.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn lanes_512_held<const DOT: bool, const G: usize, const C: usize>(
        q: &[__m512; C],
        q_tail: __m512,
        mask: __mmask16,
        v: [*const f32; G],
    ) -> [__m512; G] {
        let mut acc = [[_mm512_setzero_ps(); HELD_ACCUMULATORS]; G];
        // Opaque, so the compiler cannot turn `-(b * 1) + a` back into `a - b`.
        let one = _mm512_set1_ps(std::hint::black_box(1.0));
        for (c, &qv) in q.iter().enumerate() {
            for (acc, v) in acc.iter_mut().zip(v) {
                let k = c % HELD_ACCUMULATORS;
                let x = _mm512_loadu_ps(v.add(c * LANES_512));
                acc[k] = if c % 8 == 7 {
                    step_512_fma_sub::<DOT>(acc[k], qv, x, one)
                } else {
                    step_512::<DOT>(acc[k], qv, x)
                };
            }
        }
        if mask != 0 {
            for (acc, v) in acc.iter_mut().zip(v) {
                let x = _mm512_maskz_loadu_ps(mask, v.add(C * LANES_512));
                let last = HELD_ACCUMULATORS - 1;
                acc[last] = step_512::<DOT>(acc[last], q_tail, x);
            }
        }
        // SAFETY: this CPU has AVX-512F (this function's own requirement).
        acc.map(|a| unsafe { combine(a) })
    }

    /// Stores the 4 sums of a group to their places `j + g * stride`.
    // SAFETY: callers run on a CPU with AVX-512F and pass `j + 3 stride < out.len()`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_group(out: &mut [f32], j: usize, stride: usize, s: [__m512; GROUP_512]) {
        let mut sums = [0.0f32; GROUP_512];
        _mm_storeu_ps(sums.as_mut_ptr(), hsum4_512(s[0], s[1], s[2], s[3]));
        for (g, sum) in sums.into_iter().enumerate() {
            out[j + g * stride] = sum;
        }
    }

    /// Batch with the query held in `C` registers (dims 16 C to 16 C + 15): each vector
    /// then costs only its own loads, where reloading the query costs a quarter more
    /// (d=128 in L1: 4.7 ns per distance, 16 KiB loads per 256 B/ns).
    // SAFETY: callers run on a CPU with AVX-512F, with q.len() / 16 == C and
    // data.len() == q.len() * out.len().
    #[target_feature(enable = "avx512f")]
    unsafe fn batch_held<const DOT: bool, const C: usize>(
        q: &[f32],
        data: &[f32],
        out: &mut [f32],
    ) {
        let dim = q.len();
        let pq = q.as_ptr();
        let held: [__m512; C] = std::array::from_fn(|c| _mm512_loadu_ps(pq.add(c * LANES_512)));
        let mask = ((1u32 << (dim - C * LANES_512)) - 1) as __mmask16;
        let q_tail = _mm512_maskz_loadu_ps(mask, pq.add(C * LANES_512));
        let stride = out.len() / GROUP_512;
        let p = data.as_ptr();
        for j in 0..stride {
            let v = group_ptrs::<GROUP_512>(p, j, stride, dim);
            store_group(
                out,
                j,
                stride,
                lanes_512_held::<DOT, GROUP_512, C>(&held, q_tail, mask, v),
            );
        }
        for (j, o) in out.iter_mut().enumerate().skip(GROUP_512 * stride) {
            let [s] = lanes_512_held::<DOT, 1, C>(&held, q_tail, mask, [p.add(j * dim)]);
            *o = _mm_cvtss_f32(hsum4_512(s, s, s, s));
        }
    }

    /// Batch reading the query from memory (L1) for each group of vectors.
    // SAFETY: callers run on a CPU with AVX-512F, with q.len() > 0 and
    // data.len() == q.len() * out.len().
    #[target_feature(enable = "avx512f")]
    unsafe fn batch_loaded<const DOT: bool>(q: &[f32], data: &[f32], out: &mut [f32]) {
        let dim = q.len();
        let stride = out.len() / GROUP_512;
        let p = data.as_ptr();
        for j in 0..stride {
            let v = group_ptrs::<GROUP_512>(p, j, stride, dim);
            store_group(
                out,
                j,
                stride,
                lanes_512::<DOT, GROUP_512, ACCUMULATORS>(q, v),
            );
        }
        for (j, o) in out.iter_mut().enumerate().skip(GROUP_512 * stride) {
            let [s] = lanes_512::<DOT, 1, ACCUMULATORS>(q, [p.add(j * dim)]);
            *o = _mm_cvtss_f32(hsum4_512(s, s, s, s));
        }
    }

    // SAFETY: callers run on a CPU with AVX-512F, with q.len() > 0 and
    // data.len() == q.len() * out.len(); every vector read lies inside data.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn avx512_batch<const DOT: bool>(q: &[f32], data: &[f32], out: &mut [f32]) {
        // Up to 8 query registers: with 16 accumulators and the loaded chunks that is
        // most of the 32; dims up to 143 are the ones where per-vector cost matters.
        match q.len() / LANES_512 {
            0 => batch_held::<DOT, 0>(q, data, out),
            1 => batch_held::<DOT, 1>(q, data, out),
            2 => batch_held::<DOT, 2>(q, data, out),
            3 => batch_held::<DOT, 3>(q, data, out),
            4 => batch_held::<DOT, 4>(q, data, out),
            5 => batch_held::<DOT, 5>(q, data, out),
            6 => batch_held::<DOT, 6>(q, data, out),
            7 => batch_held::<DOT, 7>(q, data, out),
            8 => batch_held::<DOT, 8>(q, data, out),
            _ => batch_loaded::<DOT>(q, data, out),
        }
    }

    /// `acc + a*b` for an inner product, `acc + (a-b)^2` for squared L2.
    // SAFETY: callers run on a CPU with AVX2 and FMA; no memory access.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn step_256<const DOT: bool>(acc: __m256, a: __m256, b: __m256) -> __m256 {
        if DOT {
            _mm256_fmadd_ps(a, b, acc)
        } else {
            let d = _mm256_sub_ps(a, b);
            _mm256_fmadd_ps(d, d, acc)
        }
    }

    /// Sum of the 8 lanes.
    // SAFETY: callers run on a CPU with AVX2; no memory access.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn hsum_256(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    /// As [`lanes_512`] on 8 lanes, then summed, plus the scalar tail of each vector.
    // SAFETY: callers run on a CPU with AVX2 and FMA, and each `v[g]` points to
    // q.len() readable floats; vector loads stop at the last full 8 lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn sums_256<const DOT: bool, const G: usize>(q: &[f32], v: [*const f32; G]) -> [f32; G] {
        let n = q.len();
        let pq = q.as_ptr();
        let mut acc = [[_mm256_setzero_ps(); ACCUMULATORS]; G];
        let mut i = 0;
        while i + ACCUMULATORS * LANES_256 <= n {
            for k in 0..ACCUMULATORS {
                let at = i + k * LANES_256;
                let qv = _mm256_loadu_ps(pq.add(at));
                for (acc, v) in acc.iter_mut().zip(v) {
                    acc[k] = step_256::<DOT>(acc[k], qv, _mm256_loadu_ps(v.add(at)));
                }
            }
            i += ACCUMULATORS * LANES_256;
        }
        let mut k = 0;
        while i + LANES_256 <= n {
            let qv = _mm256_loadu_ps(pq.add(i));
            for (acc, v) in acc.iter_mut().zip(v) {
                acc[k] = step_256::<DOT>(acc[k], qv, _mm256_loadu_ps(v.add(i)));
            }
            i += LANES_256;
            k += 1;
        }
        let mut out = [0.0; G];
        for ((o, a), v) in out.iter_mut().zip(acc).zip(v) {
            let sum = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
            let mut tail = 0.0;
            for j in i..n {
                let (x, y) = (*pq.add(j), *v.add(j));
                tail += if DOT { x * y } else { (x - y) * (x - y) };
            }
            *o = hsum_256(sum) + tail;
        }
        out
    }

    // SAFETY: callers run on a CPU with AVX2 and FMA and pass slices of equal length.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2_pair<const DOT: bool>(a: &[f32], b: &[f32]) -> f32 {
        sums_256::<DOT, 1>(a, [b.as_ptr()])[0]
    }

    // SAFETY: callers run on a CPU with AVX2 and FMA, with q.len() > 0 and
    // data.len() == q.len() * out.len(); every vector read lies inside data.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn avx2_batch<const DOT: bool>(q: &[f32], data: &[f32], out: &mut [f32]) {
        let dim = q.len();
        let stride = out.len() / GROUP_256;
        let p = data.as_ptr();
        for j in 0..stride {
            let v = group_ptrs::<GROUP_256>(p, j, stride, dim);
            let sums = sums_256::<DOT, GROUP_256>(q, v);
            for (g, s) in sums.into_iter().enumerate() {
                out[j + g * stride] = s;
            }
        }
        for (j, o) in out.iter_mut().enumerate().skip(GROUP_256 * stride) {
            *o = sums_256::<DOT, 1>(q, [p.add(j * dim)])[0];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Odd dimensions: every tail length of both kernels, below and above one group of
    /// 4 chunks, and both sides of 144, where the AVX-512 batch stops holding the query
    /// in registers.
    const DIMS: [usize; 12] = [1, 3, 15, 16, 17, 100, 127, 128, 143, 144, 1023, 1025];

    /// Uniform in [-1, 1), with one extra leading float so `&v[1..]` is a slice that is
    /// not 16-byte aligned (the allocation is; loads must not assume it).
    fn random_unaligned(rng: &mut ChaCha8Rng, len: usize) -> Vec<f32> {
        (0..len + 1)
            .map(|_| rng.random_range(-1.0f32..1.0))
            .collect()
    }

    /// Tolerance: 1e-5 relative plus 1e-6 per dimension absolute. Both sides round a sum
    /// of `dim` terms of magnitude <= 1 in f32 (eps 6e-8) in different orders, so their
    /// difference grows with dim; 1e-6 per term is > 10x the worst sequential bound.
    fn close(got: f32, want: f32, dim: usize) -> bool {
        (got - want).abs() <= 1e-5 * want.abs() + 1e-6 * dim as f32
    }

    fn simd_isas() -> Vec<Isa> {
        available()
            .into_iter()
            .filter(|&i| i != Isa::Scalar)
            .collect()
    }

    #[test]
    fn available_ends_with_scalar_and_best_is_first() {
        let isas = available();
        assert_eq!(isas.last(), Some(&Isa::Scalar));
        assert_eq!(isas[0], best());
        #[cfg(target_arch = "x86_64")]
        if is_x86_feature_detected!("avx512f") {
            assert_eq!(best(), Isa::Avx512);
        }
    }

    #[test]
    fn pair_kernels_match_scalar_on_odd_unaligned_dims() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for isa in simd_isas() {
            for dim in DIMS {
                let (a, b) = (
                    random_unaligned(&mut rng, dim),
                    random_unaligned(&mut rng, dim),
                );
                let (a, b) = (&a[1..], &b[1..]);
                let (l2, l2_ref) = (l2sq_with(isa, a, b), l2sq_scalar(a, b));
                assert!(
                    close(l2, l2_ref, dim),
                    "{isa:?} l2sq d={dim}: {l2} vs {l2_ref}"
                );
                let (ip, ip_ref) = (dot_with(isa, a, b), dot_scalar(a, b));
                assert!(
                    close(ip, ip_ref, dim),
                    "{isa:?} dot d={dim}: {ip} vs {ip_ref}"
                );
            }
        }
    }

    #[test]
    fn batch_kernels_match_scalar_for_every_group_remainder() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for isa in available() {
            for dim in DIMS {
                // 9 vectors: two full groups of 4 and a remainder of 1; 7: one group and 3.
                for n in [1, 7, 9] {
                    let q = random_unaligned(&mut rng, dim);
                    let data = random_unaligned(&mut rng, n * dim);
                    let (q, data) = (&q[1..], &data[1..]);
                    let mut l2 = vec![0.0; n];
                    let mut ip = vec![0.0; n];
                    l2sq_batch_with(isa, q, data, &mut l2);
                    dot_batch_with(isa, q, data, &mut ip);
                    for (j, v) in data.chunks_exact(dim).enumerate() {
                        let (l2_ref, ip_ref) = (l2sq_scalar(q, v), dot_scalar(q, v));
                        assert!(close(l2[j], l2_ref, dim), "{isa:?} l2 d={dim} n={n} j={j}");
                        assert!(close(ip[j], ip_ref, dim), "{isa:?} dot d={dim} n={n} j={j}");
                    }
                }
            }
        }
    }

    #[test]
    fn batch_and_pairs_are_bit_identical_on_every_isa() {
        // Top-k over a batch must agree with top-k over single pairs, ties included.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for isa in available() {
            for dim in DIMS {
                let q = random_unaligned(&mut rng, dim);
                let data = random_unaligned(&mut rng, 10 * dim);
                let (q, data) = (&q[1..], &data[1..]);
                let mut l2 = vec![0.0; 10];
                let mut ip = vec![0.0; 10];
                l2sq_batch_with(isa, q, data, &mut l2);
                dot_batch_with(isa, q, data, &mut ip);
                for (j, v) in data.chunks_exact(dim).enumerate() {
                    assert_eq!(l2[j], l2sq_with(isa, q, v), "{isa:?} l2 d={dim} j={j}");
                    assert_eq!(ip[j], dot_with(isa, q, v), "{isa:?} dot d={dim} j={j}");
                }
            }
        }
    }

    #[test]
    fn an_isa_the_cpu_lacks_runs_scalar() {
        let (a, b) = ([1.0, 2.0, 3.0], [0.5, -1.0, 4.0]);
        for isa in ALL_ISAS.into_iter().filter(|&i| !supported(i)) {
            assert_eq!(resolve(isa), Isa::Scalar);
            assert_eq!(l2sq_with(isa, &a, &b), l2sq_scalar(&a, &b));
            assert_eq!(dot_with(isa, &a, &b), dot_scalar(&a, &b));
        }
    }

    #[test]
    fn zero_dimension_gives_zero() {
        for isa in available() {
            assert_eq!(l2sq_with(isa, &[], &[]), 0.0);
            assert_eq!(dot_with(isa, &[], &[]), 0.0);
            let mut out = [1.0; 3];
            l2sq_batch_with(isa, &[], &[], &mut out);
            assert_eq!(out, [0.0; 3]);
        }
    }

    #[test]
    fn cosine_of_parallel_orthogonal_and_zero_vectors() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-6);
        assert_eq!(cosine(&[1.0, 0.0], &[0.0, 3.0]), 0.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 1.0]), 0.0);
    }

    #[test]
    #[should_panic(expected = "vectors of different dimension")]
    fn different_dimensions_panic_on_every_isa() {
        l2sq_with(best(), &[1.0, 2.0], &[1.0]);
    }
}
