//! Human evaluation (blind A/B rating of answers by several reviewers), as
//! Story A judged its fine-tune: the statistics first.
//!
//! - [`evaluation`]: prompts, models, settings, rubric and frozen answers, as a folder.
//! - [`judge`]: a model rating the same items with the same rubric, and its agreement with the people.
//! - [`package`]: review packages for reviewers elsewhere, their ratings imported back.
//! - [`perplexity`]: each model's held-out perplexity, from the runs' saved tables.
//! - [`plan`]: generating those answers (a job), every model on every prompt.
//! - [`export`]: the ratings as CSV, models named.
//! - [`rubric`]: the criteria (binary or points) and the preference, Story A's by default.
//! - [`blind`]: each reviewer's item order and A/B sides, stable per reviewer.
//! - [`ratings`]: the append-only, fsynced ratings file; torn last lines reported; revisions.
//! - [`review`]: one reviewer's session: order, sides, names revealed once rated, no double rating.
//! - [`results`]: rates per model and criterion, pairwise verdicts, rankings, agreement per criterion.
//! - [`ranking`]: Bradley-Terry strengths with bootstrap intervals, on the Elo scale.
//! - [`bootstrap`]: percentile bootstrap intervals (means of scales, strengths).
//! - [`stats`]: Wilson intervals of rates, agreement between reviewers
//!   (Fleiss' kappa, Krippendorff's alpha with missing ratings) and between a
//!   judge and a person (Cohen's kappa), checked against statsmodels and the
//!   krippendorff package.

pub mod blind;
pub mod bootstrap;
pub mod evaluation;
pub mod export;
pub mod judge;
pub mod package;
pub mod perplexity;
pub mod plan;
pub mod ranking;
pub mod ratings;
pub mod results;
pub mod review;
pub mod rubric;
pub mod stats;
