//! Merging a LoRA adapter into its base model: a full Hugging Face model
//! directory whose weights are `W + (alpha / r) * B A` for every adapted
//! projection, which transformers (and vLLM without `--enable-lora`) load as
//! a plain model.

use std::path::{Path, PathBuf};

use candle_core::{DType, Device};

use super::Model;
use crate::error::Result;

/// What to merge: an adapter, the base model it was trained on, and the folder to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeRequest {
    /// The base model directory.
    pub base: PathBuf,
    /// The adapter directory (PEFT layout).
    pub adapter: PathBuf,
    /// The merged model directory to write (atomically).
    pub out: PathBuf,
}

impl MergeRequest {
    /// The adapter of the run in `run_dir` into its base model, written to the run's `merged/` folder.
    pub fn for_run(run_dir: &Path) -> Result<Self> {
        let run = crate::runs::RunDir::open(run_dir)?;
        let adapter = run.adapter_dir();
        if !adapter.is_dir() {
            return Err(crate::error::Error::run(run_dir, "it has no adapter yet (a run saves one at its first evaluation)"));
        }
        Ok(Self { base: run.config()?.model.path, adapter, out: run.path.join(crate::runs::files::MERGED) })
    }

    /// Loads the base model (f32, CPU), attaches the adapter, folds it into
    /// the weights and writes the merged model to `out` (atomically; tokenizer
    /// files and chat template come along); returns the folder written.
    /// `Job::Merge` runs this. Once `cancel` is set it stops before writing
    /// anything ([`crate::error::Error::Cancelled`]).
    pub fn run(&self, cancel: &crate::cancel::CancelFlag) -> Result<PathBuf> {
        let mut model = merged(&self.base, &self.adapter)?;
        if cancel.is_set() {
            return Err(crate::error::Error::Cancelled);
        }
        super::save_model_dir(&mut model, &self.base, &self.out)?;
        Ok(self.out.clone())
    }
}

/// The base model in `base_dir` (f32, CPU) with the adapter in `adapter_dir`
/// folded into its weights, in memory (for a GGUF export, say).
pub fn merged(base_dir: &Path, adapter_dir: &Path) -> Result<Model> {
    let mut model = Model::load(base_dir, DType::F32, &Device::Cpu)?;
    crate::adapter::load_into(&mut model, adapter_dir)?;
    model.merge_lora()?;
    Ok(model)
}

#[cfg(test)]
mod tests {
    use candle_core::Tensor;

    use super::*;
    use crate::model::{LoraSpec, Pass};

    #[test]
    fn a_merged_model_computes_base_plus_adapter() {
        let dir = tempfile::tempdir().unwrap();
        let (base_dir, adapter_dir, out) = (dir.path().join("base"), dir.path().join("adapter"), dir.path().join("merged"));
        let cfg = crate::sample_build::tiny_model_config(64);
        let mut base = Model::random(cfg, 3, DType::F32, &Device::Cpu).unwrap();
        std::fs::create_dir_all(&base_dir).unwrap();
        crate::atomic::write_json(&base_dir.join("config.json"), &base.config).unwrap();
        crate::model::weights::save_file(&base_dir.join("model.safetensors"), &base.hf_tensors().unwrap(), None).unwrap();
        std::fs::write(base_dir.join("tokenizer.json"), "{}").unwrap();
        std::fs::write(base_dir.join("tokenizer_config.json"), r#"{"chat_template": "{{ messages }}"}"#).unwrap();

        let targets = crate::config::LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
        let spec = LoraSpec { rank: 4, alpha: 8.0, dropout: 0.1, targets };
        base.add_lora(&spec, 5).unwrap();
        for p in base.trainable() {
            p.var.set(&p.var.as_tensor().randn_like(0.0, 0.2).unwrap()).unwrap();
        }
        crate::adapter::save(&base, &spec, &base_dir, &adapter_dir).unwrap();
        let request = MergeRequest { base: base_dir.clone(), adapter: adapter_dir.clone(), out: out.clone() };
        assert_eq!(request.run(&crate::cancel::CancelFlag::new()).unwrap(), out);

        let ids = Tensor::new(&[[1u32, 5, 9, 2, 33, 7]], &Device::Cpu).unwrap();
        let with_adapter = base.forward(&ids, Pass::Eval).unwrap();
        let merged = Model::load(&out, DType::F32, &Device::Cpu).unwrap().forward(&ids, Pass::Eval).unwrap();
        let d = crate::model::testing::max_diff(&with_adapter, &merged);
        assert!(d < 1e-4, "merged logits differ from base + adapter by {d}");
        let plain = Model::load(&base_dir, DType::F32, &Device::Cpu).unwrap().forward(&ids, Pass::Eval).unwrap();
        assert!(crate::model::testing::max_diff(&plain, &merged) > 1e-3, "the adapter changed nothing: the test cannot tell");
        assert!(out.join("tokenizer_config.json").is_file(), "the chat template comes along");
    }
}
