//! Safetensors I/O in Hugging Face layout: one `model.safetensors`, or shards
//! listed in `model.safetensors.index.json`; f32, bf16 or f16 on disk,
//! converted to the compute dtype on load.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Reads every tensor of a safetensors file, converted to `dtype`.
pub fn load_file(path: &Path, dtype: DType, device: &Device) -> Result<HashMap<String, Tensor>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, device)
        .map_err(|e| Error::model(path, format!("not a valid safetensors file ({e}); re-download or re-export the weights")))?;
    tensors
        .into_iter()
        .map(|(name, t)| {
            let t = t.to_dtype(dtype).map_err(|e| Error::model(path, format!("tensor {name}: {e}")))?;
            Ok((name, t))
        })
        .collect()
}

/// Loads the weights of a model directory, single-file or sharded.
pub fn load_model_dir(dir: &Path, dtype: DType, device: &Device) -> Result<HashMap<String, Tensor>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return load_file(&single, dtype, device);
    }
    let index_path = dir.join("model.safetensors.index.json");
    let text = std::fs::read_to_string(&index_path)
        .map_err(|_| Error::model(dir, "no model.safetensors and no model.safetensors.index.json; export the weights as safetensors"))?;
    let index: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::model(&index_path, format!("invalid index: {e}")))?;
    let map =
        index.get("weight_map").and_then(|m| m.as_object()).ok_or_else(|| Error::model(&index_path, "missing \"weight_map\" object"))?;
    let shards: BTreeSet<&str> = map.values().filter_map(|v| v.as_str()).collect();
    let mut all = HashMap::new();
    for shard in shards {
        all.extend(load_file(&dir.join(shard), dtype, device)?);
    }
    Ok(all)
}

/// Serialises named tensors to safetensors bytes, with string metadata.
pub fn to_bytes(tensors: &HashMap<String, Tensor>, metadata: Option<HashMap<String, String>>) -> Result<Vec<u8>> {
    let mut sorted: Vec<(&String, &Tensor)> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    safetensors::tensor::serialize(sorted, metadata).map_err(|e| Error::Other(format!("safetensors: {e}")))
}

/// Atomically writes named tensors as a safetensors file.
pub fn save_file(path: &Path, tensors: &HashMap<String, Tensor>, metadata: Option<HashMap<String, String>>) -> Result<()> {
    crate::atomic::write(path, &to_bytes(tensors, metadata)?)
}

/// Files a model directory carries beside its weights that a saved model
/// keeps: the tokenizer (required) and, where the source has them, its
/// special tokens and chat template, and its generation defaults.
const TOKENIZER_FILES: [(&str, bool); 4] =
    [("tokenizer.json", true), ("tokenizer_config.json", false), ("chat_template.jinja", false), ("generation_config.json", false)];

/// Writes `model` as a Hugging Face model directory (`config.json`,
/// `model.safetensors`, and the tokenizer files copied from
/// `tokenizer_from`: `tokenizer.json`, and `tokenizer_config.json`,
/// `chat_template.jinja`, `generation_config.json` where present), atomically.
pub fn save_model_dir(model: &mut crate::model::Model, tokenizer_from: &Path, dir: &Path) -> Result<()> {
    let tensors = model.hf_tensors();
    let config = model.config.clone();
    crate::atomic::write_dir(dir, |tmp| {
        crate::atomic::write_json(&tmp.join("config.json"), &config)?;
        for (name, required) in TOKENIZER_FILES {
            let src = tokenizer_from.join(name);
            match std::fs::read(&src) {
                Ok(bytes) => crate::atomic::write(&tmp.join(name), &bytes)?,
                Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&src, e)),
            }
        }
        let mut meta = HashMap::new();
        meta.insert("format".to_string(), "pt".to_string());
        save_file(&tmp.join("model.safetensors"), &tensors, Some(meta))
    })
}
