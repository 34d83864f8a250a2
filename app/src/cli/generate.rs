//! `workbench generate --model DIR [--adapter DIR | --run RUN] --prompt TEXT`:
//! one answer from a base model or a fine-tune (adapter applied unmerged),
//! streamed to stdout as it is generated, then its speed on stderr; an engine
//! job (`engine::generate`), so Ctrl-C stops it cleanly.

use std::io::Write;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use engine::data::conversation::{Message, Role};
use engine::generate::{Generation, Loaded, SamplingParams};
use engine::jobs::{Job, JobEvent};
use engine::runs::RunDir;

use super::merge::Source;

/// Generate an answer with a model (and an adapter), streamed.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    source: Source,
    /// The user's message (rendered with the chat template), or with --raw the prompt text itself.
    #[arg(long)]
    prompt: String,
    /// A system message before it.
    #[arg(long)]
    system: Option<String>,
    /// Use the prompt as it is, without the chat template (a base model's
    /// continuation); the tokenizer adds its BOS where it adds one.
    #[arg(long)]
    raw: bool,
    /// Chat template: "model" (its own, else its family's), "mistral" or a Jinja file (default: the run's, else "model").
    #[arg(long, value_name = "model|mistral|FILE")]
    chat_template: Option<String>,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    max_new_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Nucleus sampling: keep the most likely tokens up to this probability.
    #[arg(long, default_value_t = 1.0)]
    top_p: f64,
    /// Keep only this many most likely tokens (0: all).
    #[arg(long, default_value_t = 0)]
    top_k: usize,
    /// Drop tokens less likely than this times the most likely one.
    #[arg(long, default_value_t = 0.0)]
    min_p: f64,
    /// Penalise tokens already seen (1: off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f64,
    /// Seed for sampling (repeatable answers).
    #[arg(long)]
    seed: Option<u64>,
    /// A string that ends the answer (repeatable).
    #[arg(long)]
    stop: Vec<String>,
    /// Go on past the end-of-turn tokens until --max-new-tokens (fixed-length answers, as vLLM's ignore_eos).
    #[arg(long)]
    ignore_eos: bool,
    /// Quantize the weights for inference: q8_0 (8-bit) or q4_0 (4-bit).
    #[arg(long, value_name = "q8_0|q4_0", value_parser = engine::model::decoder::quantize::Quantization::parse)]
    quantize: Option<engine::model::decoder::quantize::Quantization>,
    /// Print the finished generation as JSON instead of streaming it.
    #[arg(long)]
    json: bool,
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let (model_dir, adapter, run_template) = match args.source.base_and_adapter()? {
        Some((base, adapter)) => {
            let template = match &args.source.run {
                Some(run) => Some(RunDir::open(run)?.config()?.data.chat_template),
                None => None,
            };
            (base, Some(adapter), template)
        }
        None => (args.source.model.clone().context("pass --model DIR, --run RUN_DIR or --adapter DIR")?, None, None),
    };
    let template = args.chat_template.clone().or(run_template).unwrap_or_else(|| "model".into());
    eprintln!("loading {}{} ...", model_dir.display(), adapter.as_ref().map(|a| format!(" + {}", a.display())).unwrap_or_default());
    let loaded = Arc::new(Loaded::load_with(&model_dir, adapter.as_deref(), &template, args.quantize)?);
    let sampling = SamplingParams {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        min_p: args.min_p,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
    };
    let mut request = if args.raw {
        // With the tokenizer's own special tokens (a BOS where it adds one), as transformers and llama.cpp encode a prompt.
        let prompt = loaded.chat.tokenizer.encode(args.prompt.as_str(), true).map_err(anyhow::Error::msg)?.get_ids().to_vec();
        engine::generate::GenerateRequest {
            prompt,
            max_new_tokens: args.max_new_tokens,
            sampling,
            stop: args.stop,
            stop_token_ids: loaded.stop_token_ids.clone(),
        }
    } else {
        let mut messages = Vec::new();
        if let Some(system) = args.system {
            messages.push(Message { role: Role::System, content: system });
        }
        messages.push(Message { role: Role::User, content: args.prompt });
        loaded.chat_request(&messages, args.max_new_tokens, sampling, args.stop)?
    };
    if args.ignore_eos {
        request.stop_token_ids.clear();
    }
    let mut result: Option<Generation> = None;
    let mut failure = None;
    let stdout = std::io::stdout();
    super::progress::run_job(
        |engine| engine.start(Job::Generate(Arc::clone(&loaded), Box::new(request))).map_err(anyhow::Error::msg),
        |event| {
            match event {
                JobEvent::Text(t) if !args.json => {
                    let mut out = stdout.lock();
                    write!(out, "{t}")?;
                    out.flush()?;
                }
                JobEvent::Generated(g) => result = Some(*g),
                JobEvent::Failed(e) => failure = Some(e),
                _ => {}
            }
            Ok(())
        },
    )?;
    if let Some(e) = failure {
        bail!(e);
    }
    let g = result.context("the generation ended without a result")?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&g)?);
    } else {
        println!();
        eprintln!(
            "[{} prompt tokens, {} generated, finish: {}, first token after {:.2} s, {:.1} tokens/s]",
            g.stats.prompt_tokens,
            g.tokens.len(),
            serde_json::to_value(g.stats.finish_reason)?.as_str().unwrap_or("?"),
            g.stats.time_to_first_token_s,
            g.stats.tokens_per_s
        );
    }
    Ok(())
}
