//! Importing a GGUF file (llama.cpp's format) as a Hugging Face model
//! directory that [`crate::model::Model::load`] and
//! [`crate::model::tokenizer::load`] read: `config.json` from the metadata,
//! `model.safetensors` with every tensor dequantised (f32 or bf16),
//! `tokenizer.json`, `tokenizer_config.json` (with the chat template) and
//! `generation_config.json`, written as one directory atomically.
//!
//! - [`metadata`]: typed metadata reads and the `config.json` they describe.
//! - [`tensors`]: names, supported types, dequantisation and the Q/K row permutation.
//! - [`tokenizer`]: the tokenizer the metadata describes (byte-level BPE, or
//!   SentencePiece BPE through `sentencepiece`).
//! - [`fixture`]: tiny GGUF files written as llama.cpp's converter would, for tests.
//! - [`export`]: the other way: a model as a GGUF file (F16 or Q8_0) for llama.cpp.

pub mod export;
pub mod fixture;
pub mod metadata;
mod sentencepiece;
pub mod tensors;
pub mod tokenizer;
mod vocab_export;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use candle_core::DType;
use candle_core::quantized::gguf_file::Content;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::model::progress::{Cancellable, Progress};
use metadata::Meta;

/// What an import found and wrote.
#[derive(Debug, Clone, Serialize)]
pub struct ImportReport {
    /// `general.architecture` (`llama`, `mistral`).
    pub architecture: String,
    /// Tensors in the file per type (`Q4_K`: 120, `F32`: 61).
    pub tensor_types: BTreeMap<String, usize>,
    /// Tensors written to `model.safetensors`.
    pub tensors_written: usize,
    /// Parameters of the model (a tied embedding counted once).
    pub parameters: usize,
    /// Tokens in the tokenizer's vocabulary.
    pub vocab_size: usize,
    /// Whether the output layer shares the embedding matrix.
    pub tied_embeddings: bool,
    /// Whether the file carried a chat template (written to `tokenizer_config.json`).
    pub chat_template: bool,
    /// The dtype of `model.safetensors` (`float32`, `bfloat16`).
    pub dtype: String,
}

/// A GGUF import to run as a job (the facade's `Job::ImportGguf`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportRequest {
    /// The GGUF file.
    pub file: std::path::PathBuf,
    /// The model directory to write (must not exist, or be empty).
    pub out: std::path::PathBuf,
    /// The stored weights' dtype (F32 or BF16).
    pub dtype: DType,
}

impl ImportRequest {
    /// Imports, telling `progress` each tensor; stops when `cancel` is set (nothing written).
    pub fn run(&self, cancel: &crate::cancel::CancelFlag, progress: impl FnMut(usize, usize)) -> Result<ImportReport> {
        import(&self.file, &self.out, self.dtype, Cancellable { cancel, progress })
    }
}

/// Converts the GGUF file `path` into the model directory `out_dir` (which
/// must not exist or be empty), with weights stored in `dtype` (F32 or BF16).
/// `progress` is told after each tensor is converted (and may stop the
/// import, which then writes nothing).
pub fn import(path: &Path, out_dir: &Path, dtype: DType, mut progress: impl Progress) -> Result<ImportReport> {
    let torch_dtype = match dtype {
        DType::F32 => "float32",
        DType::BF16 => "bfloat16",
        other => return Err(Error::Other(format!("weights can be stored as f32 or bf16, not {other:?}"))),
    };
    let file = File::open(path)
        .map_err(|e| Error::File { path: path.into(), message: format!("cannot open the GGUF file ({e}); check the path") })?;
    check_out_dir(out_dir)?;
    let mut reader = BufReader::new(file);
    let content = Content::read(&mut reader).map_err(|e| {
        let hint = if e.to_string().contains("unknown dtype") {
            "it holds a tensor type candle cannot read at all; use a GGUF quantised to F32, F16, Q8_0, Q4_0, Q4_1, Q4_K or Q6_K"
        } else {
            "is this a .gguf file (llama.cpp's format)? a damaged or truncated download fails here too"
        };
        Error::model(path, format!("not a readable GGUF file ({e}); {hint}"))
    })?;
    let meta = Meta::new(&content.metadata, path);
    let (architecture, _) = meta.architecture()?;
    let embed = content.tensor_infos.get("token_embd.weight").ok_or_else(|| {
        meta.error("tensor token_embd.weight (our model.embed_tokens.weight) is missing; the file is incomplete or damaged")
    })?;
    let vocab_rows = embed.shape.dims().first().copied().unwrap_or(0);
    let tied = !content.tensor_infos.contains_key("output.weight");
    let rope_factors = tensors::rope_factors(&content, &mut reader, &meta)?;
    let config = metadata::model_config(&meta, vocab_rows, tied, torch_dtype, rope_factors)?;
    let plan = tensors::plan(&content, &config, &meta)?;
    let tok = tokenizer::build(&meta)?;
    if tok.vocab_size > config.vocab_size {
        return Err(meta.error(format!(
            "the tokenizer has {} tokens but token_embd.weight only {} rows; the file is inconsistent",
            tok.vocab_size, config.vocab_size
        )));
    }
    if plan.rope_freqs {
        tensors::check_rope_freqs(&content, &mut reader, &meta)?;
    }
    let weights = tensors::convert(&content, &mut reader, &plan, dtype, &meta, &mut progress)?;
    let parameters = weights.values().map(|t| t.elem_count()).sum();
    let tokenizer_json = tok.tokenizer.to_string(true).map_err(|e| Error::Other(format!("serialising tokenizer.json: {e}")))?;
    crate::atomic::write_dir(out_dir, |tmp| {
        crate::atomic::write_json(&tmp.join("config.json"), &config)?;
        crate::atomic::write(&tmp.join("tokenizer.json"), tokenizer_json.as_bytes())?;
        crate::atomic::write_json(&tmp.join("tokenizer_config.json"), &tok.config)?;
        crate::atomic::write_json(&tmp.join("generation_config.json"), &tok.generation)?;
        let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
        crate::model::weights::save_file(&tmp.join("model.safetensors"), &weights, Some(meta))
    })?;
    Ok(ImportReport {
        architecture: architecture.to_string(),
        tensor_types: plan.types,
        tensors_written: weights.len(),
        parameters,
        vocab_size: tok.vocab_size,
        tied_embeddings: tied,
        chat_template: tok.config.get("chat_template").is_some(),
        dtype: torch_dtype.to_string(),
    })
}

/// Refuses an output path that is a file or a non-empty directory.
fn check_out_dir(out_dir: &Path) -> Result<()> {
    if !out_dir.exists() {
        return Ok(());
    }
    let mut entries = std::fs::read_dir(out_dir).map_err(|e| Error::File {
        path: out_dir.into(),
        message: format!("the output path exists and is not a readable folder ({e}); choose a new folder"),
    })?;
    if entries.next().is_some() {
        return Err(Error::File {
            path: out_dir.into(),
            message: "the output folder exists and is not empty; choose a new folder or remove this one".into(),
        });
    }
    Ok(())
}
