//! `workbench export gguf --out FILE [--type f16|q8_0]` of a model directory
//! (`--model DIR`) or of a fine-tune merged on the fly (`--run RUN` or
//! `--adapter DIR`): a GGUF file for llama.cpp (`engine::model::gguf::export`).

use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::jobs::{Job, JobEvent};
use engine::model::gguf::export::{ExportRequest, ExportType};
use indicatif::{ProgressBar, ProgressStyle};

use super::merge::Source;

/// Export a model for other tools.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    format: Format,
}

#[derive(Debug, clap::Subcommand)]
enum Format {
    /// A GGUF file for llama.cpp, Ollama or LM Studio: a model directory
    /// (--model), or a run's adapter merged into its base (--run / --adapter).
    Gguf {
        #[command(flatten)]
        source: Source,
        /// The .gguf file to write.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Tensor type of the weight matrices (norms and biases stay F32).
        #[arg(long = "type", value_enum, default_value = "f16")]
        ty: Quant,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Quant {
    F16,
    #[value(name = "q8_0")]
    Q8_0,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let Format::Gguf { source, out, ty, json } = args.format;
    let ty = match ty {
        Quant::F16 => ExportType::F16,
        Quant::Q8_0 => ExportType::Q8_0,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} tensor {pos}/{len}").expect("valid template"));
    let (model, adapter) = match source.base_and_adapter()? {
        Some((base, adapter)) => {
            eprintln!("merging {} into {} ...", adapter.display(), base.display());
            (base, Some(adapter))
        }
        None => (source.model.context("pass --model DIR, --run RUN_DIR or --adapter DIR")?, None),
    };
    let request = ExportRequest { model, adapter, out: out.clone(), ty };
    let report = super::progress::convert_with_progress(Job::ExportGguf(Box::new(request)), &bar, |event| match event {
        JobEvent::Exported(report) => Some(*report),
        _ => None,
    });
    bar.finish_and_clear();
    let report = report?;
    if super::model::printed_as_json(&report, json)? {
        return Ok(());
    }
    println!("exported {} ({:.1} MB)", out.display(), report.bytes as f64 / 1e6);
    println!("architecture   {}", report.architecture);
    println!("tensors        {}", super::model::type_counts(&report.tensor_types));
    println!(
        "tokenizer      {} tokens, {} model, pre-tokenizer {}{}",
        report.vocab_size,
        report.tokenizer_model,
        report.pre_tokenizer,
        if report.chat_template { ", chat template kept" } else { "" }
    );
    println!("use it with    llama-cli -m {} -cnv", out.display());
    Ok(())
}
