//! Ranking models from pairwise verdicts, as Chatbot Arena does: Bradley-Terry
//! strengths (the maximum a-posteriori estimate by minorization-maximization,
//! exactly as the choix package's `mm_pairwise`; a tie counts half a win for
//! each side), their bootstrap intervals, and the Elo scale the Arena shows
//! them on.

use serde::{Deserialize, Serialize};

use super::bootstrap::{Estimate, RESAMPLES, bootstrap};

/// One verdict between two models.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Duel {
    /// The two models (indices).
    pub models: [usize; 2],
    /// The first model's score: 1 a win, 0.5 a tie, 0 a loss.
    pub first_score: f64,
}

/// The prior's weight (choix's `alpha`): pseudo-counts that keep a model
/// which never lost (or never won) at a finite strength.
pub const PRIOR: f64 = 0.1;

/// Bradley-Terry strengths of `models` models from `duels` (natural log
/// scale, mean zero; model i beats j with probability 1 / (1 + e^(s_j - s_i))).
/// `None` without duels, or if the iteration does not converge.
pub fn bradley_terry(models: usize, duels: &[Duel], prior: f64) -> Option<Vec<f64>> {
    if duels.is_empty() || models == 0 {
        return None;
    }
    let mut params = vec![0.0f64; models];
    for _ in 0..10_000 {
        // Weights summing to the number of models, as choix's exp_transform
        // (with a prior, the scale matters).
        let mut weights: Vec<f64> = params.iter().map(|p| p.exp()).collect();
        let scale = models as f64 / weights.iter().sum::<f64>();
        weights.iter_mut().for_each(|w| *w *= scale);
        let (mut wins, mut denoms) = (vec![0.0f64; models], vec![0.0f64; models]);
        for d in duels {
            let [i, j] = d.models;
            wins[i] += d.first_score;
            wins[j] += 1.0 - d.first_score;
            let v = 1.0 / (weights[i] + weights[j]);
            denoms[i] += v;
            denoms[j] += v;
        }
        let mut next: Vec<f64> = wins.iter().zip(&denoms).map(|(w, d)| ((w + prior) / (d + prior)).ln()).collect();
        if next.iter().any(|p| !p.is_finite()) {
            return None;
        }
        let centre = next.iter().sum::<f64>() / models as f64;
        next.iter_mut().for_each(|p| *p -= centre);
        let change: f64 = next.iter().zip(&params).map(|(a, b)| (a - b).abs()).sum();
        params = next;
        if change < 1e-8 {
            return Some(params);
        }
    }
    None
}

/// A strength on the Elo scale (1000 for the average model; 400 points mean
/// ten-to-one odds), as Chatbot Arena reports Bradley-Terry fits.
pub fn elo(strength: f64) -> f64 {
    1000.0 + 400.0 * strength / std::f64::consts::LN_10
}

/// Bradley-Terry strengths with 95% bootstrap intervals (verdicts resampled).
pub fn strengths(models: usize, duels: &[Duel], seed: u64) -> Option<Vec<Estimate>> {
    bootstrap(duels, RESAMPLES, seed, |d| bradley_terry(models, d, PRIOR))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn strengths_equal_choix() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/human_eval_stats.json");
        let f: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let cases = f["bradley_terry"].as_array().unwrap();
        assert!(!cases.is_empty());
        for case in cases {
            let models = case["models"].as_u64().unwrap() as usize;
            let duels: Vec<Duel> = case["duels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| Duel {
                    models: [d[0].as_u64().unwrap() as usize, d[1].as_u64().unwrap() as usize],
                    first_score: d[2].as_f64().unwrap(),
                })
                .collect();
            let got = bradley_terry(models, &duels, case["prior"].as_f64().unwrap()).unwrap();
            for (g, want) in got.iter().zip(case["params"].as_array().unwrap()) {
                assert!((g - want.as_f64().unwrap()).abs() < 1e-6, "{got:?} vs {}", case["params"]);
            }
        }
    }

    #[test]
    fn the_better_model_ranks_higher_with_an_interval_and_a_clean_sweep_stays_finite() {
        let mut duels = vec![Duel { models: [0, 1], first_score: 0.0 }; 12];
        duels.extend([Duel { models: [0, 1], first_score: 1.0 }; 4]);
        duels.extend([Duel { models: [0, 1], first_score: 0.5 }; 2]);
        let s = strengths(2, &duels, 3).unwrap();
        assert!(s[1].value > s[0].value && (s[0].value + s[1].value).abs() < 1e-9, "{s:?}");
        assert!(s[1].low < s[1].value && s[1].value < s[1].high, "{s:?}");
        assert!(elo(s[1].value) > 1000.0 && elo(s[0].value) < 1000.0);
        // 13 of 18 points: the fitted odds are about 13:5.
        let p = 1.0 / (1.0 + (s[0].value - s[1].value).exp());
        assert!((p - 13.0 / 18.0).abs() < 0.02, "{p}");
        let sweep = bradley_terry(2, &[Duel { models: [0, 1], first_score: 1.0 }; 5], PRIOR).unwrap();
        assert!(sweep[0].is_finite() && sweep[0] > 1.0, "{sweep:?}");
        assert_eq!(bradley_terry(2, &[], PRIOR), None);
        assert_eq!(bradley_terry(2, &[Duel { models: [0, 1], first_score: 1.0 }], 0.0), None, "no prior: the loser's strength is -inf");
    }
}
