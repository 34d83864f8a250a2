//! `workbench model import FILE.gguf --out DIR [--dtype f32|bf16]`: a GGUF
//! file (llama.cpp) as a Hugging Face model directory (`engine::model::gguf`).

use std::path::PathBuf;

use anyhow::Result;
use candle_core::DType;
use indicatif::{ProgressBar, ProgressStyle};

/// Bring a model in: convert a GGUF file into a model directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Convert a GGUF file (llama or mistral architecture) into a Hugging Face
    /// model directory: config.json, model.safetensors, tokenizer files.
    Import {
        /// The .gguf file.
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The model directory to write (must not exist, or be empty).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Dtype of the weights written (quantised tensors are dequantised).
        #[arg(long, value_enum, default_value = "f32")]
        dtype: WeightDtype,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum WeightDtype {
    F32,
    Bf16,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let Action::Import { file, out, dtype, json } = args.action;
    let dtype = match dtype {
        WeightDtype::F32 => DType::F32,
        WeightDtype::Bf16 => DType::BF16,
    };
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} tensor {pos}/{len} ETA {eta}").expect("valid template"),
    );
    let report = engine::model::gguf::import(&file, &out, dtype, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let types: Vec<String> = report.tensor_types.iter().map(|(t, n)| format!("{n} {t}")).collect();
    println!("imported {} -> {}", file.display(), out.display());
    println!("architecture   {}", report.architecture);
    println!("tensors        {} in the file ({})", report.tensor_types.values().sum::<usize>(), types.join(", "));
    println!("parameters     {}{}", report.parameters, if report.tied_embeddings { " (output tied to the embedding)" } else { "" });
    println!("vocabulary     {} tokens{}", report.vocab_size, if report.chat_template { ", chat template kept" } else { "" });
    println!("weights        model.safetensors in {}", report.dtype);
    Ok(())
}
