//! `workbench bench train-step`: one full LoRA training step (forward,
//! backward, AdamW) on the reference shape of `docs/BENCHMARKS.md`, timed over
//! several steps; prints one JSON line (median seconds, tokens/s, peak RSS).
//! `bench/train_step.sh` runs it beside the PyTorch + PEFT reference.

use std::time::Instant;

use anyhow::Result;
use candle_core::DType;
use engine::chat::template::Encoded;
use engine::data::Dataset;
use engine::model::decoder::backprop::accumulate;
use engine::model::{LoraSpec, Model, ModelConfig, Pass};
use engine::train::gradients::GradAccumulator;
use engine::train::optimizer::{AdamW, AdamWParams};
use rand::{Rng, SeedableRng};

/// Benchmark one training step on the reference shape.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Frame time of the Monitor tab with many overlaid runs while a run trains (UI code plus tessellation).
    #[cfg(feature = "gui")]
    GuiFrame {
        /// Overlaid runs.
        #[arg(long, default_value_t = 10)]
        runs: usize,
        /// Metrics records per run.
        #[arg(long, default_value_t = 100_000)]
        points: usize,
        /// Measured frames.
        #[arg(long, default_value_t = 120)]
        frames: usize,
    },
    /// Decoding speed: prefill of a prompt, then greedy tokens with the key/value cache (batch 1).
    Decode {
        /// The model directory (e.g. models/smollm2-135m-instruct).
        #[arg(long, value_name = "DIR")]
        model: std::path::PathBuf,
        /// Prompt length in tokens (the start of a fixed text).
        #[arg(long, default_value_t = 32)]
        prompt_tokens: usize,
        /// Tokens generated (the end of turn is ignored).
        #[arg(long, default_value_t = 128)]
        new_tokens: usize,
        /// Measured generations (after one warm-up).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Quantized weights: q8_0 or q4_0.
        #[arg(long, value_name = "q8_0|q4_0", value_parser = engine::model::decoder::quantize::Quantization::parse)]
        quantize: Option<engine::model::decoder::quantize::Quantization>,
    },
    /// Decoding several sequences together, a token of each per step (every weight read once per step):
    /// aggregate tokens/s and step time per row count.
    DecodeRows {
        /// The model directory (e.g. models/smollm2-135m-instruct).
        #[arg(long, value_name = "DIR")]
        model: std::path::PathBuf,
        /// Row counts to measure.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        rows: Vec<usize>,
        /// Prompt length in tokens (row r starts r tokens into a fixed text, modulo its length).
        #[arg(long, default_value_t = 32)]
        prompt_tokens: usize,
        /// Steps decoded (greedy, the end of turn ignored).
        #[arg(long, default_value_t = 64)]
        new_tokens: usize,
        /// Measured rounds (after one warm-up).
        #[arg(long, default_value_t = 3)]
        rounds: usize,
        /// Quantized weights: q8_0 or q4_0.
        #[arg(long, value_name = "q8_0|q4_0", value_parser = engine::model::decoder::quantize::Quantization::parse)]
        quantize: Option<engine::model::decoder::quantize::Quantization>,
    },
    /// The OpenAI-compatible server under 1, 4 and 16 concurrent streaming clients: throughput, p50 / p99 latency.
    Serve {
        /// The model directory (e.g. models/smollm2-135m-instruct).
        #[arg(long, value_name = "DIR")]
        model: std::path::PathBuf,
        /// Concurrency levels.
        #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
        clients: Vec<usize>,
        /// Requests per level.
        #[arg(long, default_value_t = 32)]
        requests: usize,
        /// Tokens per answer (the end of turn is ignored).
        #[arg(long, default_value_t = 64)]
        max_tokens: usize,
        /// Quantized weights: q8_0 or q4_0.
        #[arg(long, value_name = "q8_0|q4_0", value_parser = engine::model::decoder::quantize::Quantization::parse)]
        quantize: Option<engine::model::decoder::quantize::Quantization>,
    },
    /// Forward + backward + AdamW on vocab 4096, hidden 512, 8 layers (or a real model), LoRA r=16 on all linear layers, batch 8 x 256.
    TrainStep {
        /// A model directory to train instead of the random reference shape (e.g. models/smollm2-135m-instruct).
        #[arg(long, value_name = "DIR")]
        model: Option<std::path::PathBuf>,
        /// Measured steps (after one warm-up step).
        #[arg(long, default_value_t = 5)]
        steps: usize,
        /// Recompute activations in the backward pass.
        #[arg(long)]
        gradient_checkpointing: bool,
        /// Examples per batch.
        #[arg(long, default_value_t = 8)]
        batch: usize,
        /// Tokens per example.
        #[arg(long, default_value_t = 256)]
        seq: usize,
        /// Precision of the frozen weights' products: f32, or bf16 (AMX; f32 where the CPU lacks it, as training does).
        #[arg(long, default_value = "f32")]
        precision: engine::config::Precision,
        /// Where to train: cpu, cuda:N (a build with the `cuda` feature) or metal:N.
        #[arg(long, default_value = "cpu")]
        device: String,
    },
}

