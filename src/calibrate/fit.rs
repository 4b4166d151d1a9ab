//! Power laws fitted to measurements: `y = a * x1^b1 * x2^b2 * ...`, by least squares on
//! the logarithms.

/// Fits `ln y = ln a + sum_j b_j ln x_j` to the samples `(x, y)` (all positive; at least
/// as many samples as unknowns). Returns `(a, [b_j])`. A factor that does not vary in the
/// samples gets exponent 0 rather than an ill-posed system.
pub fn power_law(samples: &[(Vec<f64>, f64)]) -> (f64, Vec<f64>) {
    let factors = samples.first().map_or(0, |s| s.0.len());
    let varies: Vec<bool> = (0..factors)
        .map(|j| {
            let first = samples[0].0[j];
            samples.iter().any(|s| (s.0[j] / first - 1.0).abs() > 1e-9)
        })
        .collect();
    let used: Vec<usize> = (0..factors).filter(|&j| varies[j]).collect();
    let n = used.len() + 1;
    assert!(
        samples.len() >= n,
        "{} samples cannot fit {n} unknowns",
        samples.len()
    );
    // Normal equations (X^T X) beta = X^T y, with X = [1, ln x_used...].
    let mut xtx = vec![vec![0.0; n]; n];
    let mut xty = vec![0.0; n];
    for (x, y) in samples {
        assert!(
            *y > 0.0 && x.iter().all(|&v| v > 0.0),
            "power laws fit positive samples"
        );
        let row: Vec<f64> = std::iter::once(1.0)
            .chain(used.iter().map(|&j| x[j].ln()))
            .collect();
        for r in 0..n {
            for c in 0..n {
                xtx[r][c] += row[r] * row[c];
            }
            xty[r] += row[r] * y.ln();
        }
    }
    let beta = solve(xtx, xty);
    let mut exps = vec![0.0; factors];
    for (k, &j) in used.iter().enumerate() {
        exps[j] = beta[k + 1];
    }
    (beta[0].exp(), exps)
}

/// Evaluates a fitted law.
pub fn eval(a: f64, exps: &[f64], x: &[f64]) -> f64 {
    a * exps.iter().zip(x).map(|(b, v)| v.powf(*b)).product::<f64>()
}

/// Gaussian elimination with partial pivoting.
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n)
            .max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))
            .expect("non-empty");
        a.swap(col, pivot);
        b.swap(col, pivot);
        assert!(
            a[col][col].abs() > 1e-12,
            "singular system: the samples do not separate the factors"
        );
        let (done, rest) = a.split_at_mut(col + 1);
        let pivot_row = &done[col];
        for (i, row) in rest.iter_mut().enumerate() {
            let f = row[col] / pivot_row[col];
            for (x, p) in row[col..].iter_mut().zip(&pivot_row[col..]) {
                *x -= f * p;
            }
            b[col + 1 + i] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exact_power_law_is_recovered() {
        let mut samples = Vec::new();
        for ef in [16.0, 64.0, 128.0] {
            for m in [8.0, 16.0, 32.0] {
                for n in [1e4f64, 1e5] {
                    let x = vec![ef, m, n.ln()];
                    samples.push((x.clone(), eval(3.0, &[0.9, 0.5, 1.2], &x)));
                }
            }
        }
        let (a, b) = power_law(&samples);
        assert!((a - 3.0).abs() < 1e-6, "{a}");
        for (got, want) in b.iter().zip([0.9, 0.5, 1.2]) {
            assert!((got - want).abs() < 1e-9, "{b:?}");
        }
    }

    #[test]
    fn a_constant_factor_gets_exponent_zero() {
        let samples: Vec<(Vec<f64>, f64)> = [10.0, 20.0, 40.0]
            .iter()
            .map(|&x| (vec![x, 5.0], 2.0 * x))
            .collect();
        let (a, b) = power_law(&samples);
        assert!((a - 2.0).abs() < 1e-9 && (b[0] - 1.0).abs() < 1e-9 && b[1] == 0.0);
    }
}
