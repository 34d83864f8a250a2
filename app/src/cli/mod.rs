//! Subcommands of the `workbench` binary.

mod bench;
#[cfg(feature = "gui")]
mod bench_gui;
mod bench_rows;
mod bench_serve;
mod data;
mod demo;
mod estimate;
pub mod eval;
mod export;
mod generate;
mod human_eval;
mod merge;
mod model;
mod progress;
mod remote;
mod sample;
mod serve;
mod train;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// The window's tabs by the names `--tab` takes (`gui::Tab::parse` reads them).
pub const TAB_NAMES: [&str; 8] = ["configure", "monitor", "data", "evaluate", "chat", "compare", "review", "remote"];

/// LoRA Workbench: prepare, run, watch and judge LoRA fine-tuning of chat models.
#[derive(Debug, Parser)]
#[command(name = "workbench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Folder of run directories the window lists and launches into
    /// (default: the one used last time, else `runs`).
    #[arg(long, value_name = "DIR")]
    runs_dir: Option<PathBuf>,
    /// Open the window on this tab.
    #[arg(long, value_parser = TAB_NAMES)]
    tab: Option<String>,
    /// Open the window editing this config file (TOML).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fine-tune the shipped sample model with the sample config, then print base vs tuned perplexity.
    Demo(demo::Args),
    /// Train a LoRA adapter (or the full model) from a config, or resume a run.
    Train(train::Args),
    /// Perplexity of the base model and of adapters on a held-out set, as a table.
    Eval(eval::Args),
    /// Fold a run's LoRA adapter into its base model: a full model directory.
    Merge(merge::Args),
    /// Generate an answer with a model or a fine-tune (adapter applied), streamed.
    Generate(generate::Args),
    /// Serve models over an OpenAI-compatible API (base and LoRA adapters by name), like vLLM.
    Serve(serve::Args),
    /// Export a model (or a run's merged fine-tune) for other tools: `export gguf`.
    Export(export::Args),
    /// Estimate memory for a config before launch, with advice when it will not fit.
    Estimate(estimate::Args),
    /// Check, preview and measure a JSONL conversation file.
    Data(data::Args),
    /// Blind human evaluation: freeze a comparison's answers, read the ratings' results.
    HumanEval(human_eval::Args),
    /// Train on a Slurm cluster over SSH: profiles, submit, watch, cancel, fetch.
    Remote(remote::Args),
    /// Rebuild the shipped sample tokenizer and base model.
    Sample(sample::Args),
    /// Bring a model in: `model import FILE.gguf --out DIR` converts a GGUF file.
    Model(model::Args),
    /// Benchmark one training step on the reference shape.
    Bench(bench::Args),
}

/// Runs the parsed command line; no subcommand opens the window.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let Some(command) = cli.command else {
        #[cfg(feature = "gui")]
        return crate::gui::run(crate::gui::WindowOptions {
            runs_dir: cli.runs_dir,
            sample_dir: sample_dir(),
            tab: crate::gui::Tab::parse(cli.tab.as_deref()),
            config: cli.config,
        });
        #[cfg(not(feature = "gui"))]
        anyhow::bail!("this build has no window (built without the `gui` feature); run `workbench --help` for the commands");
    };
    match command {
        Command::Demo(a) => demo::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Estimate(a) => estimate::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Export(a) => export::run(a),
        Command::Generate(a) => generate::run(a),
        Command::Serve(a) => serve::run(a),
        Command::Data(a) => data::run(a),
        Command::HumanEval(a) => human_eval::run(a),
        Command::Remote(a) => remote::run(a),
        Command::Sample(a) => sample::run(a),
        Command::Model(a) => model::run(a),
        Command::Bench(a) => bench::run(a),
    }
}

/// The repository's `sample_data/` folder: next to the current directory, or
/// where the binary was built from.
pub fn sample_dir() -> PathBuf {
    let here = PathBuf::from("sample_data");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../sample_data")
}
