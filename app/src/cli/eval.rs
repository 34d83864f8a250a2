//! `workbench eval`: perplexity of base and adapters on a held-out set.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use engine::eval::{EvalRequest, EvalRow, compare};
use engine::runs::RunDir;

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
    /// Truncate examples to this many tokens.
    #[arg(long, default_value_t = 256)]
    max_seq_len: usize,
    /// Examples per forward pass.
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Device: cpu, cuda:N, metal:N.
    #[arg(long, default_value = "cpu")]
    device: String,
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
    let rows = compare(&req, |row| {
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

fn request(args: &Args) -> Result<EvalRequest> {
    let first = args.runs.first().map(|d| RunDir::open(d)).transpose()?;
    let cfg = first.as_ref().map(|r| r.config()).transpose()?;
    let model_dir = match (&args.model, &cfg) {
        (Some(m), _) => m.clone(),
        (None, Some(c)) => c.model.path.clone(),
        (None, None) => bail!("name a base model with --model DIR, or a run with --run RUN_DIR"),
    };
    let data_file = match (&args.data, &cfg) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => c.data.test_file.clone().context("the run's config has no data.test_file; pass --data FILE")?,
        (None, None) => bail!("name a held-out JSONL file with --data FILE"),
    };
    let mut adapters = Vec::new();
    for r in &args.runs {
        let run = RunDir::open(r)?;
        let dir = run.adapter_dir();
        if !dir.is_dir() {
            bail!("run {} has no adapter yet (it saves one at its first evaluation)", r.display());
        }
        adapters.push(dir);
    }
    adapters.extend(args.adapters.iter().cloned());
    Ok(EvalRequest {
        model_dir,
        adapters,
        data_file,
        max_seq_len: cfg.as_ref().map_or(args.max_seq_len, |c| c.data.max_seq_len),
        batch_size: args.batch_size,
        device: args.device.clone(),
    })
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
