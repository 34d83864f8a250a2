//! The ratings as CSV, one row per rating, with the models named (the blind
//! sides resolved): for a spreadsheet or a statistics package.

use std::path::Path;

use super::evaluation::Evaluation;
use super::ratings::Rating;
use super::rubric::Verdict;
use crate::error::{Error, Result};

/// The file [`evaluation_csv`] writes in an evaluation folder.
pub const CSV_FILE: &str = "ratings.csv";

/// Writes the latest ratings of the evaluation in `dir` to `dir/ratings.csv`
/// ([`ratings_csv`]); returns the file and how many ratings it holds.
pub fn evaluation_csv(dir: &Path) -> Result<(std::path::PathBuf, usize)> {
    let eval = Evaluation::open(dir)?;
    let ratings = super::ratings::read(&Evaluation::ratings_path(dir))?;
    let latest = ratings.latest();
    let file = dir.join(CSV_FILE);
    ratings_csv(&eval, &latest, &file)?;
    Ok((file, latest.len()))
}

/// Writes `ratings` of `eval` to `path` (atomically): reviewer, item,
/// question, the two models, which was shown as A, each criterion's score of
/// each model, the verdict in model terms, the comment and the time.
pub fn ratings_csv(eval: &Evaluation, ratings: &[&Rating], path: &Path) -> Result<()> {
    let err = |e: csv::Error| Error::File { path: path.into(), message: e.to_string() };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = ["reviewer", "item", "question", "first_model", "second_model", "shown_as_a"].map(String::from).to_vec();
    for c in &eval.rubric.criteria {
        header.push(format!("{}_first", c.name));
        header.push(format!("{}_second", c.name));
    }
    header.extend(["verdict", "comment", "unix"].map(String::from));
    w.write_record(&header).map_err(err)?;
    for r in ratings {
        let Some(item) = eval.items.get(r.item) else { continue };
        let [first, second] = r.scores_in_item_order();
        let mut row = vec![
            r.reviewer.clone(),
            r.item.to_string(),
            item.prompt.question_text().to_string(),
            eval.model_name(item.models[0]),
            eval.model_name(item.models[1]),
            if r.first_is_a { "first" } else { "second" }.to_string(),
        ];
        for c in &eval.rubric.criteria {
            let score = |s: &std::collections::BTreeMap<String, u8>| s.get(&c.name).map_or_else(String::new, u8::to_string);
            row.push(score(first));
            row.push(score(second));
        }
        let verdict = match r.verdict_in_item_order() {
            Some(Verdict::A) => "first",
            Some(Verdict::B) => "second",
            Some(Verdict::Tie) => "tie",
            Some(Verdict::BothBad) => "both_bad",
            None => "",
        };
        row.extend([verdict.to_string(), r.comment.clone(), r.unix.to_string()]);
        w.write_record(&row).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::File { path: path.into(), message: e.to_string() })?;
    crate::atomic::write(path, &bytes)
}
