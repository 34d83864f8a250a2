//! `workbench human-eval`: blind human evaluation from the command line.
//! `create` has every model answer every prompt of a data file (an engine
//! job, with a progress bar) or takes a saved side-by-side comparison's
//! answers, and freezes them into an evaluation folder with a rubric (Story
//! A's by default; `rubric` prints it to edit); `results` reads its ratings
//! and prints the rates with 95% intervals per model and criterion, the
//! pairwise verdicts, the ranking, and the agreement between reviewers.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use engine::comparisons::Comparison;
use engine::generate::target::{AnswerSettings, Target};
use engine::human_eval::evaluation::Evaluation;
use engine::human_eval::judge::JudgeRequest;
use engine::human_eval::plan::Plan;
use engine::human_eval::results::{Loaded, Results};
use engine::human_eval::rubric::Rubric;
use engine::jobs::{Job, JobEvent};
use engine::remote::Endpoint;
use indicatif::{ProgressBar, ProgressStyle};

/// Blind human evaluation: create an evaluation, read its results.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Generate every model's answer to every prompt (or take a saved comparison's) into a new evaluation folder.
    Create {
        /// The evaluation folder to create.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Prompts: a JSONL data file (e.g. the held-out split); each conversation's last answer is kept as its reference.
        #[arg(long, value_name = "FILE", required_unless_present = "comparison")]
        prompts: Option<PathBuf>,
        /// A model to compare (two or more): a run directory (its adapter), a model directory (the base), or URL#MODEL_ID on an OpenAI-compatible server.
        #[arg(long = "model", value_name = "RUN|DIR|URL#ID")]
        models: Vec<String>,
        /// Use only the first N prompts.
        #[arg(long)]
        limit: Option<usize>,
        /// A system message for every prompt.
        #[arg(long, default_value = "")]
        system: String,
        /// Most tokens per answer (greedy decoding).
        #[arg(long, default_value_t = 256)]
        max_new_tokens: usize,
        /// Instead of generating: freeze a saved comparison (the Compare tab's `comparisons/*.json`).
        #[arg(long, value_name = "FILE", conflicts_with_all = ["prompts", "models"])]
        comparison: Option<PathBuf>,
        /// The rubric (TOML, as `human-eval rubric` prints); default: Story A's.
        #[arg(long, value_name = "FILE")]
        rubric: Option<PathBuf>,
        /// Title shown to reviewers (default: the folder's name).
        #[arg(long)]
        title: Option<String>,
        /// Seeds each reviewer's order and A/B sides.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// API key for endpoint models (else $OPENAI_API_KEY).
        #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
    /// Have a model rate every item with the rubric, as an automatic judge (its ratings go to judge.jsonl).
    Judge {
        /// The evaluation folder.
        dir: PathBuf,
        /// The judge: a run directory, a model directory, or URL#MODEL_ID on an OpenAI-compatible server.
        #[arg(long, value_name = "RUN|DIR|URL#ID")]
        model: String,
        /// Most tokens per verdict.
        #[arg(long, default_value_t = 256)]
        max_new_tokens: usize,
        /// API key for an endpoint (else $OPENAI_API_KEY).
        #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true)]
        api_key: Option<String>,
    },
    /// Print Story A's rubric as TOML, to edit and pass to `create --rubric`.
    Rubric,
    /// Write report.md with its charts (rates.png, ranking.png), ready to paste into a review document.
    Report {
        /// The evaluation folder.
        dir: PathBuf,
        /// Where to write it (default: the evaluation's report/ folder).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Write a review package for a reviewer on another machine: items and rubric, no model names.
    Package {
        /// The evaluation folder.
        dir: PathBuf,
        /// The package folder to create (send it; they open it in their Review tab).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Import a reviewer's ratings: their review package folder, or its ratings.jsonl.
    Import {
        /// The evaluation folder.
        dir: PathBuf,
        /// Their package folder or ratings file.
        from: PathBuf,
        /// Where they rated an item differently from a rating here, take theirs (as a revision).
        #[arg(long)]
        replace: bool,
    },
    /// Rates per model and criterion with 95% intervals, pairwise verdicts, agreement.
    Results {
        /// The evaluation folder.
        dir: PathBuf,
        /// Print JSON instead of tables.
        #[arg(long)]
        json: bool,
        /// Also write every rating to this CSV file (one row per rating, models named).
        #[arg(long, value_name = "FILE")]
        csv: Option<PathBuf>,
    },
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Create { out, prompts, models, limit, system, max_new_tokens, comparison, rubric, title, seed, api_key } => {
            let rubric = match &rubric {
                Some(file) => Rubric::load(file)?,
                None => Rubric::story_a(),
            };
            let eval = match (comparison, prompts) {
                (Some(file), _) => {
                    let c: Comparison = engine::documents::load(&file)?;
                    let eval = Evaluation::from_comparison(&c, rubric, seed)?;
                    eval.create(&out)?;
                    eval
                }
                (None, Some(file)) => {
                    let mut prompts = engine::comparisons::prompts_from_file(&file)?;
                    prompts.truncate(limit.unwrap_or(usize::MAX));
                    let models = models.iter().map(|m| target(m, api_key.as_deref())).collect::<Result<Vec<_>>>()?;
                    let title = title.unwrap_or_else(|| out.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned()));
                    let settings = AnswerSettings { max_new_tokens, ..Default::default() };
                    let plan = Plan { title, prompts, models, system, settings, rubric, seed, out: out.clone() };
                    generate(plan)?
                }
                (None, None) => bail!("pass --prompts FILE with two or more --model, or --comparison FILE"),
            };
            println!(
                "evaluation {}: {} items, {} models; review it in the window's Review tab",
                out.display(),
                eval.items.len(),
                eval.models.len()
            );
            Ok(())
        }
        What::Report { dir, out } => {
            let out = out.unwrap_or_else(|| dir.join("report"));
            let file = crate::eval_report::write(&dir, &out)?;
            println!("report: {}", file.display());
            Ok(())
        }
        What::Package { dir, out } => {
            let p = engine::human_eval::package::export(&dir, &out)?;
            println!(
                "review package {}: {} items, model names left out; the reviewer opens it in the Review tab and sends back {}",
                out.display(),
                p.items.len(),
                Evaluation::ratings_path(&out).display()
            );
            Ok(())
        }
        What::Import { dir, from, replace } => {
            let got = engine::human_eval::package::import(&dir, &from, replace)?;
            if let Some(line) = got.torn_last_line {
                eprintln!("warning: line {line} of their ratings file was cut off mid-write and is not imported");
            }
            for c in &got.conflicts {
                eprintln!("conflict: {c}");
            }
            println!(
                "{} ratings added, {} replaced, {} already here, {} conflicts{}",
                got.added,
                got.replaced,
                got.duplicates,
                got.conflicts.len(),
                if got.conflicts.is_empty() { "" } else { " (import again with --replace to take theirs)" }
            );
            Ok(())
        }
        What::Judge { dir, model, max_new_tokens, api_key } => {
            let judge = target(&model, api_key.as_deref())?;
            let items = Evaluation::open(&dir)?.items.len();
            let settings = AnswerSettings { max_new_tokens, ..Default::default() };
            let req = JudgeRequest { dir: dir.clone(), judge, settings };
            let Some(JobEvent::Judged(j)) = with_progress(Job::Judge(Box::new(req)), "item", items)? else {
                bail!("the judge stopped without a result")
            };
            for line in &j.unreadable {
                eprintln!("unreadable: {line}");
            }
            println!(
                "{} rated {} of {items} items ({} replies unreadable); `human-eval results {}` compares it with the reviewers",
                j.reviewer,
                j.rated,
                j.unreadable.len(),
                dir.display()
            );
            Ok(())
        }
        What::Rubric => {
            print!("{}", toml::to_string_pretty(&Rubric::story_a())?);
            Ok(())
        }
        What::Results { dir, json, csv } => {
            let Loaded { eval, ratings, results: r } = Results::load(&dir)?;
            if let Some(line) = ratings.torn_last_line {
                eprintln!("warning: line {line} of the ratings file was cut off mid-write (a crash?) and is not counted");
            }
            if let Some(file) = &csv {
                engine::human_eval::export::ratings_csv(&eval, &ratings.latest(), file)?;
                eprintln!("{} ratings written to {}", ratings.latest().len(), file.display());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            println!("{} ratings by {} reviewer(s)\n", ratings.latest().len(), r.agreement.first().map_or(0, |a| a.reviewers));
            let report = r.report(&eval);
            for [model, criterion, value] in &report.rows {
                println!("{model:<40} {criterion:<12} {value}");
            }
            for (heading, lines) in report.sections() {
                println!("\n{heading}");
                for line in lines {
                    println!("  {line}");
                }
            }
            Ok(())
        }
    }
}

/// A model named on the command line: `URL#ID` on a server, a run directory
/// (its adapter on its base), or a model directory (the base, its own chat template).
fn target(spec: &str, api_key: Option<&str>) -> Result<Target> {
    if let Some((url, model)) = spec.split_once('#').filter(|(u, _)| u.starts_with("http://") || u.starts_with("https://")) {
        return Ok(Target::Remote { endpoint: Endpoint::new(url, api_key.unwrap_or("")), model: model.into() });
    }
    let path = Path::new(spec);
    if path.join(engine::runs::files::CONFIG).is_file() {
        return Ok(Target::run(path)?);
    }
    if path.join("config.json").is_file() {
        return Ok(Target::base(path, "model"));
    }
    bail!("--model {spec}: not a run directory (config.toml), a model directory (config.json) or URL#MODEL_ID")
}

/// Runs the plan as an engine job with a progress bar; the evaluation it wrote.
fn generate(plan: Plan) -> Result<Evaluation> {
    plan.check()?;
    let (out, total) = (plan.out.clone(), plan.answers());
    with_progress(Job::CreateEvaluation(Box::new(plan)), "answer", total)?;
    Evaluation::open(&out).context("reading the evaluation just written")
}

/// Runs `job` on a fresh engine with a progress bar of `total` `unit`s; its
/// result event (an error if it failed or was cancelled).
fn with_progress(job: Job, unit: &str, total: usize) -> Result<Option<JobEvent>> {
    let bar = ProgressBar::new(total as u64);
    let style = format!("{{spinner}} [{{elapsed_precise}}] {{bar:30}} {unit} {{pos}}/{{len}} ETA {{eta}}");
    bar.set_style(ProgressStyle::with_template(&style).expect("valid template"));
    let (mut failed, mut result) = (None, None);
    super::progress::run_job(
        |engine| engine.start(job).map_err(anyhow::Error::msg),
        |event| {
            match event {
                JobEvent::Progress { done, .. } => bar.set_position(done as u64),
                JobEvent::Failed(e) => failed = Some(e),
                JobEvent::Cancelled => failed = Some("cancelled".into()),
                other => result = Some(other),
            }
            Ok(())
        },
    )?;
    if let Some(e) = failed {
        bar.abandon();
        bail!(e);
    }
    bar.finish();
    Ok(result)
}