/// The reference shape of the performance notes.
fn reference_config() -> ModelConfig {
    let mut c = engine::sample_build::sample_model_config(4096);
    c.hidden_size = 512;
    c.intermediate_size = 1536;
    c.num_hidden_layers = 8;
    c.num_attention_heads = 8;
    c.num_key_value_heads = Some(4);
    c.head_dim = None;
    c
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::TrainStep { model, steps, gradient_checkpointing, batch, seq, precision, device } => {
            train_step(model.as_deref(), steps, gradient_checkpointing, (batch, seq), precision, &device)
        }
        What::Serve { model, clients, requests, max_tokens, quantize } => {
            super::bench_serve::serve(&model, &clients, requests, max_tokens, quantize)
        }
        What::Decode { model, prompt_tokens, new_tokens, rounds, quantize } => decode(&model, prompt_tokens, new_tokens, rounds, quantize),
        What::DecodeRows { model, rows, prompt_tokens, new_tokens, rounds, quantize } => {
            super::bench_rows::decode_rows(&model, &rows, prompt_tokens, new_tokens, rounds, quantize)
        }
        #[cfg(feature = "gui")]
        What::GuiFrame { runs, points, frames } => super::bench_gui::gui_frame(runs, points, frames),
    }
}

/// The text whose first tokens make the benchmark's prompt (the same in `bench/transformers_generate.py`).
pub const DECODE_PROMPT: &str = "The IT help desk answers questions about VPN access, password resets, laptops, printers, \
     e-mail, software licences and the internal wiki. Employees write in short messages, often in a hurry, and expect a \
     clear answer with the exact steps to follow.";

/// The middle value of measurements (the upper middle of an even count).
pub(super) fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn decode(
    dir: &std::path::Path,
    prompt_tokens: usize,
    new_tokens: usize,
    rounds: usize,
    quantize: Option<engine::model::decoder::quantize::Quantization>,
) -> Result<()> {
    use engine::generate::{GenerateRequest, Loaded, SamplingParams};
    let loaded = Loaded::load_with(dir, None, "model", quantize)?;
    let ids = loaded.chat.tokenizer.encode(DECODE_PROMPT, false).map_err(anyhow::Error::msg)?.get_ids().to_vec();
    anyhow::ensure!(ids.len() >= prompt_tokens, "the benchmark text has only {} tokens", ids.len());
    let req = GenerateRequest {
        prompt: ids[..prompt_tokens].to_vec(),
        max_new_tokens: new_tokens,
        sampling: SamplingParams::default(),
        stop: Vec::new(),
        stop_token_ids: Vec::new(),
    };
    let cancel = engine::jobs::CancelFlag::new();
    let mut runs = Vec::new();
    for i in 0..=rounds {
        let g = loaded.generate(&req, &cancel, |_| {})?;
        if i > 0 {
            runs.push(g.stats);
        }
    }
    let median_of = |f: &dyn Fn(&engine::generate::AnswerStats) -> f64| median(runs.iter().map(f).collect());
    let line = serde_json::json!({
        "system": "workbench",
        "model": dir.display().to_string(),
        "weights": quantize.map_or_else(|| "f32".to_string(), |q| q.to_string()),
        "prompt_tokens": prompt_tokens,
        "new_tokens": new_tokens,
        "prefill_s": median_of(&|s| s.time_to_first_token_s),
        "decode_tokens_per_s": median_of(&|s| s.tokens_per_s),
        "peak_rss_bytes": engine::device::peak_rss_bytes(),
        "rss_bytes": engine::device::rss_bytes(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    println!("{line}");
    Ok(())
}

fn train_step(
    model_dir: Option<&std::path::Path>,
    steps: usize,
    gradient_checkpointing: bool,
    (batch, seq): (usize, usize),
    precision: engine::config::Precision,
    device_name: &str,
) -> Result<()> {
    let device = engine::device::open(device_name)?;
    let mut model = match model_dir {
        Some(dir) => Model::load(dir, DType::F32, &device)?,
        None => Model::random(reference_config(), 0, DType::F32, &device)?,
    };
    let vocab = model.config.vocab_size as u32;
    let targets = engine::config::LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
    model.add_lora(&LoraSpec { rank: 16, alpha: 32.0, dropout: 0.0, targets }, 0)?;
    let bf16 = precision == engine::config::Precision::Bf16 && model.use_bf16_products()?;
    let trainable: usize = model.trainable().iter().map(|p| p.var.elem_count()).sum();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0);
    let examples = (0..batch)
        .map(|_| Encoded { ids: (0..=seq).map(|_| rng.random_range(0..vocab)).collect(), trained: vec![true; seq + 1] })
        .collect();
    let ds = Dataset { examples, ..Default::default() };
    let b = ds.batch(&(0..batch).collect::<Vec<_>>(), &device)?;
    let hp = AdamWParams { beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0.0 };
    let mut opt = AdamW::new(model.trainable(), hp)?;
    let mut times = Vec::new();
    for i in 0..=steps {
        let t0 = Instant::now();
        let mut acc = GradAccumulator::new(model.trainable().len());
        accumulate(&model, &b, Pass::Train { seed: i as u64 }, 1.0 / b.n_targets as f64, gradient_checkpointing, &mut acc)?;
        opt.step(&acc.finish(&model)?, 1e-4)?;
        device.synchronize()?;
        if i > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let median = median(times);
    let line = serde_json::json!({
        "system": "workbench (candle)",
        "model": model_dir.map(|d| d.display().to_string()).unwrap_or_else(|| "reference shape".into()),
        "trainable_params": trainable,
        "batch": batch,
        "seq": seq,
        "gradient_checkpointing": gradient_checkpointing,
        "precision": if bf16 { "bf16" } else { "f32" },
        "device": device_name,
        "median_step_s": median,
        "tokens_per_s": (batch * seq) as f64 / median,
        "peak_rss_bytes": engine::device::peak_rss_bytes(),
        "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
    });
    println!("{line}");
    Ok(())
}
