//! `workbench sample build`: regenerates the shipped tokenizer and base model
//! from the generated corpus (see `sample_data/README.md`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::config::TrainConfig;
use engine::runs::RunDir;

use super::progress::train_with_progress;

/// Rebuild the shipped sample tokenizer and base model.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Train the tokenizer, initialise the model and pretrain it on the corpus.
    Build {
        /// The sample_data folder (reads corpus/ and data/, writes model/).
        #[arg(long, default_value = "sample_data")]
        dir: PathBuf,
        /// Tokenizer vocabulary size.
        #[arg(long, default_value_t = 2048)]
        vocab_size: usize,
        /// Override the pretraining config's max_steps (quick builds).
        #[arg(long)]
        max_steps: Option<usize>,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let Action::Build { dir, vocab_size, max_steps } = args.action;
    let build = dir.join("build");
    let init = build.join("init-model");
    let corpus = dir.join("corpus/company_docs.txt");
    let train_chats = dir.join("data/train.jsonl");
    println!("1/3 training a {vocab_size}-token BPE tokenizer on {} and {}", corpus.display(), train_chats.display());
    engine::sample_build::train_tokenizer(&[&corpus, &train_chats], vocab_size, &build)?;
    let cfg = engine::sample_build::sample_model_config(vocab_size);
    println!("2/3 initialising a {}-parameter Mistral-architecture model", cfg.num_parameters());
    engine::sample_build::init_model_dir(cfg, 1234, &build, &init)?;
    let docs = engine::sample_build::corpus_to_jsonl(&corpus, &build.join("corpus.jsonl"))?;
    println!("3/3 pretraining on {docs} documents (full fine-tuning)");
    let mut pretrain = TrainConfig::load(&dir.join("make/pretrain.toml")).context("reading the pretraining config")?;
    if max_steps.is_some() {
        pretrain.training.max_steps = max_steps;
    }
    let (run_dir, _) = train_with_progress(|backend| backend.start(pretrain))?;
    let run = RunDir::open(&run_dir)?;
    let status = run.status()?;
    let out = dir.join("model");
    engine::atomic::write_dir(&out, |tmp| {
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            let src = run.model_dir().join(f);
            std::fs::copy(&src, tmp.join(f)).map_err(|e| engine::Error::io(&src, e))?;
        }
        Ok(())
    })?;
    println!(
        "sample model written to {}: best validation loss {:.4} (perplexity {:.2}) after {} steps; run kept in {}",
        out.display(),
        status.best_val_loss.unwrap_or(f64::NAN),
        status.best_val_loss.unwrap_or(f64::NAN).exp(),
        status.step,
        run_dir.display()
    );
    Ok(())
}
