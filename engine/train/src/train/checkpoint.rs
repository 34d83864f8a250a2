//! Resumable checkpoints: `checkpoints/step-NNNNNNNN/` holds
//! `trainable.safetensors` (the trained parameters by name),
//! `optimizer.safetensors` (AdamW moments) and `state.json` (step, data
//! position, early-stopping state, seed, elapsed time). The directory is
//! written atomically, so a checkpoint is either complete or absent.
//!
//! LoRA parameters are named by their module path
//! (`model.layers.0.self_attn.q_proj.lora_A.weight`); checkpoints written when
//! they were named by PEFT key (`base_model.model.` before that) load too.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::adapter;
use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::weights;
use crate::runs::{RunDir, files};
use crate::train::optimizer::AdamW;

/// Loop state saved with a checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    /// Optimizer steps completed.
    pub step: usize,
    /// Epoch of the next step (0-based).
    pub epoch: usize,
    /// Accumulation window of the next step within its epoch (the data position).
    pub window_in_epoch: usize,
    /// Best validation loss so far.
    pub best_val_loss: Option<f64>,
    /// Step of the best validation loss.
    pub best_step: Option<usize>,
    /// Evaluations since the last improvement.
    pub evals_without_improvement: usize,
    /// Training seed; shuffling and dropout derive from it and the position,
    /// so no generator state needs saving.
    pub seed: u64,
    /// Training seconds so far.
    pub elapsed_s: f64,
    /// Real tokens processed so far.
    pub tokens_seen: usize,
}

impl TrainerState {
    /// The state before the first step of a run with `seed`.
    pub fn fresh(seed: u64) -> Self {
        Self {
            step: 0,
            epoch: 0,
            window_in_epoch: 0,
            best_val_loss: None,
            best_step: None,
            evals_without_improvement: 0,
            seed,
            elapsed_s: 0.0,
            tokens_seen: 0,
        }
    }
}

/// Writes a checkpoint of `model`'s trainable parameters, the optimizer and
/// `state`, then deletes the oldest checkpoints beyond `keep`.
pub fn save(run: &RunDir, model: &Model, opt: &AdamW, state: &TrainerState, keep: usize) -> Result<()> {
    let params: HashMap<String, Tensor> = model.trainable().iter().map(|p| (p.name.clone(), p.var.as_tensor().detach())).collect();
    let dir = run.checkpoint_dir(state.step);
    crate::atomic::write_dir(&dir, |tmp| {
        weights::save_file(&tmp.join(files::CHECKPOINT_PARAMS), &params, None)?;
        weights::save_file(&tmp.join(files::CHECKPOINT_OPTIMIZER), &opt.state_tensors(), None)?;
        crate::atomic::write_json(&tmp.join(files::CHECKPOINT_STATE), state)
    })?;
    let all = run.checkpoints();
    for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
    }
    Ok(())
}

/// Restores parameters and optimizer from checkpoint `dir`; returns its state.
pub fn load(dir: &Path, model: &Model, opt: &mut AdamW) -> Result<TrainerState> {
    let state_path = dir.join(files::CHECKPOINT_STATE);
    let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| Error::run(dir, format!("invalid state.json: {e}")))?;
    let device = model.device().clone();
    let params = current_names(weights::load_file(&dir.join(files::CHECKPOINT_PARAMS), model.dtype(), &device)?);
    model.set_trainable(&params, &dir.join(files::CHECKPOINT_PARAMS))?;
    let moments = current_names(weights::load_file(&dir.join(files::CHECKPOINT_OPTIMIZER), model.dtype(), &device)?);
    opt.load_state(&moments, state.step).map_err(|m| Error::run(dir, m))?;
    Ok(state)
}

/// `tensors` with the names of older checkpoints made current: a parameter
/// saved under its PEFT key, or a moment under `m.` / `v.` and that key, is
/// renamed to the parameter's name; other names are kept.
fn current_names(tensors: HashMap<String, Tensor>) -> HashMap<String, Tensor> {
    let rename =
        |key: &str| ["", "m.", "v."].iter().find_map(|prefix| Some(format!("{prefix}{}", adapter::model_name(key.strip_prefix(prefix)?)?)));
    tensors.into_iter().map(|(k, t)| (rename(&k).unwrap_or(k), t)).collect()
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;
    use crate::model::LoraSpec;
    use crate::train::optimizer::AdamWParams;

    /// A checkpoint whose parameters and moments are keyed by PEFT key (as
    /// written before LoRA parameters were named by module path) restores
    /// every parameter and moment.
    #[test]
    fn loads_checkpoints_with_peft_keyed_names() {
        let cfg = crate::model::presets::tiny_model_config(64);
        let spec = LoraSpec { rank: 2, alpha: 4.0, dropout: 0.0, targets: vec!["q_proj".into(), "down_proj".into()] };
        let random = |t: &Tensor| t.randn_like(0.0, 1.0).unwrap();
        let mut saved = Model::random(cfg.clone(), 1, DType::F64, &Device::Cpu).unwrap();
        saved.add_lora(&spec, 2).unwrap();
        for p in saved.trainable() {
            p.var.set(&random(p.var.as_tensor())).unwrap();
        }
        let hp = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
        let mut opt = AdamW::new(saved.trainable(), hp).unwrap();
        let moments: HashMap<String, Tensor> = opt.state_tensors().into_iter().map(|(k, t)| (k, random(&t))).collect();
        opt.load_state(&moments, 3).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let legacy = |prefix: &str, name: &str| format!("{prefix}base_model.model.{name}");
        let params: HashMap<String, Tensor> = saved.trainable().iter().map(|p| (legacy("", &p.name), p.var.as_tensor().clone())).collect();
        assert!(params.contains_key("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"));
        let old_moments: HashMap<String, Tensor> = moments.iter().map(|(k, t)| (legacy(&k[..2], &k[2..]), t.clone())).collect();
        weights::save_file(&dir.path().join(files::CHECKPOINT_PARAMS), &params, None).unwrap();
        weights::save_file(&dir.path().join(files::CHECKPOINT_OPTIMIZER), &old_moments, None).unwrap();
        crate::atomic::write_json(&dir.path().join(files::CHECKPOINT_STATE), &TrainerState::fresh(5)).unwrap();

        let mut loaded = Model::random(cfg, 1, DType::F64, &Device::Cpu).unwrap();
        loaded.add_lora(&spec, 7).unwrap();
        let mut loaded_opt = AdamW::new(loaded.trainable(), hp).unwrap();
        load(dir.path(), &loaded, &mut loaded_opt).unwrap();
        let same = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap() == 0.0;
        for (p, q) in saved.trainable().iter().zip(loaded.trainable()) {
            assert!(same(p.var.as_tensor(), q.var.as_tensor()), "{}", p.name);
        }
        let restored = loaded_opt.state_tensors();
        assert_eq!(restored.len(), moments.len());
        for (k, t) in &moments {
            assert!(same(t, &restored[k]), "{k}");
        }
    }
}
