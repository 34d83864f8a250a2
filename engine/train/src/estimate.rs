//! Memory estimate before launch: weights, gradients, optimizer state and
//! activations (with and without gradient checkpointing) for a config, the
//! budget of the device, and advice that keeps the effective batch when the
//! run will not fit (e.g. batch 32 x accum 4 -> batch 16 x accum 8).
//!
//! The activation model counts the tensors this engine's autograd keeps per
//! token and layer (`model::decoder::memory`), in bytes of f32; `docs/BENCHMARKS.md`
//! compares it with measured peak memory.

use serde::Serialize;

use crate::config::{Precision, TrainConfig, TrainMode};
use crate::model::ModelConfig;
use crate::model::decoder::memory::{Training, head_floats, layer_floats_per_token};

/// Bytes per f32 value.
const F32: u64 = 4;
/// Fixed overhead of the process (runtime, data, allocator slack).
const PROCESS_OVERHEAD: u64 = 34 << 20;
/// Overhead per vocabulary entry: the tokenizer's vocabulary and merge tables
/// (measured: 60 MiB more than the sample model's for SmolLM2's 49,152 tokens).
const PER_VOCAB_ENTRY: u64 = 1280;
/// Measured activation memory over the counted tensors (with the fused CPU
/// kernels the autograd keeps about what is counted below).
/// Calibrated with `bench/memory_calibration.sh` (docs/BENCHMARKS.md).
const ACTIVATION_SCALE: f64 = 1.04;
/// The same for gradient checkpointing.
const CHECKPOINTED_SCALE: f64 = 1.25;
/// The bf16 packing raises the measured peak by 1.2x its own size (SmolLM2,
/// `bench/memory_calibration.sh`: allocator slack around the per-weight packing).
const PACKED_SCALE_PERCENT: u64 = 120;

/// The estimate for one config.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Estimate {
    /// All model parameters.
    pub parameters: u64,
    /// Parameters the optimizer updates.
    pub trainable: u64,
    /// Model weights (with their bf16 packing when a LoRA run on this CPU
    /// trains in bf16 on AMX).
    pub weights_bytes: u64,
    /// Gradients: trainable parameters, plus (off the CPU, or in full
    /// fine-tuning) the frozen weights' gradients that the autograd computes
    /// transiently (one layer at a time with gradient checkpointing).
    pub gradients_bytes: u64,
    /// AdamW moments (two per trainable parameter).
    pub optimizer_bytes: u64,
    /// Activations kept for the backward pass, without checkpointing.
    pub activations_bytes: u64,
    /// Activations with gradient checkpointing.
    pub activations_checkpointed_bytes: u64,
    /// Total for the config as set (its gradient checkpointing choice).
    pub total_bytes: u64,
    /// Full fine-tuning rule of thumb: 24 bytes per parameter, before activations.
    pub rule_of_thumb_full_bytes: u64,
    /// Memory available (device memory or `run.memory_limit_gb`).
    pub budget_bytes: Option<u64>,
    /// Whether `total_bytes` fits the budget (true when there is no budget).
    pub fits: bool,
    /// Changes that make it fit, best first (empty when it fits).
    pub advice: Vec<Advice>,
}

/// A change to the config that brings the estimate under budget.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Advice {
    /// Human-readable suggestion.
    pub message: String,
    /// Suggested per-device batch.
    pub batch_size: usize,
    /// Suggested accumulation.
    pub grad_accum: usize,
    /// Suggested gradient checkpointing.
    pub gradient_checkpointing: bool,
    /// Suggested maximum sequence length.
    pub max_seq_len: usize,
    /// Estimated total with the change.
    pub total_bytes: u64,
}

impl Advice {
    /// Applies the suggestion to a config.
    pub fn apply(&self, cfg: &mut TrainConfig) {
        cfg.training.batch_size = self.batch_size;
        cfg.training.grad_accum = self.grad_accum;
        cfg.training.gradient_checkpointing = self.gradient_checkpointing;
        cfg.data.max_seq_len = self.max_seq_len;
    }
}

/// Estimates memory for `cfg` on a model of architecture `m`, against
/// `budget` bytes (None: unknown).
pub fn estimate(cfg: &TrainConfig, m: &ModelConfig, budget: Option<u64>) -> Estimate {
    let mut e = estimate_only(cfg, m);
    e.budget_bytes = budget;
    e.fits = budget.is_none_or(|b| e.total_bytes <= b);
    if !e.fits {
        e.advice = advise(cfg, m, budget.unwrap_or(u64::MAX));
    }
    e
}

