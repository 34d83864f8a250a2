//! Percentile bootstrap intervals: a statistic recomputed on resamples (drawn
//! with replacement, from a fixed seed so a report is reproducible) and the
//! 2.5th and 97.5th percentiles of its values, interpolated as numpy's
//! `percentile` does. Used where no closed form fits: the mean of a 1-5
//! scale, Bradley-Terry strengths.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How many resamples the reports draw.
pub const RESAMPLES: usize = 1000;

/// A value with its 95% interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// The statistic on the data itself.
    pub value: f64,
    /// 2.5th percentile of the resampled statistic.
    pub low: f64,
    /// 97.5th percentile of the resampled statistic.
    pub high: f64,
}

/// The `q`-quantile (0 to 1) of sorted `values`, interpolated linearly between neighbours.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    let at = q * (sorted.len() - 1) as f64;
    let (i, frac) = (at.floor() as usize, at - at.floor());
    match sorted.get(i + 1) {
        Some(next) => sorted[i] + (next - sorted[i]) * frac,
        None => sorted[i],
    }
}

/// The statistic `stat` (a vector of values, e.g. one per model) of
/// `samples` with percentile intervals over `resamples` resamples seeded by
/// `seed`. `None` when `stat` is undefined on the data itself; resamples on
/// which it is undefined are left out.
pub fn bootstrap<T: Clone>(samples: &[T], resamples: usize, seed: u64, stat: impl Fn(&[T]) -> Option<Vec<f64>>) -> Option<Vec<Estimate>> {
    let values = stat(samples)?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut draws: Vec<Vec<f64>> = vec![Vec::with_capacity(resamples); values.len()];
    let mut resample = Vec::with_capacity(samples.len());
    for _ in 0..resamples {
        resample.clear();
        resample.extend((0..samples.len()).map(|_| samples[rng.random_range(0..samples.len())].clone()));
        if let Some(v) = stat(&resample) {
            for (d, x) in draws.iter_mut().zip(v) {
                d.push(x);
            }
        }
    }
    Some(
        values
            .into_iter()
            .zip(draws)
            .map(|(value, mut d)| {
                d.sort_by(f64::total_cmp);
                if d.is_empty() {
                    return Estimate { value, low: value, high: value };
                }
                Estimate { value, low: quantile(&d, 0.025), high: quantile(&d, 0.975) }
            })
            .collect(),
    )
}

/// The mean of `values` with its bootstrap interval; `None` without values.
pub fn mean(values: &[f64], seed: u64) -> Option<Estimate> {
    let stat = |s: &[f64]| (!s.is_empty()).then(|| vec![s.iter().sum::<f64>() / s.len() as f64]);
    bootstrap(values, RESAMPLES, seed, stat).map(|v| v[0])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate_as_numpy() {
        // numpy.percentile([1, 2, 3, 4], [2.5, 50, 97.5]) == [1.075, 2.5, 3.925]
        let v = [1.0, 2.0, 3.0, 4.0];
        for (q, want) in [(0.025, 1.075), (0.5, 2.5), (0.975, 3.925), (0.0, 1.0), (1.0, 4.0)] {
            assert!((quantile(&v, q) - want).abs() < 1e-12, "{q}");
        }
    }

    #[test]
    fn a_mean_interval_is_reproducible_holds_the_mean_and_narrows_with_more_data() {
        let few: Vec<f64> = [4.0, 5.0, 3.0, 4.0, 2.0, 5.0, 4.0, 3.0].to_vec();
        let a = mean(&few, 1).unwrap();
        assert_eq!(a, mean(&few, 1).unwrap(), "same seed, same interval");
        assert!((a.value - 3.75).abs() < 1e-12);
        assert!(a.low < a.value && a.value < a.high, "{a:?}");
        // The normal approximation's half-width is 1.96 * sd / sqrt(n) = 0.71; the bootstrap's is near it.
        assert!(((a.high - a.low) / 2.0 - 0.71).abs() < 0.2, "{a:?}");
        let many: Vec<f64> = few.iter().cycle().take(few.len() * 16).copied().collect();
        let b = mean(&many, 1).unwrap();
        assert!(b.high - b.low < (a.high - a.low) / 2.0, "16x the data, a quarter of the width: {b:?} vs {a:?}");
        assert_eq!(mean(&[], 1), None);
        let same = mean(&[3.0, 3.0, 3.0], 1).unwrap();
        assert_eq!((same.low, same.high), (3.0, 3.0), "no variance, no width");
    }
}
