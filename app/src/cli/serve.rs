//! `workbench serve --model DIR [--lora NAME=DIR ...] [--run RUN ...]`: the
//! OpenAI-compatible server (`engine::serve`) on 127.0.0.1, the base model
//! and each adapter by name, until Ctrl-C; prints the vLLM command that
//! serves the same adapters in production.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use engine::generate::Loaded;
use engine::runs::RunDir;
use engine::serve::{ServeOptions, ServedModel};

/// Serve models over an OpenAI-compatible HTTP API.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The base model directory (default: the first --run's).
    #[arg(long, value_name = "DIR")]
    model: Option<PathBuf>,
    /// The base model's name in requests (default: its folder's name).
    #[arg(long, value_name = "NAME")]
    served_model_name: Option<String>,
    /// A LoRA adapter to serve as NAME (vLLM's --lora-modules NAME=PATH); repeatable.
    #[arg(long, value_name = "NAME=DIR")]
    lora: Vec<String>,
    /// A run whose adapter to serve, named after the run's folder; repeatable.
    #[arg(long, value_name = "RUN_DIR")]
    run: Vec<PathBuf>,
    /// Address to listen on (127.0.0.1: this machine only).
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port (0: any free one).
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Require `Authorization: Bearer KEY` (also read from WORKBENCH_API_KEY).
    #[arg(long, env = "WORKBENCH_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
    /// Chat template: "model", "mistral" or a Jinja file.
    #[arg(long, default_value = "model")]
    chat_template: String,
    /// Serve quantized weights: q8_0 (8-bit, as Story A served) or q4_0 (4-bit).
    #[arg(long, value_name = "q8_0|q4_0", value_parser = engine::model::decoder::quantize::Quantization::parse)]
    quantize: Option<engine::model::decoder::quantize::Quantization>,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let mut adapters: Vec<(String, PathBuf)> = Vec::new();
    for spec in &args.lora {
        let (name, dir) = spec.split_once('=').with_context(|| format!("--lora {spec:?}: write NAME=DIR"))?;
        adapters.push((name.to_string(), PathBuf::from(dir)));
    }
    let mut base_dir = args.model.clone();
    for run in &args.run {
        let run = RunDir::open(run)?;
        let model = run.config()?.model.path;
        if base_dir.as_ref().is_some_and(|b| b.canonicalize().ok() != model.canonicalize().ok()) {
            bail!("run {} fine-tunes {}, not the served base model", run.path.display(), model.display());
        }
        base_dir.get_or_insert(model);
        anyhow::ensure!(run.adapter_dir().is_dir(), "run {} has no adapter yet", run.path.display());
        adapters.push((folder_name(&run.path), run.adapter_dir()));
    }
    let base_dir = base_dir.context("pass --model DIR (or --run RUN_DIR)")?;
    let base_name = args.served_model_name.clone().unwrap_or_else(|| folder_name(&base_dir));
    eprintln!("loading {} ...", base_dir.display());
    let base = Arc::new(Loaded::load_with(&base_dir, None, &args.chat_template, args.quantize)?);
    if let Some(q) = args.quantize {
        eprintln!("weights quantized to {q}");
    }
    let mut models = vec![ServedModel { name: base_name.clone(), loaded: Arc::clone(&base), parent: None }];
    let mut vllm = Vec::new();
    for (name, dir) in &adapters {
        anyhow::ensure!(models.iter().all(|m| &m.name != name), "two models are named {name:?}");
        let loaded = Arc::new(base.with_adapter(dir).with_context(|| format!("adapter {name} ({})", dir.display()))?);
        let rank = engine::adapter::load_config(dir)?.r;
        vllm.push((name.clone(), dir.clone(), rank));
        models.push(ServedModel { name: name.clone(), loaded, parent: Some(base_name.clone()) });
    }
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let server = engine::serve::start(ServeOptions { host: args.host, port: args.port, api_key: args.api_key.clone(), models })?;
    println!("serving {} on http://{}/v1 (OpenAI API: /v1/models, /v1/chat/completions, /v1/completions)", names.join(", "), server.addr);
    if args.api_key.is_some() {
        println!("clients must send Authorization: Bearer <the API key>");
    }
    if let Some(warning) = engine::serve::exposure_warning(server.addr, args.api_key.is_some()) {
        eprintln!("{warning}");
    }
    for (name, dir, rank) in &vllm {
        println!("the same with vLLM: {}", engine::serve::vllm::command(&base_dir, name, dir, *rank));
    }
    println!("Ctrl-C stops it");
    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .context("cannot handle Ctrl-C")?;
    let _ = rx.recv();
    eprintln!("stopping (answers in flight finish first) ...");
    server.stop();
    Ok(())
}

/// The last component of a path.
fn folder_name(dir: &std::path::Path) -> String {
    dir.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())).unwrap_or_else(|| "model".into())
}
