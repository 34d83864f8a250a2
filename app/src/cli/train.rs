//! `workbench train --config FILE` and `workbench train --resume RUN_DIR`.

use std::path::PathBuf;

use anyhow::Result;
use engine::config::TrainConfig;
use engine::runs::RunDir;

use super::progress::train_with_progress;

/// Train a LoRA adapter (or the full model), or resume a run.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["config", "resume"])))]
pub struct Args {
    /// Training config (TOML); relative paths in it are resolved against its folder.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Continue this run directory from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Store the run under this folder instead of the config's `run.runs_dir`.
    #[arg(long, value_name = "DIR")]
    runs_dir: Option<PathBuf>,
    /// Override `training.max_steps`.
    #[arg(long)]
    max_steps: Option<usize>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let (dir, state) = match (args.config, args.resume) {
        (Some(path), _) => {
            let mut cfg = TrainConfig::load(&path)?;
            if let Some(dir) = args.runs_dir {
                cfg.run.runs_dir = std::path::absolute(dir)?;
            }
            if args.max_steps.is_some() {
                cfg.training.max_steps = args.max_steps;
                cfg.check()?;
            }
            train_with_progress(|backend| backend.start(cfg))?
        }
        (None, Some(dir)) => train_with_progress(|backend| backend.resume(&dir))?,
        (None, None) => unreachable!("clap requires --config or --resume"),
    };
    let run = RunDir::open(&dir)?;
    let status = run.status()?;
    println!("run {} ended: {state:?} at step {}/{}", dir.display(), status.step, status.total_steps);
    if let Some(best) = status.best_val_loss {
        println!("best validation loss {best:.4} (perplexity {:.2}) at step {}", best.exp(), status.best_step.unwrap_or(0));
    }
    if let Some(peak) = run.metrics()?.iter().filter_map(|r| r.peak_rss_bytes).max() {
        let cfg = run.config()?;
        let estimate = engine::estimate::estimate(&cfg, &engine::model::ModelConfig::load(&cfg.model.path)?, None);
        println!(
            "peak memory {} (estimated before launch: {})",
            engine::estimate::human_bytes(peak),
            engine::estimate::human_bytes(estimate.total_bytes)
        );
    }
    if run.adapter_dir().exists() {
        println!("adapter: {}", run.adapter_dir().display());
    }
    if run.model_dir().exists() {
        println!("model: {}", run.model_dir().display());
    }
    if state == engine::runs::RunState::Cancelled {
        println!("resume with: workbench train --resume {}", dir.display());
    }
    Ok(())
}
