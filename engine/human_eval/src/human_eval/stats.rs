//! The statistics of a human evaluation, as the reference implementations
//! compute them (statsmodels' `proportion_confint(method="wilson")`,
//! `fleiss_kappa`, `cohens_kappa`; the krippendorff package's nominal alpha;
//! scipy's `pearsonr`):
//! the tests compare with their values (`scripts/make_stats_fixtures.py`).
//! Where a statistic is undefined (no ratings, no variance) the functions say
//! so with `None` instead of a NaN.

/// The normal quantile of a two-sided 95% interval.
pub const Z95: f64 = 1.959_963_984_540_054;

/// A rate with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rate {
    /// Successes / trials.
    pub rate: f64,
    /// Lower end of the interval.
    pub low: f64,
    /// Upper end of the interval.
    pub high: f64,
    /// Trials.
    pub n: usize,
}

/// The rate of `successes` in `n` trials with its Wilson score interval at
/// normal quantile `z` (use [`Z95`]); `None` without trials.
pub fn wilson(successes: usize, n: usize, z: f64) -> Option<Rate> {
    if n == 0 || successes > n {
        return None;
    }
    let (k, nf) = (successes as f64, n as f64);
    let p = k / nf;
    let z2 = z * z;
    let centre = (p + z2 / (2.0 * nf)) / (1.0 + z2 / nf);
    let half = z / (1.0 + z2 / nf) * (p * (1.0 - p) / nf + z2 / (4.0 * nf * nf)).sqrt();
    // At 0 or n successes the bound is exactly 0 or 1 (rounding would leave it a hair inside).
    let low = if successes == 0 { 0.0 } else { (centre - half).max(0.0) };
    let high = if successes == n { 1.0 } else { (centre + half).min(1.0) };
    Some(Rate { rate: p, low, high, n })
}

/// Fleiss' kappa of `table` (one row per rated item, one column per category,
/// each cell the number of reviewers who chose it; the same number of
/// reviewers for every item). `None` when undefined: no items, fewer than two
/// reviewers, unequal reviewer counts, or a single category used throughout.
pub fn fleiss_kappa(table: &[Vec<usize>]) -> Option<f64> {
    let raters: usize = table.first()?.iter().sum();
    if raters < 2 || table.iter().any(|row| row.iter().sum::<usize>() != raters) {
        return None;
    }
    let (n_items, r) = (table.len() as f64, raters as f64);
    let categories = table[0].len();
    let p_j: Vec<f64> = (0..categories).map(|j| table.iter().map(|row| row[j] as f64).sum::<f64>() / (n_items * r)).collect();
    let p_bar = table.iter().map(|row| (row.iter().map(|&c| (c * c) as f64).sum::<f64>() - r) / (r * (r - 1.0))).sum::<f64>() / n_items;
    let p_e: f64 = p_j.iter().map(|p| p * p).sum();
    (p_e < 1.0).then(|| (p_bar - p_e) / (1.0 - p_e))
}

/// Cohen's kappa of two raters' categories `a` and `b` (same items, same
/// order). `None` when undefined: no items, different lengths, or chance
/// agreement of 1 (both used one and the same category throughout).
pub fn cohen_kappa(a: &[usize], b: &[usize]) -> Option<f64> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let categories = a.iter().chain(b).copied().max()? + 1;
    let n = a.len() as f64;
    let observed = a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / n;
    let count = |v: &[usize], c: usize| v.iter().filter(|&&x| x == c).count() as f64 / n;
    let expected: f64 = (0..categories).map(|c| count(a, c) * count(b, c)).sum();
    (expected < 1.0).then(|| (observed - expected) / (1.0 - expected))
}

/// Pearson's correlation of `a` and `b` (as scipy's `pearsonr`); `None` when
/// undefined: fewer than two pairs, different lengths, or no variance.
pub fn pearson(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() < 2 || a.len() != b.len() {
        return None;
    }
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let (va, vb): (f64, f64) = (a.iter().map(|x| (x - ma).powi(2)).sum(), b.iter().map(|y| (y - mb).powi(2)).sum());
    (va > 0.0 && vb > 0.0).then(|| (cov / (va * vb).sqrt()).clamp(-1.0, 1.0))
}

