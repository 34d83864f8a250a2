//! Safetensors I/O in Hugging Face layout: one `model.safetensors`, or shards
//! listed in `model.safetensors.index.json`; f32, bf16 or f16 on disk,
//! converted to the compute dtype on load.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Reads every tensor of a safetensors file, converted to `dtype`, one
/// tensor at a time: the peak is the converted weights plus the largest
/// tensor's bytes, not twice the file (reading the whole file first would
/// double a 7B model's 29 GB).
pub fn load_file(path: &Path, dtype: DType, device: &Device) -> Result<HashMap<String, Tensor>> {
    load_file_with(path, dtype, device, &mut |_, t| Ok(t))
}

/// What [`load_model_dir_with`] does to each tensor as it is read.
pub type Transform<'a> = dyn FnMut(&str, Tensor) -> candle_core::Result<Tensor> + 'a;

/// [`load_file`], passing each tensor through `transform` as soon as it is
/// read (quantizing while loading keeps one f32 tensor in memory, not all).
pub fn load_file_with(path: &Path, dtype: DType, device: &Device, transform: &mut Transform<'_>) -> Result<HashMap<String, Tensor>> {
    use std::io::{Read, Seek, SeekFrom};
    let bad = |m: String| Error::model(path, format!("not a valid safetensors file ({m}); re-download or re-export the weights"));
    let mut file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| bad(format!("no header: {e}")))?;
    let header_len = u64::from_le_bytes(len);
    if header_len > 100 << 20 || 8 + header_len > file_len {
        return Err(bad(format!("a header of {header_len} bytes in a file of {file_len}")));
    }
    let mut header = vec![0u8; header_len as usize];
    file.read_exact(&mut header).map_err(|e| bad(format!("truncated header: {e}")))?;
    let header: HashMap<String, serde_json::Value> = serde_json::from_slice(&header).map_err(|e| bad(format!("header: {e}")))?;
    let data_start = 8 + header_len;
    let mut out = HashMap::with_capacity(header.len());
    for (name, info) in header {
        if name == "__metadata__" {
            continue;
        }
        let entry: TensorEntry = serde_json::from_value(info).map_err(|e| bad(format!("tensor {name}: {e}")))?;
        let stored =
            stored_dtype(&entry.dtype).ok_or_else(|| bad(format!("tensor {name} has dtype {}, which is not read", entry.dtype)))?;
        let (start, end) = entry.data_offsets;
        let bytes = entry.shape.iter().product::<usize>() * stored.size_in_bytes();
        if end < start || end - start != bytes || data_start + end as u64 > file_len {
            return Err(bad(format!(
                "tensor {name}: offsets {start}..{end} do not hold {:?} {} (file of {file_len} bytes)",
                entry.shape, entry.dtype
            )));
        }
        let mut buf = vec![0u8; bytes];
        file.seek(SeekFrom::Start(data_start + start as u64)).map_err(|e| Error::io(path, e))?;
        file.read_exact(&mut buf).map_err(|e| bad(format!("tensor {name}: {e}")))?;
        let t = Tensor::from_raw_buffer(&buf, stored, &entry.shape, device)
            .and_then(|t| t.to_dtype(dtype))
            .and_then(|t| transform(&name, t))
            .map_err(|e| Error::model(path, format!("tensor {name}: {e}")))?;
        out.insert(name, t);
    }
    Ok(out)
}

/// One entry of a safetensors header.
#[derive(serde::Deserialize)]
struct TensorEntry {
    dtype: String,
    shape: Vec<usize>,
    data_offsets: (usize, usize),
}

/// The candle dtype of a safetensors dtype name.
fn stored_dtype(name: &str) -> Option<DType> {
    Some(match name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I64" => DType::I64,
        "U32" => DType::U32,
        "U8" => DType::U8,
        _ => return None,
    })
}

/// Loads the weights of a model directory, single-file or sharded.
pub fn load_model_dir(dir: &Path, dtype: DType, device: &Device) -> Result<HashMap<String, Tensor>> {
    load_model_dir_with(dir, dtype, device, &mut |_, t| Ok(t))
}

/// [`load_model_dir`] with each tensor passed through `transform` as it is read.
pub fn load_model_dir_with(dir: &Path, dtype: DType, device: &Device, transform: &mut Transform<'_>) -> Result<HashMap<String, Tensor>> {
    let single = dir.join("model.safetensors");
    if single.exists() {
        return load_file_with(&single, dtype, device, transform);
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
        all.extend(load_file_with(&dir.join(shard), dtype, device, transform)?);
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
pub fn save_model_dir(model: &mut crate::Model, tokenizer_from: &Path, dir: &Path) -> Result<()> {
    model.full_precision("save the model").map_err(|e| Error::Model { path: dir.into(), message: e.to_string() })?;
    let tensors = model.hf_tensors()?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_it_saved_and_names_a_truncated_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let a = Tensor::arange(0f32, 12.0, &Device::Cpu).unwrap().reshape((3, 4)).unwrap();
        let b = Tensor::new(&[1.5f32, -2.0], &Device::Cpu).unwrap().to_dtype(DType::BF16).unwrap();
        save_file(&path, &HashMap::from([("a".to_string(), a.clone()), ("b".to_string(), b)]), None).unwrap();
        let back = load_file(&path, DType::F32, &Device::Cpu).unwrap();
        assert_eq!(back["a"].to_vec2::<f32>().unwrap(), a.to_vec2::<f32>().unwrap());
        assert_eq!(back["b"].to_vec1::<f32>().unwrap(), vec![1.5, -2.0]);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 4]).unwrap();
        let err = load_file(&path, DType::F32, &Device::Cpu).unwrap_err().to_string();
        assert!(err.contains("w.safetensors") && err.contains("not a valid safetensors file"), "{err}");
    }
}
