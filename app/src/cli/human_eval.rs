//! `workbench human-eval`: blind human evaluation from the command line.
//! `create` freezes a saved side-by-side comparison's answers into an
//! evaluation folder with Story A's rubric; `results` reads its ratings and
//! prints the rates with 95% Wilson intervals per model and criterion, the
//! pairwise verdicts and the agreement between reviewers.

use std::path::PathBuf;

use anyhow::{Context, Result};
use engine::comparisons::Comparison;
use engine::generate::target::Target;
use engine::human_eval::evaluation::Evaluation;
use engine::human_eval::results::results;
use engine::human_eval::rubric::Rubric;
use engine::human_eval::stats::Rate;

/// Blind human evaluation: create an evaluation, read its results.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Freeze a saved comparison (the Compare tab's `comparisons/*.json`) into an evaluation folder.
    Create {
        /// The saved comparison.
        #[arg(long, value_name = "FILE")]
        comparison: PathBuf,
        /// The evaluation folder to create.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Seeds each reviewer's order and A/B sides.
        #[arg(long, default_value_t = 1)]
        seed: u64,
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
        What::Create { comparison, out, seed } => {
            let c: Comparison = engine::documents::load(&comparison)?;
            let eval = Evaluation::from_comparison(&c, Rubric::story_a(), seed)?;
            eval.create(&out)?;
            println!("evaluation {}: {} items, {} models, Story A's rubric", out.display(), eval.items.len(), eval.models.len());
            Ok(())
        }
        What::Results { dir, json, csv } => {
            let eval = Evaluation::open(&dir)?;
            let ratings = engine::human_eval::ratings::read(&Evaluation::ratings_path(&dir))?;
            if let Some(line) = ratings.torn_last_line {
                eprintln!("warning: line {line} of the ratings file was cut off mid-write (a crash?) and is not counted");
            }
            let r = results(&eval, &ratings.latest());
            if let Some(file) = &csv {
                engine::human_eval::export::ratings_csv(&eval, &ratings.latest(), file)?;
                eprintln!("{} ratings written to {}", ratings.latest().len(), file.display());
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&r)?);
                return Ok(());
            }
            let name = |m: usize| eval.models.get(m).map(Target::label).context("a model index outside the evaluation");
            let shown = |rate: Option<Rate>| {
                rate.map_or_else(
                    || "-".to_string(),
                    |r| format!("{:.0}% [{:.0}-{:.0}%] of {}", r.rate * 100.0, r.low * 100.0, r.high * 100.0, r.n),
                )
            };
            println!("{} ratings by {} reviewer(s)\n", ratings.latest().len(), r.agreement.first().map_or(0, |a| a.reviewers));
            for c in &r.criteria {
                let value = match c.mean {
                    Some(m) => format!("mean {m:.2} of {}", c.n),
                    None => shown(c.rate),
                };
                println!("{:<40} {:<12} {value}", name(c.model)?, c.criterion);
            }
            for p in &r.pairs {
                println!(
                    "\n{} vs {}: first better {}, second better {}, tie {}, both bad {}",
                    name(p.models[0])?,
                    name(p.models[1])?,
                    shown(p.first_wins),
                    shown(p.second_wins),
                    shown(p.ties),
                    shown(p.both_bad)
                );
            }
            for a in &r.agreement {
                let alpha = a.alpha.map_or_else(|| "undefined (one reviewer, or no variance)".into(), |v| format!("{v:.3}"));
                println!("agreement on {}: Krippendorff's alpha {alpha}", a.criterion);
            }
            Ok(())
        }
    }
}
