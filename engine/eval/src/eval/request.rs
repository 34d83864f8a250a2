//! What to evaluate, built one way for every front end.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::runs::RunDir;

/// What to evaluate: a base model and adapters on one held-out file.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalRequest {
    /// Base model directory.
    pub model_dir: PathBuf,
    /// Adapter directories to compare with the base (PEFT layout).
    pub adapters: Vec<PathBuf>,
    /// Held-out JSONL file.
    pub data_file: PathBuf,
    /// Truncation length.
    pub max_seq_len: usize,
    /// Examples per forward pass.
    pub batch_size: usize,
    /// Device name.
    pub device: String,
    /// The chat template (`data.chat_template`: `model`, `mistral` or a file).
    pub chat_template: String,
    /// Quantize the weights for inference first (the perplexity cost of 8- or 4-bit serving).
    pub quantization: Option<crate::model::decoder::quantize::Quantization>,
}

impl EvalRequest {
    /// Examples per forward pass unless the caller says otherwise.
    pub const DEFAULT_BATCH_SIZE: usize = 16;
    /// Truncation length for a bare model (runs use their config's).
    pub const DEFAULT_MAX_SEQ_LEN: usize = 256;

    /// The base model alone on `data_file`, on the CPU, with the default length and batch.
    pub fn new(model_dir: PathBuf, data_file: PathBuf) -> Self {
        Self {
            model_dir,
            adapters: Vec::new(),
            data_file,
            max_seq_len: Self::DEFAULT_MAX_SEQ_LEN,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            device: "cpu".into(),
            chat_template: "model".into(),
            quantization: None,
        }
    }

    /// The base model of `runs` against each run's adapter: base model, held-out
    /// file (`data.test_file`, unless `data_file` is given), truncation length,
    /// device and chat template come from the first run's config. Every run must share that base
    /// model and have saved an adapter; the error names the run that does not.
    pub fn for_runs(runs: &[PathBuf], data_file: Option<PathBuf>) -> Result<Self> {
        let first = runs.first().ok_or_else(|| Error::Other("choose at least one run to evaluate".into()))?;
        let cfg = RunDir::open(first)?.config()?;
        let data_file = match data_file.or(cfg.data.test_file.clone()) {
            Some(f) => f,
            None => return Err(Error::run(first, "its config has no data.test_file; choose a held-out file")),
        };
        let mut req = Self::new(cfg.model.path.clone(), data_file);
        req.max_seq_len = cfg.data.max_seq_len;
        req.device = cfg.model.device.clone();
        req.chat_template = cfg.data.chat_template.clone();
        for dir in runs {
            req.adapters.push(run_adapter(dir, &cfg.model.path)?);
        }
        Ok(req)
    }
}

/// The adapter of the run in `dir`, which must be a LoRA run of `base`.
fn run_adapter(dir: &Path, base: &Path) -> Result<PathBuf> {
    let run = RunDir::open(dir)?;
    let model = run.config()?.model.path;
    if model != base {
        return Err(Error::run(
            dir,
            format!("its base model is {}, not {}; evaluate runs of one base model together", model.display(), base.display()),
        ));
    }
    let adapter = run.adapter_dir();
    if !adapter.is_dir() {
        return Err(Error::run(dir, "it has no adapter yet (a run saves one at its first evaluation); untick it or wait"));
    }
    Ok(adapter)
}
