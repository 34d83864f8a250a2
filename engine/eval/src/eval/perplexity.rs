//! Mean token loss and perplexity of a model on a dataset, and a
//! base-versus-adapters comparison table on a held-out file.

use std::path::{Path, PathBuf};

use candle_core::DType;

use super::request::EvalRequest;
use crate::cancel::CancelFlag;
use crate::config::TrainOn;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::model::Model;

/// Mean loss per trained token of `model` on `ds` (no dropout), and the
/// number of trained tokens; [`Error::Cancelled`] once `cancel` is set
/// (checked between batches).
pub fn mean_loss(model: &Model, ds: &Dataset, batch_size: usize, cancel: Option<&CancelFlag>) -> Result<(f64, usize)> {
    let (mut sum, mut count) = (0.0, 0usize);
    for idx in ds.sequential_batches(batch_size.max(1)) {
        if cancel.is_some_and(CancelFlag::is_set) {
            return Err(Error::Cancelled);
        }
        let batch = ds.batch(&idx, model.device())?;
        sum += model.loss_sum(&batch.inputs, &batch.targets, &batch.weights)?;
        count += batch.n_targets;
    }
    Ok((if count == 0 { f64::NAN } else { sum / count as f64 }, count))
}

/// One row of a perplexity table.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EvalRow {
    /// `base`, or the adapter's run/directory name.
    pub name: String,
    /// Where the adapter lives (None for the base model).
    pub adapter: Option<PathBuf>,
    /// Mean token loss.
    pub loss: f64,
    /// exp(loss).
    pub perplexity: f64,
    /// Trained tokens evaluated.
    pub tokens: usize,
}

/// The "vs base" column of each row: the change of perplexity against the
/// first row (the base model) in percent, `-` for the base itself.
pub fn changes_vs_base(rows: &[EvalRow]) -> Vec<String> {
    let base = rows.first().map(|r| r.perplexity);
    rows.iter()
        .map(|r| match base {
            Some(b) if r.adapter.is_some() => format!("{:+.1}%", (r.perplexity / b - 1.0) * 100.0),
            _ => "-".into(),
        })
        .collect()
}

/// Perplexity of the base model and of base + each adapter on the same data;
/// the base weights are loaded once and shared. Each row goes to `on_row` as
/// soon as it is computed; the finished table is also kept with the runs its
/// adapters belong to (see [`super::saved`]). Stops with
/// [`Error::Cancelled`] once `cancel` is set.
pub fn compare(req: &EvalRequest, cancel: &CancelFlag, mut on_row: impl FnMut(&EvalRow)) -> Result<Vec<EvalRow>> {
    let device = crate::device::open(&req.device)?;
    let base = match req.quantization {
        Some(q) if device.is_cpu() => Model::load_quantized(&req.model_dir, q)?,
        Some(q) => return Err(Error::Other(format!("{q} weights are computed on the CPU; evaluate them with --device cpu"))),
        None => Model::load(&req.model_dir, DType::F32, &device)?,
    };
    let suffix = req.quantization.map(|q| format!(" [{q}]")).unwrap_or_default();
    let chat = crate::chat::ChatFormat::load(&req.model_dir, &base.config, &req.chat_template)?;
    let ds = Dataset::from_file(&req.data_file, &chat, req.max_seq_len, TrainOn::Assistant, false)?;
    let mut rows = Vec::new();
    let mut push = |name: String, adapter: Option<PathBuf>, model: &Model| -> Result<()> {
        let (loss, tokens) = mean_loss(model, &ds, req.batch_size, Some(cancel))?;
        let row = EvalRow { name, adapter, loss, perplexity: loss.exp(), tokens };
        on_row(&row);
        rows.push(row);
        Ok(())
    };
    push(format!("base{suffix}"), None, &base)?;
    for dir in &req.adapters {
        let mut model = base.clone();
        crate::adapter::load_into(&mut model, dir)?;
        push(format!("{}{suffix}", adapter_name(dir)), Some(dir.clone()), &model)?;
    }
    super::saved::save_with_runs(&req.data_file, &rows)?;
    Ok(rows)
}

/// A readable name for an adapter directory: its run's name when it is a
/// run's `adapter/` folder.
fn adapter_name(dir: &Path) -> String {
    let last = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    match (last.as_str(), dir.parent().and_then(|p| p.file_name())) {
        ("adapter", Some(run)) => run.to_string_lossy().into_owned(),
        _ => last,
    }
}
