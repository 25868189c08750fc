//! The statistics behind "changed" and "holds": the Mann–Whitney U test (exact for
//! the small samples repetitions give, a normal approximation beyond), the Wilcoxon
//! signed-rank test of paired differences (`sabench ab`'s, exact) and a bootstrap
//! interval for the ratio of two medians. Both are deterministic: the bootstrap's
//! resampling is seeded, so a report reads the same every time it is written.

/// Samples per side up to which the U distribution is computed exactly.
const EXACT_UP_TO: usize = 20;
/// Bootstrap resamples.
const RESAMPLES: usize = 4_000;

/// The result of a two-sided Mann–Whitney U test of `a` against `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitney {
    /// U for `a`: how many (a, b) pairs have a > b (ties count ½).
    pub u: f64,
    /// Two-sided p-value: the chance of a U at least this far from n·m/2 if both
    /// samples came from one distribution.
    pub p: f64,
}

/// Tests whether `a` and `b` come from distributions of different location. None when
/// either sample is empty or holds a value that is not finite.
pub fn mann_whitney(a: &[f64], b: &[f64]) -> Option<MannWhitney> {
    if a.is_empty() || b.is_empty() || a.iter().chain(b).any(|v| !v.is_finite()) {
        return None;
    }
    let u: f64 = a
        .iter()
        .map(|x| {
            b.iter()
                .map(|y| match x.total_cmp(y) {
                    std::cmp::Ordering::Greater => 1.0,
                    std::cmp::Ordering::Equal => 0.5,
                    std::cmp::Ordering::Less => 0.0,
                })
                .sum::<f64>()
        })
        .sum();
    let (n, m) = (a.len(), b.len());
    let mean = (n * m) as f64 / 2.0;
    let distance = (u - mean).abs();
    let p = if n <= EXACT_UP_TO && m <= EXACT_UP_TO {
        exact_two_sided(n, m, distance)
    } else {
        normal_two_sided(n, m, distance)
    };
    Some(MannWhitney { u, p: p.min(1.0) })
}

/// P(|U − nm/2| ≥ distance) under the null, from the exact distribution of U (no ties
/// assumed; with ties the test is slightly conservative).
fn exact_two_sided(n: usize, m: usize, distance: f64) -> f64 {
    // counts[k] = arrangements of n a's among n + m places with U = k, built up by
    // the recurrence f(n, m, k) = f(n − 1, m, k − m) + f(n, m − 1, k).
    let max_u = n * m;
    let mut table = vec![vec![vec![0f64; max_u + 1]; m + 1]; n + 1];
    for (i, row) in table.iter_mut().enumerate() {
        for (j, cell) in row.iter_mut().enumerate() {
            if i == 0 || j == 0 {
                cell[0] = 1.0;
            }
        }
    }
    for i in 1..=n {
        for j in 1..=m {
            for k in 0..=i * j {
                let with_a_last = if k >= j { table[i - 1][j][k - j] } else { 0.0 };
                let with_b_last = table[i][j - 1][k];
                table[i][j][k] = with_a_last + with_b_last;
            }
        }
    }
    let counts = &table[n][m];
    let total: f64 = counts.iter().sum();
    let mean = max_u as f64 / 2.0;
    let extreme: f64 = counts
        .iter()
        .enumerate()
        .filter(|(k, _)| (*k as f64 - mean).abs() >= distance - 1e-9)
        .map(|(_, c)| c)
        .sum();
    extreme / total
}

/// The same from the normal approximation with continuity correction.
fn normal_two_sided(n: usize, m: usize, distance: f64) -> f64 {
    let (n, m) = (n as f64, m as f64);
    let sd = (n * m * (n + m + 1.0) / 12.0).sqrt();
    let z = ((distance - 0.5).max(0.0)) / sd;
    2.0 * (1.0 - standard_normal_cdf(z))
}

/// Φ(z), from the complementary error function (Abramowitz–Stegun 7.1.26, error
/// under 1.5e-7).
fn standard_normal_cdf(z: f64) -> f64 {
    let x = z.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let poly = t
        * (0.254_829_592
            + t * (-0.284_496_736
                + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))));
    let erfc = poly * (-x * x).exp();
    if z >= 0.0 {
        1.0 - erfc / 2.0
    } else {
        erfc / 2.0
    }
}

