//! `workbench estimate --config FILE`: memory before launch.

use std::path::PathBuf;

use anyhow::Result;
use engine::config::TrainConfig;
use engine::estimate::{estimate, human_bytes};
use engine::model::ModelConfig;

/// Estimate memory for a config, with advice when it will not fit.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Training config (TOML).
    #[arg(long, value_name = "FILE")]
    config: PathBuf,
    /// Budget in GiB (default: the config's run.memory_limit_gb, else the device's memory).
    #[arg(long)]
    memory_limit_gb: Option<f64>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let cfg = TrainConfig::load(&args.config)?;
    let model = ModelConfig::load(&cfg.model.path)?;
    let budget = args
        .memory_limit_gb
        .or(cfg.run.memory_limit_gb)
        .map(|gb| (gb * (1u64 << 30) as f64) as u64)
        .or_else(|| engine::device::parse_device_name(&cfg.model.device).ok().and_then(engine::device::memory_bytes));
    let e = estimate(&cfg, &model, budget);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(());
    }
    let t = &cfg.training;
    println!("model {} ({} parameters), {:?} training", cfg.model.path.display(), e.parameters, t.mode);
    println!("trainable parameters   {:>14} ({:.2}%)", e.trainable, 100.0 * e.trainable as f64 / e.parameters as f64);
    println!(
        "batch {} x accum {} = effective batch {}, max_seq_len {}",
        t.batch_size,
        t.grad_accum,
        t.effective_batch(),
        cfg.data.max_seq_len
    );
    println!("weights                {:>14}", human_bytes(e.weights_bytes));
    println!("gradients              {:>14}", human_bytes(e.gradients_bytes));
    println!("optimizer (AdamW)      {:>14}", human_bytes(e.optimizer_bytes));
    println!(
        "activations            {:>14}   (with gradient checkpointing: {})",
        human_bytes(e.activations_bytes),
        human_bytes(e.activations_checkpointed_bytes)
    );
    println!(
        "total                  {:>14}   (gradient checkpointing {})",
        human_bytes(e.total_bytes),
        if t.gradient_checkpointing { "on" } else { "off" }
    );
    println!("rule of thumb, full fine-tuning at 24 bytes/parameter: {}", human_bytes(e.rule_of_thumb_full_bytes));
    match e.budget_bytes {
        Some(b) => println!("budget                 {:>14}   -> {}", human_bytes(b), if e.fits { "fits" } else { "DOES NOT FIT" }),
        None => println!("budget unknown for this device; set run.memory_limit_gb"),
    }
    for (i, a) in e.advice.iter().enumerate() {
        println!("{} {}", if i == 0 { "advice:" } else { "   or: " }, a.message);
    }
    if !e.fits && e.advice.is_empty() {
        println!("no batch, checkpointing or sequence-length change fits; use a smaller model or a larger device");
    }
    Ok(())
}
