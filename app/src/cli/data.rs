//! `workbench data FILE --model DIR`: parse check, template preview and
//! token-length statistics of a JSONL conversation file.

use std::path::PathBuf;

use anyhow::{Result, bail};
use engine::config::TrainOn;
use engine::data::report::DataRequest;
use engine::error::BAD_LINES_SHOWN;
use engine::jobs::{Job, JobEvent};

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
    /// Skip malformed lines (each is still reported) instead of failing.
    #[arg(long)]
    skip_bad_lines: bool,
    /// Chat template: `model` (the model's own, else the built-in Mistral one), `mistral`, or a Jinja file.
    #[arg(long, default_value = "model")]
    chat_template: String,
}

/// Runs the subcommand (as an engine job, like the window's Data tab).
pub fn run(args: Args) -> Result<()> {
    let req = DataRequest {
        file: args.file.clone(),
        model_dir: args.model.clone(),
        max_seq_len: args.max_seq_len,
        train_on: TrainOn::Assistant,
        previews: args.show,
        chat_template: args.chat_template.clone(),
    };
    let mut report = None;
    super::progress::run_job(
        |engine| engine.start(Job::AnalyzeData(Box::new(req))).map_err(anyhow::Error::msg),
        |event| {
            match event {
                JobEvent::Analyzed(r) => report = Some(r),
                JobEvent::Failed(e) => bail!("{e}"),
                _ => {}
            }
            Ok(())
        },
    )?;
    let r = report.ok_or_else(|| anyhow::anyhow!("the analysis ended without a result"))?;
    if !args.skip_bad_lines && !r.skipped.is_empty() {
        bail!("{}", engine::Error::DataLines { path: args.file.clone(), lines: r.lines, bad: r.skipped.clone() });
    }
    println!("{}: {} records ({})", args.file.display(), r.records, r.validity());
    for (line, msg) in r.skipped.iter().take(BAD_LINES_SHOWN) {
        println!("  skipped line {line}: {msg}");
    }
    if r.skipped.len() > BAD_LINES_SHOWN {
        println!("  ... and {} more", r.skipped.len() - BAD_LINES_SHOWN);
    }
    println!("chat template: {}", r.template);
    for preview in &r.previews {
        println!("---\n{}", engine::chat::template::render_segments(preview));
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
