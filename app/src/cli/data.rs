//! `workbench data FILE --model DIR`: parse check, template preview and
//! token-length statistics of a JSONL conversation file.

use std::path::PathBuf;

use anyhow::{Result, bail};
use engine::config::TrainOn;
use engine::data::report::analyze;
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
    let model_cfg = ModelConfig::load(&args.model)?;
    let tok = engine::model::tokenizer::load(&args.model, &model_cfg)?;
    let r = analyze(&args.file, &tok, args.max_seq_len, TrainOn::Assistant, args.show)?;
    if let (false, Some((line, msg))) = (args.skip_bad_lines, r.skipped.first()) {
        bail!("{}:{line}: {msg} (fix the line, or pass --skip-bad-lines to skip bad lines)", args.file.display());
    }
    println!("{}: {} records", args.file.display(), r.records);
    for (line, msg) in &r.skipped {
        println!("  skipped line {line}: {msg}");
    }
    for preview in &r.previews {
        println!("---\n{}", engine::data::template::render_segments(preview));
    }
    let s = &r.stats;
    println!("---\ntokens per example: min {} median {} mean {:.1} p95 {} max {}", s.min, s.median, s.mean, s.p95, s.max);
    println!("trained (assistant) tokens: {}", s.trained_tokens);
    println!(
        "truncated to {} tokens: {} examples ({} tokens cut); dropped (nothing left to train): {}",
        args.max_seq_len, r.truncated, r.tokens_cut, r.dropped
    );
    let peak = r.histogram(10).iter().map(|b| b.2).max().unwrap_or(1).max(1);
    for (lo, hi, count) in r.histogram(10) {
        println!("{lo:>5}-{hi:<5} {count:>6} {}", "#".repeat(count * 40 / peak));
    }
    Ok(())
}
