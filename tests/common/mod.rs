//! Fixtures shared by the end-to-end tests: a tiny random model using the
//! shipped tokenizer, slices of the shipped data, and a config file.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// The shipped `sample_data/` folder.
pub fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample_data")
}

/// Writes a tiny model, 64 training and 8 validation conversations and
/// `config.toml` (with `training` lines added to its `[training]` table) into
/// `dir`; returns the config's path.
pub fn tiny_setup(dir: &Path, training: &str) -> PathBuf {
    engine::sample_build::write_tiny_model(&sample_dir().join("model"), 11, &dir.join("model")).unwrap();
    for (split, n) in [("train", 64), ("validation", 8)] {
        let all = std::fs::read_to_string(sample_dir().join(format!("data/{split}.jsonl"))).unwrap();
        let part: Vec<&str> = all.lines().take(n).collect();
        std::fs::write(dir.join(format!("{split}.jsonl")), part.join("\n") + "\n").unwrap();
    }
    let cfg = format!(
        "[model]\npath = \"model\"\n[data]\ntrain_file = \"train.jsonl\"\nvalidation_file = \"validation.jsonl\"\ntest_file = \"validation.jsonl\"\nmax_seq_len = 64\n\
         [lora]\nrank = 4\nalpha = 8.0\ndropout = 0.1\ntarget_modules = [\"all-linear\"]\n\
         [training]\nbatch_size = 4\ngrad_accum = 2\nlearning_rate = 3e-3\nseed = 5\n{training}\n[run]\nname = \"tiny\"\nruns_dir = \"runs\"\n"
    );
    let path = dir.join("config.toml");
    std::fs::write(&path, cfg).unwrap();
    path
}

/// How an answer went, fixed (a rendered snapshot shows these numbers).
pub fn answer_stats(tokens: usize) -> engine::generate::AnswerStats {
    engine::generate::AnswerStats {
        finish_reason: engine::generate::FinishReason::Stop,
        prompt_tokens: 42,
        completion_tokens: tokens,
        time_to_first_token_s: 0.08,
        tokens_per_s: 41.5,
        elapsed_s: 1.2,
    }
}

/// An answer with `text` and [`answer_stats`].
pub fn answer(text: &str) -> engine::generate::target::Answer {
    engine::generate::target::Answer { text: text.into(), stats: answer_stats(4) }
}
