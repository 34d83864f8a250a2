//! Each model's held-out perplexity beside the human judgement, so a team
//! sees whether the two agree: read from the perplexity tables saved with the
//! runs (`evaluations.json`, [`crate::eval::saved`]). A run's adapter has its
//! own row; a base model takes the base row of a run trained on it; the
//! newest table on the run's own held-out file (`data.test_file`) counts,
//! else the newest. Endpoint models and models never evaluated have none. An
//! evaluation records them when its answers are generated, so they travel
//! with the folder.

use std::path::Path;

use crate::eval::saved::{self, SavedEval};
use crate::generate::target::Target;

/// The saved evaluation of the run whose `adapter/` folder is `adapter`:
/// the newest on its held-out file, else the newest.
fn newest(adapter: &Path) -> Option<SavedEval> {
    let run = adapter.parent()?;
    let mut all = saved::load(run).ok()?;
    let test_file = crate::runs::RunDir::open(run).ok().and_then(|r| r.config().ok()).and_then(|c| c.data.test_file);
    match all.iter().rposition(|s| Some(&s.data_file) == test_file.as_ref()) {
        Some(i) => Some(all.swap_remove(i)),
        None => all.pop(),
    }
}

/// Whether two paths name the same folder (one may be relative, the other absolute).
fn same_file(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

/// Held-out perplexity per model of `models` (None where none was measured).
pub fn held_out(models: &[Target]) -> Vec<Option<f64>> {
    models
        .iter()
        .map(|t| match t {
            Target::Local { adapter: Some(a), .. } => newest(a).map(|s| s.adapter.perplexity),
            Target::Local { model, adapter: None, .. } => models.iter().find_map(|other| match other {
                Target::Local { model: m, adapter: Some(a), .. } if same_file(m, model) => newest(a).map(|s| s.base.perplexity),
                _ => None,
            }),
            Target::Remote { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::eval::EvalRow;
    use workbench_generate::remote::Endpoint;

    #[test]
    fn each_model_takes_its_runs_saved_perplexity_and_a_base_the_base_row() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir_all(run.join("adapter")).unwrap();
        std::fs::write(run.join(crate::runs::files::CONFIG), "").unwrap();
        let row = |name: &str, adapter: Option<PathBuf>, ppl: f64| EvalRow {
            name: name.into(),
            adapter,
            loss: ppl.ln(),
            perplexity: ppl,
            tokens: 10,
        };
        saved::save_with_runs(&dir.path().join("test.jsonl"), &[row("base", None, 12.8), row("run", Some(run.join("adapter")), 7.7)])
            .unwrap();
        let base = PathBuf::from("/m/mistral");
        let models = [
            Target::Local { model: base.clone(), adapter: None, chat_template: "model".into(), name: "mistral".into() },
            Target::Local { model: base, adapter: Some(run.join("adapter")), chat_template: "model".into(), name: "run".into() },
            Target::Local { model: "/m/other".into(), adapter: None, chat_template: "model".into(), name: "other".into() },
            Target::Remote { endpoint: Endpoint::new("http://127.0.0.1:1", ""), model: "x".into() },
        ];
        assert_eq!(held_out(&models), [Some(12.8), Some(7.7), None, None]);
    }
}
