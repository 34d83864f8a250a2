//! `workbench demo`: the README's first command until the GUI lands. Fine-tunes
//! the shipped sample model with the Story A sample config, then prints the
//! perplexity of base and tuned model on the held-out test set.

use std::path::PathBuf;

use anyhow::Result;
use engine::config::TrainConfig;
use engine::eval::EvalRequest;

use super::progress::{evaluate, train_with_progress};

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
    let (run_dir, state) = train_with_progress(|backend| backend.start(cfg))?;
    println!("run {} ended: {state:?}", run_dir.display());
    let req = EvalRequest::for_runs(&[run_dir], None)?;
    println!("held-out perplexity on {}:", req.data_file.display());
    let rows = evaluate(req, |_| {})?;
    print!("{}", super::eval::table(&rows));
    Ok(())
}
