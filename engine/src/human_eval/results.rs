//! What the ratings say: per model and criterion, the rate of "yes" with a
//! 95% Wilson interval (binary criteria, as Story A's 92% against 61%) or the
//! mean (points); per pair of models, wins, ties and "both bad" with
//! intervals; and per criterion, how far reviewers agree (Krippendorff's
//! alpha over every rated answer, missing ratings allowed).

use serde::Serialize;

use super::evaluation::Evaluation;
use super::ratings::Rating;
use super::rubric::{Scale, Verdict};
use super::stats::{Rate, Z95, krippendorff_alpha_nominal, wilson};

/// One model on one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionResult {
    /// The model (index into the evaluation's models).
    pub model: usize,
    /// The criterion's name.
    pub criterion: String,
    /// Binary criteria: the rate of "yes" with its interval.
    pub rate: Option<Rate>,
    /// Points criteria: the mean score.
    pub mean: Option<f64>,
    /// Scores counted.
    pub n: usize,
}

/// Verdicts between two models.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairResult {
    /// The two models (indices), as in the items.
    pub models: [usize; 2],
    /// The first model judged better.
    pub first_wins: Option<Rate>,
    /// The second model judged better.
    pub second_wins: Option<Rate>,
    /// Equally good.
    pub ties: Option<Rate>,
    /// Neither acceptable.
    pub both_bad: Option<Rate>,
}

/// Agreement between reviewers on one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// The criterion's name.
    pub criterion: String,
    /// Krippendorff's alpha (nominal); None when undefined (one reviewer, no variance).
    pub alpha: Option<f64>,
    /// Reviewers who rated.
    pub reviewers: usize,
}

/// Everything the results view and report show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    /// Per model and criterion.
    pub criteria: Vec<CriterionResult>,
    /// Per pair of models compared.
    pub pairs: Vec<PairResult>,
    /// Per criterion.
    pub agreement: Vec<Agreement>,
}

/// A rate as the reports show it: "92% [85-96%] of 100", or "-" without ratings.
pub fn describe(rate: Option<Rate>) -> String {
    rate.map_or_else(|| "-".to_string(), |r| format!("{:.0}% [{:.0}-{:.0}%] of {}", r.rate * 100.0, r.low * 100.0, r.high * 100.0, r.n))
}

/// [`Results`] as text, for the CLI and the window alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Model name, criterion, its rate or mean: one row per model and criterion.
    pub rows: Vec<[String; 3]>,
    /// One line per pair of models: how often each was better, ties, both bad.
    pub pairs: Vec<String>,
    /// One line per criterion: the reviewers' agreement.
    pub agreement: Vec<String>,
}

impl Results {
    /// The results as text, models named from `eval`.
    pub fn report(&self, eval: &Evaluation) -> Report {
        let rows = self
            .criteria
            .iter()
            .map(|c| {
                let value = c.mean.map_or_else(|| describe(c.rate), |m| format!("mean {m:.2} of {}", c.n));
                [eval.model_name(c.model), c.criterion.clone(), value]
            })
            .collect();
        let pairs = self
            .pairs
            .iter()
            .map(|p| {
                format!(
                    "{} vs {}: first better {}, second better {}, tie {}, both bad {}",
                    eval.model_name(p.models[0]),
                    eval.model_name(p.models[1]),
                    describe(p.first_wins),
                    describe(p.second_wins),
                    describe(p.ties),
                    describe(p.both_bad)
                )
            })
            .collect();
        let agreement = self
            .agreement
            .iter()
            .map(|a| {
                let alpha = a.alpha.map_or_else(|| "undefined (one reviewer, or no variance)".into(), |v| format!("{v:.3}"));
                format!("agreement on {} ({} reviewers): Krippendorff's alpha {alpha}", a.criterion, a.reviewers)
            })
            .collect();
        Report { rows, pairs, agreement }
    }
}

/// The model whose answer a rating's "A" (or "B") side was.
fn model_of(eval: &Evaluation, r: &Rating, side_a: bool) -> Option<usize> {
    let item = eval.items.get(r.item)?;
    Some(if side_a == r.first_is_a { item.models[0] } else { item.models[1] })
}

