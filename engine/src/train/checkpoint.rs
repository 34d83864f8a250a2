//! Resumable checkpoints: `checkpoints/step-NNNNNNNN/` holds
//! `trainable.safetensors` (the trained parameters by name),
//! `optimizer.safetensors` (AdamW moments) and `state.json` (step, data
//! position, early-stopping state, seed, elapsed time). The directory is
//! written atomically, so a checkpoint is either complete or absent.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::Model;
use crate::model::weights;
use crate::runs::RunDir;
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
        weights::save_file(&tmp.join("trainable.safetensors"), &params, None)?;
        weights::save_file(&tmp.join("optimizer.safetensors"), &opt.state_tensors(), None)?;
        crate::atomic::write_json(&tmp.join("state.json"), state)
    })?;
    let all = run.checkpoints();
    for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
        std::fs::remove_dir_all(old).map_err(|e| Error::io(old, e))?;
    }
    Ok(())
}

/// Restores parameters and optimizer from checkpoint `dir`; returns its state.
pub fn load(dir: &Path, model: &Model, opt: &mut AdamW) -> Result<TrainerState> {
    let state_path = dir.join("state.json");
    let text = std::fs::read_to_string(&state_path).map_err(|e| Error::io(&state_path, e))?;
    let state: TrainerState = serde_json::from_str(&text).map_err(|e| Error::run(dir, format!("invalid state.json: {e}")))?;
    let device = model.device().clone();
    let params = weights::load_file(&dir.join("trainable.safetensors"), model.dtype(), &device)?;
    model.set_trainable(&params, &dir.join("trainable.safetensors"))?;
    let moments = weights::load_file(&dir.join("optimizer.safetensors"), model.dtype(), &device)?;
    opt.load_state(&moments, state.step).map_err(|m| Error::run(dir, m))?;
    Ok(state)
}
