//! Human evaluation (blind A/B rating of answers by several reviewers), as
//! Story A judged its fine-tune: the statistics first.
//!
//! - [`rubric`]: the criteria (binary or points) and the preference, Story A's by default.
//! - [`blind`]: each reviewer's item order and A/B sides, stable per reviewer.
//! - [`ratings`]: the append-only, fsynced ratings file; torn last lines reported; revisions.
//! - [`stats`]: Wilson intervals of rates, agreement between reviewers
//!   (Fleiss' kappa, Krippendorff's alpha with missing ratings) and between a
//!   judge and a person (Cohen's kappa), checked against statsmodels and the
//!   krippendorff package.

pub mod blind;
pub mod ratings;
pub mod rubric;
pub mod stats;