/// The results of `ratings` (the latest per reviewer and item) on `eval`.
pub fn results(eval: &Evaluation, ratings: &[&Rating]) -> Results {
    let mut criteria = Vec::new();
    for model in 0..eval.models.len() {
        for c in &eval.rubric.criteria {
            let scores: Vec<u8> = ratings
                .iter()
                .flat_map(|r| [(true, &r.scores_a), (false, &r.scores_b)].map(|(a, s)| (model_of(eval, r, a), s.get(&c.name).copied())))
                .filter_map(|(m, v)| (m == Some(model)).then_some(v).flatten())
                .collect();
            let n = scores.len();
            let (rate, mean) = match c.scale {
                Scale::Binary { .. } => (wilson(scores.iter().filter(|v| **v == 1).count(), n, Z95), None),
                Scale::Points { .. } => (None, (n > 0).then(|| scores.iter().map(|&v| f64::from(v)).sum::<f64>() / n as f64)),
            };
            criteria.push(CriterionResult { model, criterion: c.name.clone(), rate, mean, n });
        }
    }
    let mut pairs: Vec<[usize; 2]> = eval.items.iter().map(|i| i.models).collect();
    pairs.sort_unstable();
    pairs.dedup();
    let pairs = pairs
        .into_iter()
        .map(|models| {
            // Each verdict turned into "first", "second", tie or both bad.
            let verdicts: Vec<Verdict> = ratings
                .iter()
                .filter(|r| eval.items.get(r.item).is_some_and(|i| i.models == models))
                .filter_map(|r| {
                    r.verdict.map(|v| match v {
                        Verdict::A if r.first_is_a => Verdict::A,
                        Verdict::A => Verdict::B,
                        Verdict::B if r.first_is_a => Verdict::B,
                        Verdict::B => Verdict::A,
                        other => other,
                    })
                })
                .collect();
            let share = |v: Verdict| wilson(verdicts.iter().filter(|x| **x == v).count(), verdicts.len(), Z95);
            PairResult {
                models,
                first_wins: share(Verdict::A),
                second_wins: share(Verdict::B),
                ties: share(Verdict::Tie),
                both_bad: share(Verdict::BothBad),
            }
        })
        .collect();
    let mut reviewers: Vec<&str> = ratings.iter().map(|r| r.reviewer.as_str()).collect();
    reviewers.sort_unstable();
    reviewers.dedup();
    let agreement = eval
        .rubric
        .criteria
        .iter()
        .map(|c| {
            // Units: each (item, side of the first model); one row per reviewer.
            let units = eval.items.len() * 2;
            let table: Vec<Vec<Option<usize>>> = reviewers
                .iter()
                .map(|who| {
                    let mut row = vec![None; units];
                    for r in ratings.iter().filter(|r| r.reviewer == *who) {
                        for (side_a, scores) in [(true, &r.scores_a), (false, &r.scores_b)] {
                            let first = side_a == r.first_is_a;
                            if let Some(&v) = scores.get(&c.name) {
                                row[r.item * 2 + usize::from(!first)] = Some(usize::from(v));
                            }
                        }
                    }
                    row
                })
                .collect();
            Agreement { criterion: c.name.clone(), alpha: krippendorff_alpha_nominal(&table), reviewers: reviewers.len() }
        })
        .collect();
    Results { criteria, pairs, agreement }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::human_eval::rubric::Rubric;

    /// An evaluation of base (0) vs tuned (1) on three prompts.
    fn eval() -> Evaluation {
        let c = crate::human_eval::evaluation::tests::comparison(2);
        let mut e = Evaluation::from_comparison(&c, Rubric::story_a(), 3).unwrap();
        let item = e.items[0].clone();
        e.items = vec![item.clone(), item.clone(), item];
        e
    }

    /// A rating where the base answer has `base` relevance and the tuned one `tuned`, shown with `first_is_a`.
    fn rating(who: &str, item: usize, first_is_a: bool, base: u8, tuned: u8, tuned_better: bool) -> Rating {
        let s = |v: u8| BTreeMap::from([("relevance".to_string(), v), ("accuracy".to_string(), 1)]);
        let (a, b) = if first_is_a { (s(base), s(tuned)) } else { (s(tuned), s(base)) };
        let verdict = match (tuned_better, first_is_a) {
            (true, true) | (false, false) => Verdict::B,
            _ => Verdict::A,
        };
        Rating { reviewer: who.into(), item, first_is_a, scores_a: a, scores_b: b, verdict: Some(verdict), comment: String::new(), unix: 0 }
    }

    #[test]
    fn rates_follow_the_models_through_the_blinded_sides() {
        let e = eval();
        let rs = [
            rating("Ana", 0, true, 0, 1, true),
            rating("Ana", 1, false, 1, 1, true),
            rating("Ana", 2, true, 0, 1, true),
            rating("Ben", 0, false, 0, 1, true),
            rating("Ben", 1, true, 1, 1, false),
            rating("Ben", 2, false, 0, 1, true),
        ];
        let refs: Vec<&Rating> = rs.iter().collect();
        let r = results(&e, &refs);
        let rel = |m: usize| r.criteria.iter().find(|c| c.model == m && c.criterion == "relevance").unwrap().rate.unwrap();
        assert_eq!((rel(0).rate, rel(0).n), (2.0 / 6.0, 6), "base relevant in 2 of 6");
        assert_eq!(rel(1).rate, 1.0, "tuned relevant in all");
        assert_eq!(rel(1).low, wilson(6, 6, Z95).unwrap().low);
        let pair = &r.pairs[0];
        assert_eq!((pair.models, pair.second_wins.unwrap().rate, pair.first_wins.unwrap().rate), ([0, 1], 5.0 / 6.0, 1.0 / 6.0));
        let agree = &r.agreement[0];
        assert_eq!(agree.reviewers, 2);
        assert!((agree.alpha.unwrap() - 1.0).abs() < 1e-12, "both reviewers gave the same relevance everywhere: {agree:?}");
        assert_eq!(r.agreement[1].alpha, None, "accuracy 1 everywhere: no variance");
    }
}
