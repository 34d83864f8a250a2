//! `workbench eval`: perplexity of base and adapters on a held-out set.

use engine::model::decoder::quantize::Quantization;
use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::eval::{EvalRequest, EvalRow};

use super::progress::evaluate;

/// Perplexity of the base model and of each adapter on the same held-out data.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Runs to evaluate (their adapters); model and test file come from the first run's config.
    #[arg(long = "run", value_name = "RUN_DIR")]
    runs: Vec<PathBuf>,
    /// Base model directory (overrides the run's).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// Extra adapter directories (PEFT layout).
    #[arg(long = "adapter", value_name = "DIR")]
    adapters: Vec<PathBuf>,
    /// Held-out JSONL file (overrides the run's `data.test_file`).
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
    /// Truncate examples to this many tokens (without --run; a run uses its config's).
    #[arg(long, default_value_t = EvalRequest::DEFAULT_MAX_SEQ_LEN)]
    max_seq_len: usize,
    /// Examples per forward pass.
    #[arg(long, default_value_t = EvalRequest::DEFAULT_BATCH_SIZE)]
    batch_size: usize,
    /// Device: cpu, cuda:N, metal:N.
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Quantize the weights first, as for serving: q8_0 (8-bit) or q4_0 (4-bit).
    #[arg(long, value_name = "q8_0|q4_0", value_parser = Quantization::parse)]
    quantize: Option<Quantization>,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let req = request(&args)?;
    if !args.json {
        println!("evaluating on {} ...", req.data_file.display());
    }
    let rows = evaluate(req, |row| {
        if !args.json {
            eprintln!("  {}: perplexity {:.3}", row.name, row.perplexity);
        }
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
    } else {
        print!("{}", table(&rows));
    }
    Ok(())
}

/// The request: from the runs when given (their base model, held-out file
/// and length), else from `--model` and `--data`; flags override.
fn request(args: &Args) -> Result<EvalRequest> {
    let mut req = if args.runs.is_empty() {
        let model = args.model.clone().context("name a base model with --model DIR, or a run with --run RUN_DIR")?;
        let data = args.data.clone().context("name a held-out JSONL file with --data FILE")?;
        let mut req = EvalRequest::new(model, data);
        req.max_seq_len = args.max_seq_len;
        req
    } else {
        EvalRequest::for_runs(&args.runs, args.data.clone())?
    };
    if let Some(model) = &args.model {
        req.model_dir = model.clone();
    }
    req.adapters.extend(args.adapters.iter().cloned());
    req.batch_size = args.batch_size;
    req.device = args.device.clone();
    req.quantization = args.quantize;
    Ok(req)
}

/// The rows as an aligned text table with the change against the base.
pub fn table(rows: &[EvalRow]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(5);
    let mut out = format!("{:<width$}  {:>8}  {:>10}  {:>8}  {:>9}\n", "model", "loss", "perplexity", "tokens", "vs base");
    for (r, change) in rows.iter().zip(engine::eval::changes_vs_base(rows)) {
        out += &format!("{:<width$}  {:>8.4}  {:>10.3}  {:>8}  {:>9}\n", r.name, r.loss, r.perplexity, r.tokens, change);
    }
    out
}
