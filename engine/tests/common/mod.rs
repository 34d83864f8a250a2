//! Shared fixtures: a tiny random model using the shipped tokenizer, small
//! slices of the shipped data, and configs that train in seconds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use engine::config::TrainConfig;

pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample_data")
}

/// A tiny random model directory (shipped tokenizer) in `dir/model`.
pub fn tiny_model(dir: &Path, seed: u64) -> PathBuf {
    let out = dir.join("model");
    engine::sample_build::write_tiny_model(&sample_dir().join("model"), seed, &out).unwrap();
    out
}

/// The first `n` lines of a shipped data split, written to `dir/NAME`.
pub fn data_slice(dir: &Path, split: &str, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(sample_dir().join(format!("data/{split}.jsonl"))).unwrap();
    let lines: Vec<&str> = text.lines().take(n).collect();
    let out = dir.join(format!("{split}.jsonl"));
    std::fs::write(&out, lines.join("\n") + "\n").unwrap();
    out
}

/// A LoRA config on `model` with small data that trains in seconds.
pub fn tiny_config(dir: &Path, model: &Path) -> TrainConfig {
    let train = data_slice(dir, "train", 48);
    let val = data_slice(dir, "validation", 8);
    let text = format!(
        r#"
        [model]
        path = "{}"
        [data]
        train_file = "{}"
        validation_file = "{}"
        test_file = "{}"
        max_seq_len = 64
        [lora]
        rank = 4
        alpha = 8.0
        dropout = 0.1
        target_modules = ["all-linear"]
        [training]
        batch_size = 4
        grad_accum = 2
        learning_rate = 5e-3
        epochs = 2
        eval_every = 3
        checkpoint_every = 2
        keep_checkpoints = 50
        seed = 7
        [run]
        name = "tiny"
        runs_dir = "{}"
        "#,
        model.display(),
        train.display(),
        val.display(),
        val.display(),
        dir.join("runs").display()
    );
    let cfg = TrainConfig::from_toml(&text).unwrap();
    cfg.check().unwrap();
    cfg
}