/// Most pairs the signed-rank test takes (its exact distribution is counted).
pub const SIGNED_RANK_MOST: usize = 60;

/// The two-sided p-value of the Wilcoxon signed-rank test that the paired
/// `differences` (after − before, one per pair) are centred on 0, exact (ranks of equal
/// magnitudes averaged, zeros dropped). None with no non-zero difference, a value that
/// is not finite, or more than [`SIGNED_RANK_MOST`] pairs. With n non-zero
/// differences the smallest p it can give is 2 / 2ⁿ: 6 pairs are the fewest that can
/// reach p < 0.05.
pub fn signed_rank(differences: &[f64]) -> Option<f64> {
    if differences.iter().any(|d| !d.is_finite()) || differences.len() > SIGNED_RANK_MOST {
        return None;
    }
    let mut nonzero: Vec<f64> = differences.iter().copied().filter(|d| *d != 0.0).collect();
    if nonzero.is_empty() {
        return None;
    }
    nonzero.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    // Doubled ranks, so averaged ranks of ties stay whole numbers.
    let n = nonzero.len();
    let mut ranks = vec![0usize; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nonzero[j + 1].abs() == nonzero[i].abs() {
            j += 1;
        }
        for rank in &mut ranks[i..=j] {
            *rank = i + j + 2; // 2 × the average of ranks i+1 … j+1
        }
        i = j + 1;
    }
    let total: usize = ranks.iter().sum();
    let positive: usize = ranks
        .iter()
        .zip(&nonzero)
        .filter(|(_, d)| **d > 0.0)
        .map(|(r, _)| r)
        .sum();
    // How many of the 2ⁿ sign assignments give each doubled rank sum.
    let mut ways = vec![0f64; total + 1];
    ways[0] = 1.0;
    for &rank in &ranks {
        for sum in (rank..=total).rev() {
            ways[sum] += ways[sum - rank];
        }
    }
    let all = 2f64.powi(n as i32);
    let low = positive.min(total - positive);
    let tail: f64 = ways[..=low].iter().sum();
    Some((2.0 * tail / all).min(1.0))
}

/// The median of `values` (NaN for none).
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// A 95 % percentile-bootstrap interval for median(`numerator`) / median(`denominator`),
/// resampling each side with replacement; None when a side is empty, the denominator's
/// median is not above 0, or a resample is 0 / 0. A resampled denominator median of 0
/// under a numerator above 0 counts as ∞, so the interval's top may be open.
pub fn ratio_interval(numerator: &[f64], denominator: &[f64]) -> Option<(f64, f64)> {
    ratio_interval_at(numerator, denominator, 0.95)
}

