//! `workbench merge --run RUN --out DIR` (or `--adapter DIR [--model DIR]`):
//! a LoRA adapter folded into its base model as a full model directory
//! (`engine::model::merge`), run as a `Job::Merge` like the window's Merge button.

use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::jobs::{Job, JobEvent};
use engine::model::merge::MergeRequest;
use engine::runs::RunDir;

/// Fold a LoRA adapter into its base model: a full Hugging Face model directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: Source,
    /// The merged model directory to write.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

/// Which adapter to fold into which base model (`merge`, `export gguf`).
#[derive(Debug, clap::Args)]
pub struct Source {
    /// A run whose adapter (and base model) to merge.
    #[arg(long, value_name = "RUN_DIR", conflicts_with = "adapter")]
    pub run: Option<PathBuf>,
    /// An adapter directory (PEFT layout) to merge.
    #[arg(long, value_name = "DIR")]
    pub adapter: Option<PathBuf>,
    /// The base model (default: the run's, or the adapter's base_model_name_or_path).
    #[arg(long, value_name = "DIR")]
    pub model: Option<PathBuf>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let (base, adapter) = args.source.base_and_adapter()?.context("pass --run RUN_DIR or --adapter DIR")?;
    println!("merging {} into {} ...", adapter.display(), base.display());
    let request = MergeRequest { base, adapter, out: args.out };
    super::progress::run_job(
        |engine| engine.start(Job::Merge(Box::new(request))).map_err(anyhow::Error::msg),
        |event| match event {
            JobEvent::Merged(out) => {
                println!("merged model: {}", out.display());
                Ok(())
            }
            JobEvent::Failed(e) => anyhow::bail!(e),
            JobEvent::Cancelled => anyhow::bail!("cancelled: nothing was written"),
            _ => Ok(()),
        },
    )
}

impl Source {
    /// The base model directory and the adapter directory to fold into it;
    /// None when neither a run nor an adapter is named.
    pub fn base_and_adapter(&self) -> Result<Option<(PathBuf, PathBuf)>> {
        let args = self;
        Ok(Some(match (&args.run, &args.adapter) {
            (Some(run), _) => {
                let run = RunDir::open(run)?;
                let adapter = run.adapter_dir();
                anyhow::ensure!(adapter.is_dir(), "run {} has no adapter yet (it saves one at its first evaluation)", run.path.display());
                (args.model.clone().unwrap_or(run.config()?.model.path), adapter)
            }
            (None, Some(adapter)) => {
                let base = match &args.model {
                    Some(m) => m.clone(),
                    None => engine::adapter::load_config(adapter)?
                        .base_model_name_or_path
                        .map(PathBuf::from)
                        .context("the adapter does not name its base model; pass --model DIR")?,
                };
                (base, adapter.clone())
            }
            (None, None) => return Ok(None),
        }))
    }
}