/// Krippendorff's alpha for nominal data: `ratings[reviewer][item]`, `None`
/// where a reviewer did not rate an item. Items rated by fewer than two
/// reviewers do not count. `None` when undefined: fewer than two pairable
/// ratings, or no disagreement expected (one category throughout).
pub fn krippendorff_alpha_nominal(ratings: &[Vec<Option<usize>>]) -> Option<f64> {
    let items = ratings.iter().map(Vec::len).max()?;
    let categories = ratings.iter().flatten().flatten().copied().max()? + 1;
    // The coincidence matrix: each item's pairs of values, weighted 1 / (m - 1).
    let mut o = vec![vec![0.0f64; categories]; categories];
    for item in 0..items {
        let values: Vec<usize> = ratings.iter().filter_map(|r| r.get(item).copied().flatten()).collect();
        let m = values.len();
        if m < 2 {
            continue;
        }
        for (i, &c) in values.iter().enumerate() {
            for (j, &k) in values.iter().enumerate() {
                if i != j {
                    o[c][k] += 1.0 / (m as f64 - 1.0);
                }
            }
        }
    }
    let n_c: Vec<f64> = o.iter().map(|row| row.iter().sum()).collect();
    let n: f64 = n_c.iter().sum();
    if n < 2.0 {
        return None;
    }
    let observed: f64 =
        (0..categories).flat_map(|c| (0..categories).map(move |k| (c, k))).filter(|(c, k)| c != k).map(|(c, k)| o[c][k]).sum();
    let expected: f64 = (0..categories)
        .flat_map(|c| (0..categories).map(move |k| (c, k)))
        .filter(|(c, k)| c != k)
        .map(|(c, k)| n_c[c] * n_c[k])
        .sum::<f64>()
        / (n - 1.0);
    (expected > 0.0).then(|| 1.0 - observed / expected)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    fn fixtures() -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/human_eval_stats.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn wilson_intervals_equal_statsmodels() {
        for case in fixtures()["wilson"].as_array().unwrap() {
            let (k, n) = (case["successes"].as_u64().unwrap() as usize, case["n"].as_u64().unwrap() as usize);
            let r = wilson(k, n, Z95).unwrap();
            assert!(
                close(r.low, case["low"].as_f64().unwrap()) && close(r.high, case["high"].as_f64().unwrap()),
                "{k}/{n}: {r:?} vs {case}"
            );
            assert!(r.low <= r.rate && r.rate <= r.high);
        }
        assert_eq!(wilson(0, 0, Z95), None);
        assert_eq!(wilson(3, 2, Z95), None);
    }

    #[test]
    fn agreement_equals_statsmodels_and_krippendorff() {
        let f = fixtures();
        let to_table = |v: &Value| -> Vec<Vec<usize>> {
            v.as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as usize).collect()).collect()
        };
        for case in f["fleiss"].as_array().unwrap() {
            let got = fleiss_kappa(&to_table(&case["table"])).unwrap();
            assert!(close(got, case["kappa"].as_f64().unwrap()), "Fleiss {got} vs {}", case["kappa"]);
        }
        let cats = |v: &Value| -> Vec<usize> { v.as_array().unwrap().iter().map(|c| c.as_u64().unwrap() as usize).collect() };
        for case in f["cohen"].as_array().unwrap() {
            let got = cohen_kappa(&cats(&case["a"]), &cats(&case["b"])).unwrap();
            assert!(close(got, case["kappa"].as_f64().unwrap()), "Cohen {got} vs {}", case["kappa"]);
        }
        let floats = |v: &Value| -> Vec<f64> { v.as_array().unwrap().iter().map(|c| c.as_f64().unwrap()).collect() };
        for case in f["pearson"].as_array().unwrap() {
            let got = pearson(&floats(&case["a"]), &floats(&case["b"])).unwrap();
            assert!(close(got, case["r"].as_f64().unwrap()), "Pearson {got} vs {}", case["r"]);
        }
        for case in f["krippendorff_nominal"].as_array().unwrap() {
            let ratings: Vec<Vec<Option<usize>>> = case["ratings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r.as_array().unwrap().iter().map(|v| v.as_u64().map(|x| x as usize)).collect())
                .collect();
            let got = krippendorff_alpha_nominal(&ratings).unwrap();
            assert!(close(got, case["alpha"].as_f64().unwrap()), "Krippendorff {got} vs {}", case["alpha"]);
        }
    }

    #[test]
    fn edge_cases_are_named_not_nan() {
        // Everybody agrees on one category: no variance, kappa and alpha undefined.
        assert_eq!(fleiss_kappa(&[vec![3, 0], vec![3, 0]]), None);
        assert_eq!(krippendorff_alpha_nominal(&[vec![Some(1), Some(1)], vec![Some(1), Some(1)]]), None);
        assert_eq!(cohen_kappa(&[0, 0, 0], &[0, 0, 0]), None);
        // Perfect agreement across categories: 1.
        assert!(close(fleiss_kappa(&[vec![3, 0], vec![0, 3]]).unwrap(), 1.0));
        assert!(close(cohen_kappa(&[0, 1, 1, 0], &[0, 1, 1, 0]).unwrap(), 1.0));
        // One reviewer, unequal reviewer counts, no pairable ratings.
        assert_eq!(fleiss_kappa(&[vec![1, 0], vec![0, 1]]), None);
        assert_eq!(fleiss_kappa(&[vec![2, 0], vec![1, 2]]), None);
        assert_eq!(krippendorff_alpha_nominal(&[vec![Some(0), None], vec![None, Some(1)]]), None);
        assert_eq!(cohen_kappa(&[], &[]), None);
        assert_eq!(pearson(&[1.0, 2.0], &[3.0, 3.0]), None);
        assert_eq!(pearson(&[1.0], &[3.0]), None);
    }
}
