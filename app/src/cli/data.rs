//! `workbench data FILE --model DIR`: parse check, template preview and
//! token-length statistics of a JSONL conversation file.

use std::path::PathBuf;

use anyhow::Result;
use engine::config::TrainOn;
use engine::data::conversation::read_jsonl;
use engine::data::{Dataset, template};
use engine::model::ModelConfig;

/// Check, preview and measure a JSONL conversation file.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The JSONL file.
    file: PathBuf,
    /// Model directory whose tokenizer and chat template to use.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Truncation length.
    #[arg(long, default_value_t = 256)]
    max_seq_len: usize,
    /// How many conversations to preview.
    #[arg(long, default_value_t = 2)]
    show: usize,
    /// Report malformed lines instead of stopping at the first.
    #[arg(long)]
    skip_bad_lines: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let report = read_jsonl(&args.file, args.skip_bad_lines)?;
    println!("{}: {} records", args.file.display(), report.records.len());
    for (line, msg) in &report.skipped {
        println!("  skipped line {line}: {msg}");
    }
    let model_cfg = ModelConfig::load(&args.model)?;
    let tok = engine::model::tokenizer::load(&args.model, &model_cfg)?;
    for r in report.records.iter().take(args.show) {
        println!("---\n{}", template::render(r));
    }
    let ds = Dataset::from_records(&report.records, &tok, args.max_seq_len, TrainOn::Assistant)?;
    let s = ds.stats();
    println!("---\ntokens per example: min {} median {} mean {:.1} p95 {} max {}", s.min, s.median, s.mean, s.p95, s.max);
    println!("trained (assistant) tokens: {}", s.trained_tokens);
    println!("truncated to {} tokens: {} examples ({} tokens cut); dropped (nothing left to train): {}", args.max_seq_len, ds.truncated, ds.tokens_cut, ds.dropped);
    print!("{}", histogram(&ds, args.max_seq_len));
    Ok(())
}

/// A text histogram of example lengths in ten bins up to `max_len`.
fn histogram(ds: &Dataset, max_len: usize) -> String {
    let bins = 10;
    let width = max_len.div_ceil(bins).max(1);
    let mut counts = vec![0usize; bins];
    for e in &ds.examples {
        counts[((e.ids.len().saturating_sub(1)) / width).min(bins - 1)] += 1;
    }
    let peak = counts.iter().copied().max().unwrap_or(1).max(1);
    counts
        .iter()
        .enumerate()
        .map(|(i, c)| format!("{:>5}-{:<5} {:>6} {}\n", i * width, (i + 1) * width, c, "#".repeat(c * 40 / peak)))
        .collect()
}
