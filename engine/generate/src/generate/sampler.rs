//! Choosing the next token from the logits: greedy, or sampling with
//! temperature, top-k, top-p (nucleus) and min-p, after a repetition penalty;
//! in the order transformers' `generate` applies them (penalty, temperature,
//! top-k, top-p, min-p). A seed makes sampling repeat.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How the next token is chosen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// 0 is greedy (the most likely token); otherwise logits are divided by it.
    pub temperature: f64,
    /// Keep only the `top_k` most likely tokens (0: all).
    pub top_k: usize,
    /// Keep the smallest set of most likely tokens whose probability reaches `top_p` (1: all).
    pub top_p: f64,
    /// Drop tokens less likely than `min_p` times the most likely one (0: none).
    pub min_p: f64,
    /// Logits of tokens already in the prompt or the answer are divided by
    /// this when positive, multiplied when negative (1: off), as in transformers.
    pub repetition_penalty: f64,
    /// Seed of the sampling; None draws one.
    pub seed: Option<u64>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self { temperature: 0.0, top_k: 0, top_p: 1.0, min_p: 0.0, repetition_penalty: 1.0, seed: None }
    }
}

impl SamplingParams {
    /// What is wrong with the parameters, naming the field.
    pub fn check(&self) -> Result<(), String> {
        let bad = |field: &str, why: &str| Err(format!("{field} {why}"));
        if !(self.temperature.is_finite() && self.temperature >= 0.0) {
            return bad("temperature", "must be 0 (greedy) or positive");
        }
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return bad("top_p", "must be in (0, 1]");
        }
        if !(0.0..=1.0).contains(&self.min_p) {
            return bad("min_p", "must be in [0, 1]");
        }
        if !(self.repetition_penalty.is_finite() && self.repetition_penalty > 0.0) {
            return bad("repetition_penalty", "must be positive (1 is off)");
        }
        Ok(())
    }
}

/// Picks tokens for one generation.
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
}

impl Sampler {
    /// A sampler with `params` (seeded from `params.seed`, else from the OS).
    pub fn new(params: SamplingParams) -> Self {
        let rng = match params.seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_os_rng(),
        };
        Self { params, rng }
    }

    /// The next token for `logits` (one per vocabulary entry), given the
    /// tokens seen so far (`history`, for the repetition penalty).
    pub fn next(&mut self, logits: &mut [f32], history: &[u32]) -> u32 {
        let p = &self.params;
        if p.repetition_penalty != 1.0 {
            let penalty = p.repetition_penalty as f32;
            let mut seen = std::collections::HashSet::new();
            for &t in history {
                if seen.insert(t)
                    && let Some(z) = logits.get_mut(t as usize)
                {
                    *z = if *z > 0.0 { *z / penalty } else { *z * penalty };
                }
            }
        }
        if p.temperature == 0.0 {
            return argmax(logits);
        }
        let inv_t = (1.0 / p.temperature) as f32;
        let mut ranked: Vec<(u32, f32)> = logits.iter().enumerate().map(|(i, &z)| (i as u32, z * inv_t)).collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
        if p.top_k > 0 {
            ranked.truncate(p.top_k);
        }
        let max = ranked[0].1;
        let mut probs: Vec<f64> = ranked.iter().map(|(_, z)| ((z - max) as f64).exp()).collect();
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|q| *q /= total);
        if p.top_p < 1.0 {
            let mut acc = 0.0;
            let keep = probs.iter().position(|q| {
                acc += q;
                acc >= p.top_p
            });
            let keep = keep.map_or(probs.len(), |i| i + 1);
            probs.truncate(keep);
        }
        if p.min_p > 0.0 {
            let floor = probs[0] * p.min_p;
            let keep = probs.iter().take_while(|q| **q >= floor).count().max(1);
            probs.truncate(keep);
        }
        let total: f64 = probs.iter().sum();
        let mut u = self.rng.random::<f64>() * total;
        for (i, q) in probs.iter().enumerate() {
            u -= q;
            if u <= 0.0 {
                return ranked[i].0;
            }
        }
        ranked[probs.len() - 1].0
    }
}

/// The index of the largest value (the first one on ties).
fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logits() -> Vec<f32> {
        vec![0.5, 3.0, 2.9, -1.0, 1.0, 2.0]
    }

    #[test]
    fn greedy_takes_the_largest_and_the_penalty_can_change_it() {
        let mut s = Sampler::new(SamplingParams::default());
        assert_eq!(s.next(&mut logits(), &[]), 1);
        let mut s = Sampler::new(SamplingParams { repetition_penalty: 2.0, ..Default::default() });
        // 3.0 / 2 = 1.5 falls below 2.9.
        assert_eq!(s.next(&mut logits(), &[1, 1]), 2);
    }

    #[test]
    fn a_seed_repeats_and_filters_bound_the_choices() {
        let params = SamplingParams { temperature: 1.0, seed: Some(7), ..Default::default() };
        let draw = |p: &SamplingParams| {
            let mut s = Sampler::new(p.clone());
            (0..200).map(|_| s.next(&mut logits(), &[])).collect::<Vec<_>>()
        };
        assert_eq!(draw(&params), draw(&params));
        assert!(draw(&params).iter().collect::<std::collections::HashSet<_>>().len() >= 4, "temperature 1 should vary");
        let top2 = draw(&SamplingParams { top_k: 2, ..params.clone() });
        assert!(top2.iter().all(|t| [1, 2].contains(t)));
        // p(1) ~ 0.41 and p(2) ~ 0.37: top-p 0.5 keeps both, 0.3 keeps only the first.
        assert!(draw(&SamplingParams { top_p: 0.3, ..params.clone() }).iter().all(|t| *t == 1));
        let nucleus = draw(&SamplingParams { top_p: 0.5, ..params.clone() });
        assert!(nucleus.contains(&1) && nucleus.contains(&2) && nucleus.iter().all(|t| [1, 2].contains(t)));
        // min-p 0.5: tokens at least half as likely as the best (3.0, 2.9 and 2.0 -> e^-1 = 0.37 < 0.5).
        assert!(draw(&SamplingParams { min_p: 0.5, ..params }).iter().all(|t| [1, 2].contains(t)));
    }

    #[test]
    fn bad_parameters_name_their_field() {
        assert!(SamplingParams { temperature: -1.0, ..Default::default() }.check().unwrap_err().contains("temperature"));
        assert!(SamplingParams { top_p: 0.0, ..Default::default() }.check().unwrap_err().contains("top_p"));
        assert!(SamplingParams { repetition_penalty: 0.0, ..Default::default() }.check().unwrap_err().contains("repetition_penalty"));
        assert!(SamplingParams::default().check().is_ok());
    }
}