/// As [`ratio_interval`], at `level` (0.90: the interval of an equivalence test at
/// 5 %, two one-sided tests at once).
pub fn ratio_interval_at(numerator: &[f64], denominator: &[f64], level: f64) -> Option<(f64, f64)> {
    // No interval where the point estimate itself has no ratio.
    if numerator.is_empty() || denominator.is_empty() || median(denominator) <= 0.0 {
        return None;
    }
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut resample = |values: &[f64], buffer: &mut Vec<f64>| {
        buffer.clear();
        for _ in 0..values.len() {
            buffer.push(values[(next() % values.len() as u64) as usize]);
        }
        median(buffer)
    };
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let mut ratios = Vec::with_capacity(RESAMPLES);
    for _ in 0..RESAMPLES {
        let top = resample(numerator, &mut a);
        let bottom = resample(denominator, &mut b);
        if bottom < 0.0 || !bottom.is_finite() || !top.is_finite() || (top == 0.0 && bottom == 0.0)
        {
            return None;
        }
        // A denominator median of 0 (a repetition that scored 0, drawn often enough):
        // unboundedly worse.
        ratios.push(if bottom == 0.0 {
            f64::INFINITY
        } else {
            top / bottom
        });
    }
    ratios.sort_by(f64::total_cmp);
    let at = |q: f64| ratios[((ratios.len() - 1) as f64 * q).round() as usize];
    let tail = (1.0 - level) / 2.0;
    Some((at(tail), at(1.0 - tail)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_rank_test_matches_its_table_and_needs_six_pairs() {
        // Every pair worse: p = 2 / 2ⁿ.
        assert_eq!(signed_rank(&[-1.0, -2.0, -3.0, -4.0, -5.0]), Some(0.0625));
        assert_eq!(
            signed_rank(&[-1.0, -2.0, -3.0, -4.0, -5.0, -6.0]),
            Some(0.03125)
        );
        // n = 8, W+ = 3 (ranks 1 and 2 positive): P(W ≤ 3) = 5 / 256, two-sided 0.039.
        let p = signed_rank(&[0.1, 0.2, -0.3, -0.4, -0.5, -0.6, -0.7, -0.8]).unwrap();
        assert!((p - 10.0 / 256.0).abs() < 1e-12, "{p}");
        // Symmetric differences: no evidence.
        assert_eq!(signed_rank(&[1.0, -1.0, 2.0, -2.0]), Some(1.0));
        assert_eq!(signed_rank(&[0.0, 0.0]), None);
        assert_eq!(signed_rank(&[f64::NAN, 1.0]), None);
    }

    #[test]
    fn exact_p_values_match_the_tables() {
        // Five against five, completely separated: U = 25, p = 2/252.
        let low = [1.0, 2.0, 3.0, 4.0, 5.0];
        let high = [6.0, 7.0, 8.0, 9.0, 10.0];
        let test = mann_whitney(&high, &low).unwrap();
        assert_eq!(test.u, 25.0);
        assert!((test.p - 2.0 / 252.0).abs() < 1e-12, "{}", test.p);
        // Two against two can never get under 1/3: repetitions that few cannot tell.
        let test = mann_whitney(&[10.0, 11.0], &[1.0, 2.0]).unwrap();
        assert!((test.p - 1.0 / 3.0).abs() < 1e-12, "{}", test.p);
        // Interleaved samples are no evidence at all.
        let test = mann_whitney(&[1.0, 3.0, 5.0], &[2.0, 4.0, 6.0]).unwrap();
        assert!(test.p > 0.5, "{}", test.p);
        assert!(mann_whitney(&[], &[1.0]).is_none());
        assert!(mann_whitney(&[f64::NAN], &[1.0]).is_none());
    }

    #[test]
    fn the_normal_approximation_agrees_with_the_exact_test_where_both_apply() {
        let a: Vec<f64> = (0..20).map(|i| f64::from(i) + 3.5).collect();
        let b: Vec<f64> = (0..20).map(f64::from).collect();
        let test = mann_whitney(&a, &b).unwrap();
        let distance = (test.u - 200.0).abs();
        let approx = normal_two_sided(20, 20, distance);
        assert!((test.p - approx).abs() < 0.02, "{} vs {approx}", test.p);
        assert!((standard_normal_cdf(1.959_964) - 0.975).abs() < 1e-6);
    }

    #[test]
    fn the_ratio_interval_covers_the_ratio_and_widens_with_noise() {
        let steady = ratio_interval(&[200.0; 5], &[100.0; 5]).unwrap();
        assert_eq!(steady, (2.0, 2.0));
        let noisy = ratio_interval(
            &[180.0, 200.0, 220.0, 190.0, 210.0],
            &[90.0, 100.0, 110.0, 95.0, 105.0],
        )
        .unwrap();
        assert!(noisy.0 < 2.0 && noisy.1 > 2.0, "{noisy:?}");
        assert!(ratio_interval(&[1.0], &[0.0]).is_none());
        // One repetition of 0 among five: the top is open, the bottom finite.
        let open = ratio_interval(&[10.0; 5], &[0.0, 2.0, 2.0, 2.5, 2.0]).unwrap();
        assert!(open.0.is_finite() && open.1.is_infinite(), "{open:?}");
        assert_eq!(median(&[3.0, 1.0, 2.0, 10.0]), 2.5);
    }
}
