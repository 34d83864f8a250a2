//! Human evaluation (LoRA Workbench engine, the layer above generation and
//! evaluation): blind A/B reviews by several reviewers, a model judge, and
//! the statistics that say what they agree on.
//!
//! - [`human_eval`]: evaluation folders, reviews, ratings, results, judge, packages.

pub mod human_eval;

pub(crate) use workbench_core::{atomic, cancel, documents, error};
pub(crate) use workbench_data::data;
pub(crate) use workbench_eval::eval;
pub(crate) use workbench_generate::{comparisons, generate};
pub(crate) use workbench_runs::runs;
