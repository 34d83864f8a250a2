//! `workbench demo`: the README's first command until the GUI lands. Fine-tunes
//! the shipped sample model with the Story A sample config, then prints the
//! perplexity of base and tuned model on the held-out test set.

use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::config::TrainConfig;
use engine::engine_thread::Command;
use engine::eval::{EvalRequest, compare};
use engine::runs::RunDir;

use super::progress::run_with_progress;

/// Fine-tune the shipped sample model and compare perplexities.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Config to run (default: sample_data/configs/story-a-sample.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override `training.max_steps` (a quicker demo).
    #[arg(long)]
    max_steps: Option<usize>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let path = args.config.unwrap_or_else(|| super::sample_dir().join("configs/story-a-sample.toml"));
    let mut cfg = TrainConfig::load(&path)?;
    if args.max_steps.is_some() {
        cfg.training.max_steps = args.max_steps;
        cfg.check()?;
    }
    let e = engine::estimate::estimate(&cfg, &engine::model::ModelConfig::load(&cfg.model.path)?, None);
    println!(
        "fine-tuning {} with LoRA r={} alpha={} on {}: {} trainable parameters, estimated memory {}",
        cfg.model.path.display(),
        cfg.lora.rank,
        cfg.lora.alpha,
        cfg.data.train_file.display(),
        e.trainable,
        engine::estimate::human_bytes(e.total_bytes)
    );
    let (run_dir, state) = run_with_progress(Command::Train(Box::new(cfg.clone())))?;
    println!("run {} ended: {state:?}", run_dir.display());
    let run = RunDir::open(&run_dir)?;
    let req = EvalRequest {
        model_dir: cfg.model.path.clone(),
        adapters: vec![run.adapter_dir()],
        data_file: cfg.data.test_file.clone().context("the config has no data.test_file")?,
        max_seq_len: cfg.data.max_seq_len,
        batch_size: 16,
        device: cfg.model.device.clone(),
    };
    println!("held-out perplexity on {}:", req.data_file.display());
    let rows = compare(&req, |_| {})?;
    print!("{}", super::eval::table(&rows));
    Ok(())
}
