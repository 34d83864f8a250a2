//! Human evaluation (blind A/B rating of answers by several reviewers), as
//! Story A judged its fine-tune: the statistics first.
//!
//! - [`stats`]: Wilson intervals of rates, agreement between reviewers
//!   (Fleiss' kappa, Krippendorff's alpha with missing ratings) and between a
//!   judge and a person (Cohen's kappa), checked against statsmodels and the
//!   krippendorff package.

pub mod stats;