fn estimate_only(cfg: &TrainConfig, m: &ModelConfig) -> Estimate {
    let params = m.num_parameters() as u64;
    let trainable = match cfg.training.mode {
        TrainMode::Full => params,
        TrainMode::Lora => m.lora_parameters(&cfg.lora.resolved_targets(), cfg.lora.rank) as u64,
    };
    let seq = cfg.data.max_seq_len;
    let tokens = (cfg.training.batch_size * seq) as u64;
    let layers = m.num_hidden_layers as u64;
    let targets = cfg.lora.resolved_targets();
    let lora = (cfg.training.mode == TrainMode::Lora).then_some((&targets[..], cfg.lora.rank, cfg.lora.dropout > 0.0));
    let training = Training { cpu: cfg.model.device == "cpu", lora };
    let per_layer = layer_floats_per_token(m, &training, seq) * tokens * F32;
    let head = head_floats(m, &training, tokens) * F32;
    let activations = ((per_layer * layers + head) as f64 * ACTIVATION_SCALE) as u64;
    let checkpointed = (((m.hidden_size as u64 * tokens * F32) * (layers + 2) + per_layer + head) as f64 * CHECKPOINTED_SCALE) as u64;
    let frozen_grads = params - trainable;
    let largest_layer_weights = (m.num_parameters() as u64 - 2 * (m.vocab_size * m.hidden_size) as u64) / layers.max(1);
    let head_weights = (m.vocab_size * m.hidden_size) as u64;
    // On the CPU a LoRA fine-tune never computes the frozen weights' gradients (the fused layers and head).
    let fused_cpu = cfg.model.device == "cpu" && cfg.training.mode == TrainMode::Lora;
    let gradients = if fused_cpu {
        trainable * F32
    } else if cfg.training.gradient_checkpointing {
        trainable * F32 + (largest_layer_weights + head_weights).min(frozen_grads) * F32
    } else {
        params * F32
    };
    // bf16 training packs every frozen projection and the output layer twice in bf16 (one f32's worth),
    // where this CPU has AMX (elsewhere the run trains in f32).
    let packed = if fused_cpu && cfg.training.precision == Precision::Bf16 && crate::device::cpu_has_amx() {
        (m.projection_weights_per_layer() as u64 * layers + head_weights) * F32 * PACKED_SCALE_PERCENT / 100
    } else {
        0
    };
    let weights = params * F32 + packed;
    let optimizer = 2 * trainable * F32;
    let act = if cfg.training.gradient_checkpointing { checkpointed } else { activations };
    Estimate {
        parameters: params,
        trainable,
        weights_bytes: weights,
        gradients_bytes: gradients,
        optimizer_bytes: optimizer,
        activations_bytes: activations,
        activations_checkpointed_bytes: checkpointed,
        total_bytes: weights + gradients + optimizer + act + PROCESS_OVERHEAD + PER_VOCAB_ENTRY * m.vocab_size as u64,
        rule_of_thumb_full_bytes: 24 * params,
        budget_bytes: None,
        fits: true,
        advice: Vec::new(),
    }
}

/// Options that fit, best first: keep the effective batch by trading batch
/// for accumulation; then add gradient checkpointing; then shorten sequences.
fn advise(cfg: &TrainConfig, m: &ModelConfig, budget: u64) -> Vec<Advice> {
    let t = &cfg.training;
    let effective = t.effective_batch();
    let mut out: Vec<Advice> = Vec::new();
    let consider = |batch: usize, ckpt: bool, seq: usize, out: &mut Vec<Advice>| {
        let mut c = cfg.clone();
        c.training.batch_size = batch;
        c.training.grad_accum = (effective / batch).max(1);
        c.training.gradient_checkpointing = ckpt;
        c.data.max_seq_len = seq;
        let total = estimate_only(&c, m).total_bytes;
        if total > budget {
            return false;
        }
        let mut parts = Vec::new();
        if batch != t.batch_size {
            parts.push(format!(
                "batch {} x accum {} -> batch {batch} x accum {} (keeps the effective batch of {effective})",
                t.batch_size, t.grad_accum, c.training.grad_accum
            ));
        }
        if ckpt && !t.gradient_checkpointing {
            parts.push("enable gradient checkpointing".into());
        }
        if seq != cfg.data.max_seq_len {
            parts.push(format!("max_seq_len {} -> {seq}", cfg.data.max_seq_len));
        }
        out.push(Advice {
            message: format!("{} (estimated {})", parts.join(", "), human_bytes(total)),
            batch_size: batch,
            grad_accum: c.training.grad_accum,
            gradient_checkpointing: ckpt,
            max_seq_len: seq,
            total_bytes: total,
        });
        true
    };
    let halvings: Vec<usize> =
        std::iter::successors(Some(t.batch_size), |b| (*b > 1).then_some(b / 2)).filter(|b| effective.is_multiple_of(*b)).collect();
    let modes = if t.gradient_checkpointing { vec![true] } else { vec![false, true] };
    for ckpt in modes {
        for &b in &halvings {
            let unchanged = b == t.batch_size && ckpt == t.gradient_checkpointing;
            if !unchanged && consider(b, ckpt, cfg.data.max_seq_len, &mut out) {
                break;
            }
        }
    }
    if out.is_empty() {
        let mut seq = cfg.data.max_seq_len / 2;
        while seq >= 64 {
            if consider(1, true, seq, &mut out) {
                break;
            }
            seq /= 2;
        }
    }
    out.sort_by_key(|a| {
        (a.max_seq_len != cfg.data.max_seq_len, a.gradient_checkpointing != t.gradient_checkpointing, std::cmp::Reverse(a.batch_size))
    });
    out
}

