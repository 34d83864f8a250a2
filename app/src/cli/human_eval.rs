//! `workbench human-eval`: blind human evaluation from the command line.
//! `create` freezes a saved side-by-side comparison's answers into an
//! evaluation folder with Story A's rubric; `results` reads its ratings and
//! prints the rates with 95% Wilson intervals per model and criterion, the
//! pairwise verdicts and the agreement between reviewers.

use std::path::PathBuf;

use anyhow::Result;
use engine::comparisons::Comparison;
use engine::human_eval::evaluation::Evaluation;
use engine::human_eval::results::results;
use engine::human_eval::rubric::Rubric;

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
            println!("{} ratings by {} reviewer(s)\n", ratings.latest().len(), r.agreement.first().map_or(0, |a| a.reviewers));
            let report = r.report(&eval);
            for [model, criterion, value] in &report.rows {
                println!("{model:<40} {criterion:<12} {value}");
            }
            println!();
            for line in report.pairs.iter().chain(&report.agreement) {
                println!("{line}");
            }
            Ok(())
        }
    }
}
