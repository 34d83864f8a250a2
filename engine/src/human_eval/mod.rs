//! Human evaluation (blind A/B rating of answers by several reviewers), as
//! Story A judged its fine-tune: the statistics first.
//!
//! - [`evaluation`]: prompts, models, settings, rubric and frozen answers, as a folder.
//! - [`export`]: the ratings as CSV, models named.
//! - [`rubric`]: the criteria (binary or points) and the preference, Story A's by default.
//! - [`blind`]: each reviewer's item order and A/B sides, stable per reviewer.
//! - [`ratings`]: the append-only, fsynced ratings file; torn last lines reported; revisions.
//! - [`review`]: one reviewer's session: order, sides, names revealed once rated, no double rating.
//! - [`results`]: rates per model and criterion, pairwise verdicts, agreement per criterion.
//! - [`stats`]: Wilson intervals of rates, agreement between reviewers
//!   (Fleiss' kappa, Krippendorff's alpha with missing ratings) and between a
//!   judge and a person (Cohen's kappa), checked against statsmodels and the
//!   krippendorff package.

pub mod blind;
pub mod evaluation;
pub mod export;
pub mod ratings;
pub mod results;
pub mod review;
pub mod rubric;
pub mod stats;