/// `1.23 GiB`-style size.
pub fn human_bytes(b: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.2} {}", units[u])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mistral_7b() -> ModelConfig {
        serde_json::from_str(r#"{"vocab_size":32000,"hidden_size":4096,"intermediate_size":14336,"num_hidden_layers":32,"num_attention_heads":32,"num_key_value_heads":8,"max_position_embeddings":32768}"#).unwrap()
    }

    fn story_a() -> TrainConfig {
        let mut c = TrainConfig::from_toml("[model]\npath='m'\n[data]\ntrain_file='t'\n").unwrap();
        c.lora.rank = 64;
        c.lora.alpha = 128.0;
        c.training.batch_size = 32;
        c.training.grad_accum = 4;
        c.data.max_seq_len = 4096;
        c
    }

    #[test]
    fn counts_mistral_7b_parameters_and_lora_r64() {
        let e = estimate(&story_a(), &mistral_7b(), None);
        assert_eq!(e.parameters, 7_241_732_096);
        assert_eq!(e.trainable, 167_772_160);
        assert_eq!(e.rule_of_thumb_full_bytes, 24 * 7_241_732_096);
    }

    /// bf16 on a CPU with AMX adds the packed frozen weights: every projection
    /// and the output layer, 2 x 2 bytes per value (with the measured slack);
    /// nothing on a CPU without AMX (the run trains in f32) or on a GPU.
    #[test]
    fn bf16_adds_the_packed_frozen_weights_on_the_cpu() {
        let m = mistral_7b();
        let mut cfg = story_a();
        let f32_weights = estimate(&cfg, &m, None).weights_bytes;
        cfg.training.precision = Precision::Bf16;
        let embeddings = 2 * 32_000 * 4096u64;
        let packed = 4 * (7_241_732_096 - embeddings - 65 * 4096 + 32_000 * 4096);
        let expected = if crate::device::cpu_has_amx() { packed * 120 / 100 } else { 0 };
        assert_eq!(estimate(&cfg, &m, None).weights_bytes - f32_weights, expected);
        cfg.model.device = "cuda:0".into();
        assert_eq!(estimate(&cfg, &m, None).weights_bytes, f32_weights);
    }

    #[test]
    fn checkpointing_saves_activation_memory() {
        let e = estimate(&story_a(), &mistral_7b(), None);
        assert!(e.activations_checkpointed_bytes * 3 < e.activations_bytes);
    }

    #[test]
    fn advice_halves_batch_and_doubles_accumulation_first() {
        let cfg = story_a();
        let m = mistral_7b();
        let full = estimate(&cfg, &m, None).total_bytes;
        let mut half = cfg.clone();
        half.training.batch_size = 16;
        half.training.grad_accum = 8;
        let needed = estimate(&half, &m, None).total_bytes;
        let e = estimate(&cfg, &m, Some((needed + full) / 2));
        assert!(!e.fits);
        let first = &e.advice[0];
        assert_eq!((first.batch_size, first.grad_accum, first.gradient_checkpointing), (16, 8, false));
        assert!(first.message.contains("batch 32 x accum 4 -> batch 16 x accum 8"), "{}", first.message);
        let mut applied = cfg.clone();
        first.apply(&mut applied);
        assert_eq!(applied.training.effective_batch(), 128);
    }
}
