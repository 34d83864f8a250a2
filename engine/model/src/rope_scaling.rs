//! RoPE variants of Hugging Face configs: the default frequencies, `linear`
//! position interpolation, Llama 3's frequency-dependent scaling and
//! Phi-3's `longrope`, as transformers' `modeling_rope_utils` computes them.

use serde_json::Value;

/// How the rotary frequencies are scaled.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// `1 / theta^(2i / d)`.
    Default,
    /// Every frequency divided by `factor` (position interpolation).
    Linear {
        /// The divisor.
        factor: f64,
    },
    /// Llama 3.1: low frequencies divided by `factor`, high ones kept, the
    /// band between them interpolated.
    Llama3 {
        /// Divisor of the low frequencies (8 in Llama 3.1).
        factor: f64,
        /// Wavelengths above `original / low_freq_factor` are scaled.
        low_freq_factor: f64,
        /// Wavelengths below `original / high_freq_factor` are kept.
        high_freq_factor: f64,
        /// The context length the model was pretrained with.
        original_max_position_embeddings: f64,
    },
    /// Phi-3 / Phi-4-mini long-context models: each frequency divided by its
    /// own factor, and cosines and sines scaled by an attention factor. The
    /// `short_factor`s apply while a pass stays within the pretraining
    /// context; a pass reaching beyond it rotates all its positions by the
    /// `long_factor`s (transformers' dynamic switch).
    LongRope {
        /// Per-frequency divisors within the pretraining context.
        short_factor: Vec<f64>,
        /// Per-frequency divisors beyond it.
        long_factor: Vec<f64>,
        /// The cosine and sine factor, when the config gives it.
        attention_factor: Option<f64>,
        /// The context extension its default derives from, when given (else
        /// `max_position_embeddings` over the pretraining context).
        factor: Option<f64>,
        /// The pretraining context, when given here (else in the config's top level).
        original_max_position_embeddings: Option<f64>,
    },
}

impl RopeScaling {
    /// Reads `rope_scaling` or `rope_parameters` (named by `field` in errors).
    pub fn parse(v: &Value, field: &str) -> Result<Self, String> {
        let kind = v.get("rope_type").or_else(|| v.get("type")).and_then(Value::as_str).unwrap_or("default");
        let num = |key: &str| {
            v.get(key)
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("{field}.{key} is missing or not a number (rope_type {kind:?} needs it)"))
        };
        match kind {
            "default" => Ok(Self::Default),
            "linear" => Ok(Self::Linear { factor: num("factor")? }),
            "llama3" => {
                let s = Self::Llama3 {
                    factor: num("factor")?,
                    low_freq_factor: num("low_freq_factor")?,
                    high_freq_factor: num("high_freq_factor")?,
                    original_max_position_embeddings: num("original_max_position_embeddings")?,
                };
                match s {
                    Self::Llama3 { low_freq_factor: l, high_freq_factor: h, .. } if h <= l => {
                        Err(format!("{field}: high_freq_factor ({h}) must exceed low_freq_factor ({l})"))
                    }
                    s => Ok(s),
                }
            }
            "longrope" => {
                let list = |key: &str| {
                    v.get(key)
                        .and_then(Value::as_array)
                        .and_then(|a| a.iter().map(Value::as_f64).collect::<Option<Vec<f64>>>())
                        .ok_or_else(|| format!("{field}.{key} is missing or not a list of numbers (rope_type \"longrope\" needs it)"))
                };
                Ok(Self::LongRope {
                    short_factor: list("short_factor")?,
                    long_factor: list("long_factor")?,
                    attention_factor: v.get("attention_factor").and_then(Value::as_f64),
                    factor: v.get("factor").and_then(Value::as_f64),
                    original_max_position_embeddings: v.get("original_max_position_embeddings").and_then(Value::as_f64),
                })
            }
            other => Err(format!("{field}.rope_type {other:?} is not supported yet (supported: default, linear, llama3, longrope)")),
        }
    }

    /// The `rotary_dim / 2` inverse frequencies for RoPE base `theta` (under
    /// `longrope`, the short factors').
    pub fn inv_freq(&self, rotary_dim: usize, theta: f64) -> Vec<f32> {
        let base = default_inv_freq(rotary_dim, theta);
        match *self {
            Self::LongRope { ref short_factor, .. } => base.zip(short_factor).map(|(f, s)| (f / s) as f32).collect(),
            Self::Default => base.map(|f| f as f32).collect(),
            Self::Linear { factor } => base.map(|f| (f / factor) as f32).collect(),
            Self::Llama3 { factor, low_freq_factor, high_freq_factor, original_max_position_embeddings: old } => base
                .map(|f| {
                    let wavelen = 2.0 * std::f64::consts::PI / f;
                    if wavelen < old / high_freq_factor {
                        f
                    } else if wavelen > old / low_freq_factor {
                        f / factor
                    } else {
                        let smooth = (old / wavelen - low_freq_factor) / (high_freq_factor - low_freq_factor);
                        (1.0 - smooth) * f / factor + smooth * f
                    }
                })
                .map(|f| f as f32)
                .collect(),
        }
    }

    /// `longrope`'s inverse frequencies beyond the pretraining context (the
    /// long factors'); None for the other kinds.
    pub fn long_inv_freq(&self, rotary_dim: usize, theta: f64) -> Option<Vec<f32>> {
        let Self::LongRope { long_factor, .. } = self else { return None };
        Some(default_inv_freq(rotary_dim, theta).zip(long_factor).map(|(f, l)| (f / l) as f32).collect())
    }
}

