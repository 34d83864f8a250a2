//! Perplexity tables kept with the runs they belong to: each run whose
//! adapter was evaluated gets `evaluations.json` (see
//! [`crate::runs::files::EVALUATIONS`]) with the base row and its own row per
//! held-out file, so the window shows them again after a restart.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::perplexity::EvalRow;
use crate::error::{Error, Result};
use crate::runs::{RunDir, files};

/// One evaluation of a run's adapter on one held-out file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedEval {
    /// The held-out file.
    pub data_file: PathBuf,
    /// Unix time of the evaluation.
    pub unix: i64,
    /// The base model's row.
    pub base: EvalRow,
    /// The run's adapter's row.
    pub adapter: EvalRow,
}

/// The saved evaluations of a run, newest last (none when it has no file).
pub fn load(run_dir: &Path) -> Result<Vec<SavedEval>> {
    let path = run_dir.join(files::EVALUATIONS);
    match std::fs::read_to_string(&path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| Error::run(run_dir, format!("invalid {}: {e}", files::EVALUATIONS))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(Error::io(&path, e)),
    }
}

/// Keeps `rows` (the base first) with every run whose adapter is among them,
/// replacing an earlier evaluation on the same file (atomically).
pub fn save_with_runs(data_file: &Path, rows: &[EvalRow]) -> Result<()> {
    let Some((base, adapters)) = rows.split_first() else { return Ok(()) };
    for row in adapters {
        let Some(run) = row.adapter.as_deref().and_then(owning_run) else { continue };
        let mut saved = load(&run.path)?;
        saved.retain(|s| s.data_file != data_file);
        saved.push(SavedEval {
            data_file: data_file.into(),
            unix: chrono::Utc::now().timestamp(),
            base: base.clone(),
            adapter: row.clone(),
        });
        crate::atomic::write_json(&run.path.join(files::EVALUATIONS), &saved)?;
    }
    Ok(())
}

/// The last table saved for `runs`: the first run's newest evaluation gives
/// the file and the base row, each run adds its row on that file (runs never
/// evaluated on it are left out). None when the first run has none.
pub fn table_for_runs(runs: &[PathBuf]) -> Option<(PathBuf, Vec<EvalRow>)> {
    let newest = load(runs.first()?).ok()?.pop()?;
    let mut rows = vec![newest.base.clone()];
    for run in runs {
        if let Some(s) = load(run).ok()?.into_iter().rev().find(|s| s.data_file == newest.data_file) {
            rows.push(s.adapter);
        }
    }
    Some((newest.data_file, rows))
}

/// The run whose `adapter/` folder `adapter` is.
fn owning_run(adapter: &Path) -> Option<RunDir> {
    let run = RunDir::open(adapter.parent()?).ok()?;
    (run.adapter_dir() == adapter).then_some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(name: &str, adapter: Option<PathBuf>, ppl: f64) -> EvalRow {
        EvalRow { name: name.into(), adapter, loss: ppl.ln(), perplexity: ppl, tokens: 10 }
    }

    #[test]
    fn tables_are_kept_with_their_runs_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let runs: Vec<PathBuf> = ["a", "b"].iter().map(|n| dir.path().join(n)).collect();
        for r in &runs {
            std::fs::create_dir_all(r.join("adapter")).unwrap();
            std::fs::write(r.join(files::CONFIG), "").unwrap();
        }
        let (held_out, other) = (dir.path().join("test.jsonl"), dir.path().join("other.jsonl"));
        let rows =
            vec![row("base", None, 60.0), row("a", Some(runs[0].join("adapter")), 2.0), row("b", Some(runs[1].join("adapter")), 3.0)];
        save_with_runs(&other, &rows).unwrap();
        save_with_runs(&held_out, &rows).unwrap();
        save_with_runs(&held_out, &rows).unwrap();
        assert_eq!(load(&runs[0]).unwrap().len(), 2, "one entry per held-out file");
        let (file, table) = table_for_runs(&runs).unwrap();
        assert_eq!(file, held_out);
        assert_eq!(table, rows);
        assert!(table_for_runs(&[dir.path().join("never")]).is_none());
    }
}
