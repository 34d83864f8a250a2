//! Each model's held-out perplexity beside the human judgement, so a team
//! sees whether the two agree: read from the perplexity tables saved with the
//! runs (`evaluations.json`, [`crate::eval::saved`]). A run's adapter has its
//! own row; a base model takes the base row of a run trained on it. Endpoint
//! models and models never evaluated have none.

use std::path::Path;

use crate::eval::saved::{self, SavedEval};
use crate::generate::target::Target;

/// The newest saved evaluation of the run whose `adapter/` folder is `adapter`.
fn newest(adapter: &Path) -> Option<SavedEval> {
    saved::load(adapter.parent()?).ok()?.pop()
}

/// Held-out perplexity per model of `models` (None where none was measured).
pub fn held_out(models: &[Target]) -> Vec<Option<f64>> {
    models
        .iter()
        .map(|t| match t {
            Target::Local { adapter: Some(a), .. } => newest(a).map(|s| s.adapter.perplexity),
            Target::Local { model, adapter: None, .. } => models.iter().find_map(|other| match other {
                Target::Local { model: m, adapter: Some(a), .. } if m == model => newest(a).map(|s| s.base.perplexity),
                _ => None,
            }),
            Target::Remote { .. } => None,
        })
        .collect()
}