/// `1 / theta^(2i / d)` for each of the `rotary_dim / 2` frequencies.
fn default_inv_freq(rotary_dim: usize, theta: f64) -> impl Iterator<Item = f64> {
    (0..rotary_dim / 2).map(move |i| 1.0 / theta.powf(2.0 * i as f64 / rotary_dim as f64))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn llama3_scales_low_frequencies_keeps_high_and_interpolates_between() {
        let v = json!({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 64});
        let s = RopeScaling::parse(&v, "rope_scaling").unwrap();
        let plain = RopeScaling::Default.inv_freq(8, 10_000.0);
        let scaled = s.inv_freq(8, 10_000.0);
        // Wavelengths 6.3 (< 16: kept), 62.8 (between 16 and 64: interpolated), 628 and 6283 (> 64: / 8).
        assert_eq!(scaled[0], plain[0]);
        let smooth = (64.0 / (2.0 * std::f64::consts::PI / plain[1] as f64) - 1.0) / 3.0;
        let want = (1.0 - smooth) * plain[1] as f64 / 8.0 + smooth * plain[1] as f64;
        assert!((scaled[1] as f64 - want).abs() < 1e-7 && scaled[1] < plain[1] && scaled[1] > plain[1] / 8.0);
        assert_eq!(scaled[2], plain[2] / 8.0);
        assert_eq!(scaled[3], plain[3] / 8.0);
        let linear = RopeScaling::parse(&json!({"type": "linear", "factor": 2.0}), "rope_scaling").unwrap();
        assert_eq!(linear.inv_freq(8, 10_000.0)[1], plain[1] / 2.0);
    }

    #[test]
    fn unsupported_or_incomplete_scaling_names_the_field() {
        let err = RopeScaling::parse(&json!({"rope_type": "yarn", "factor": 4.0}), "rope_parameters").unwrap_err();
        assert!(err.contains("rope_parameters.rope_type \"yarn\""), "{err}");
        let err = RopeScaling::parse(&json!({"rope_type": "llama3", "factor": 8.0}), "rope_scaling").unwrap_err();
        assert!(err.contains("rope_scaling.low_freq_factor"), "{err}");
        let err = RopeScaling::parse(&json!({"type": "longrope", "short_factor": [1.0]}), "rope_scaling").unwrap_err();
        assert!(err.contains("rope_scaling.long_factor"), "{err}");
    }

    #[test]
    fn longrope_divides_each_frequency_by_its_short_or_long_factor() {
        let v = json!({"type": "longrope", "short_factor": [1.0, 2.0], "long_factor": [3.0, 4.0]});
        let s = RopeScaling::parse(&v, "rope_scaling").unwrap();
        let plain = RopeScaling::Default.inv_freq(4, 10_000.0);
        assert_eq!(s.inv_freq(4, 10_000.0), vec![plain[0], plain[1] / 2.0]);
        assert_eq!(s.long_inv_freq(4, 10_000.0), Some(vec![plain[0] / 3.0, plain[1] / 4.0]));
        assert_eq!(RopeScaling::Default.long_inv_freq(4, 10_000.0), None);
    }
}
