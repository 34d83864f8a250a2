//! What the engine computes, written for `scripts/proof.py` to compare with
//! Hugging Face transformers, PEFT and the `gguf` package:
//!
//! ```text
//! cargo run --release -p workbench-engine --example proof_dump -- \
//!     --model DIR [--adapter DIR] [--texts TEXTS.json] [--data DATA.jsonl] [--prompts PROMPTS.json] --out OUT_DIR
//! ```
//!
//! - `--texts`: a JSON list of strings -> `OUT/tokens.json`: the token ids of
//!   each (no special tokens added), as the model's `tokenizer.json` gives them.
//! - `--data`: a JSONL conversation file -> `OUT/chat.json`: per record, the
//!   text the model's chat template renders, the ids training uses and which
//!   of them carry loss.
//! - `--prompts`: a JSON list of token-id lists -> `OUT/logits.safetensors`
//!   (`logits_{i}`: f32 `[seq, vocab]`), from the model with the adapter
//!   attached when `--adapter` is given.

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};

use engine::chat::ChatFormat;
use engine::config::TrainOn;
use engine::data::conversation::read_jsonl;
use engine::model::{Model, ModelConfig, Pass};

fn main() -> anyhow::Result<()> {
    let mut args: HashMap<String, PathBuf> = HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| anyhow::anyhow!("{flag} needs a value"))?;
        args.insert(flag.trim_start_matches("--").to_string(), value.into());
    }
    let model_dir = args.get("model").ok_or_else(|| anyhow::anyhow!("--model DIR is required"))?;
    let out = args.get("out").ok_or_else(|| anyhow::anyhow!("--out DIR is required"))?;
    std::fs::create_dir_all(out)?;
    let config = ModelConfig::load(model_dir)?;

    if let Some(texts) = args.get("texts") {
        let texts: Vec<String> = serde_json::from_str(&std::fs::read_to_string(texts)?)?;
        let tok = engine::model::tokenizer::load(model_dir, &config)?;
        let ids: Vec<Vec<u32>> = texts
            .iter()
            .map(|t| tok.encode(t.as_str(), false).map(|e| e.get_ids().to_vec()))
            .collect::<Result<_, _>>()
            .map_err(anyhow::Error::msg)?;
        std::fs::write(out.join("tokens.json"), serde_json::to_string(&ids)?)?;
    }
    if let Some(data) = args.get("data") {
        let format = ChatFormat::load(model_dir, &config, "model")?;
        let mut rows = Vec::new();
        for record in read_jsonl(data, false)?.records {
            let enc = format.encode(&record, TrainOn::Assistant)?;
            rows.push(serde_json::json!({"rendered": format.template.render(&record)?, "ids": enc.ids, "trained": enc.trained}));
        }
        std::fs::write(out.join("chat.json"), serde_json::to_string(&rows)?)?;
    }
    if let Some(prompts) = args.get("prompts") {
        let prompts: Vec<Vec<u32>> = serde_json::from_str(&std::fs::read_to_string(prompts)?)?;
        let mut model = Model::load(model_dir, DType::F32, &Device::Cpu)?;
        if let Some(adapter) = args.get("adapter") {
            engine::adapter::load_into(&mut model, adapter)?;
        }
        let mut tensors = HashMap::new();
        for (i, ids) in prompts.iter().enumerate() {
            let input = Tensor::new(ids.as_slice(), &Device::Cpu)?.unsqueeze(0)?;
            tensors.insert(format!("logits_{i}"), model.forward(&input, Pass::Eval)?);
        }
        engine::model::weights::save_file(&out.join("logits.safetensors"), &tensors, None)?;
    }
    Ok(())
}
