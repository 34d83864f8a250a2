//! What the ratings say: per model and criterion, the rate of "yes" with a
//! 95% Wilson interval (binary criteria, as Story A's 92% against 61%) or the
//! mean with a bootstrap interval (scales); per pair of models, wins, ties and
//! "both bad" with intervals; across all verdicts, Bradley-Terry strengths
//! with bootstrap intervals (on the Elo scale too); per criterion, how far
//! reviewers agree (Krippendorff's alpha over every rated answer, missing
//! ratings allowed; Fleiss' kappa over the answers everyone rated); and per
//! reviewer, how often they agree with the others' majority, an outlier named.

use serde::Serialize;

use super::bootstrap::{self, Estimate};
use super::evaluation::Evaluation;
use super::ranking::{Duel, elo, strengths};
use super::ratings::Rating;
use super::rubric::{Criterion, Scale, Verdict};
use super::stats::{Rate, Z95, fleiss_kappa, krippendorff_alpha_nominal, wilson};

/// One model on one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CriterionResult {
    /// The model (index into the evaluation's models).
    pub model: usize,
    /// The criterion's name.
    pub criterion: String,
    /// Binary criteria: the rate of "yes" with its interval.
    pub rate: Option<Rate>,
    /// Scales: the mean score with its bootstrap interval.
    pub mean: Option<Estimate>,
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

/// A model's Bradley-Terry strength over every verdict (ties and "both bad" count half a win each).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Strength {
    /// The model (index).
    pub model: usize,
    /// Natural-log strength, mean zero across models, with its bootstrap interval.
    pub strength: Estimate,
    /// The same on the Elo scale (1000 the average model).
    pub elo: Estimate,
}

/// Agreement between reviewers on one criterion.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// The criterion's name.
    pub criterion: String,
    /// Krippendorff's alpha (nominal); None when undefined (one reviewer, no variance).
    pub alpha: Option<f64>,
    /// Fleiss' kappa over the answers every reviewer rated; None when undefined.
    pub fleiss: Option<f64>,
    /// Answers every reviewer rated.
    pub rated_by_all: usize,
    /// Reviewers who rated.
    pub reviewers: usize,
}

/// One reviewer at a glance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReviewerResult {
    /// Their name.
    pub reviewer: String,
    /// Items they rated.
    pub rated: usize,
    /// How often their score equals the majority of the other reviewers' on
    /// the same answer (every criterion; answers without a clear majority left out).
    pub agrees: Option<Rate>,
    /// How often they preferred each model's answer (indices as the models).
    pub preferred: Vec<usize>,
    /// Agreeing 20 points or more below the reviewers' median (three reviewers or more).
    pub outlier: bool,
}

/// Everything the results view and report show.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Results {
    /// Per model and criterion.
    pub criteria: Vec<CriterionResult>,
    /// Per pair of models compared.
    pub pairs: Vec<PairResult>,
    /// Per model, from all verdicts (empty without verdicts).
    pub ranking: Vec<Strength>,
    /// Per criterion.
    pub agreement: Vec<Agreement>,
    /// Per reviewer, by name.
    pub reviewers: Vec<ReviewerResult>,
    /// Per model, its held-out perplexity: as the evaluation recorded it, else from the runs' saved tables.
    pub perplexity: Vec<Option<f64>>,
    /// Each automatic judge's agreement with the people, per criterion ([`Results::load`] fills it).
    pub judges: Vec<super::judge::JudgeAgreement>,
}

/// A rate as the reports show it: "92% [85-96%] of 100", or "-" without ratings.
pub fn describe(rate: Option<Rate>) -> String {
    rate.map_or_else(|| "-".to_string(), |r| format!("{:.0}% [{:.0}-{:.0}%] of {}", r.rate * 100.0, r.low * 100.0, r.high * 100.0, r.n))
}

/// [`Results`] as text, for the CLI, the window and the Markdown report alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Model name, criterion, its rate or mean: one row per model and criterion.
    pub rows: Vec<[String; 3]>,
    /// One line per pair of models: how often each was better, ties, both bad.
    pub pairs: Vec<String>,
    /// One line per model, strongest first: Bradley-Terry strength and Elo with intervals.
    pub ranking: Vec<String>,
    /// One line per criterion: the reviewers' agreement.
    pub agreement: Vec<String>,
    /// One line per reviewer: items rated, agreement with the others, outliers named.
    pub reviewers: Vec<String>,
    /// One line per model: its held-out perplexity, or that none was measured.
    pub perplexity: Vec<String>,
    /// One line per judge and criterion: agreement with the people.
    pub judges: Vec<String>,
}

impl Report {
    /// The line sections after the table, with their headings: pairwise
    /// verdicts, ranking, agreement, reviewers.
    pub fn sections(&self) -> [(&'static str, &[String]); 6] {
        [
            ("Held-out perplexity (from the runs' Evaluate tables)", &self.perplexity),
            ("Pairwise verdicts", &self.pairs),
            ("Ranking (Bradley-Terry, 95% bootstrap intervals)", &self.ranking),
            ("Agreement between reviewers", &self.agreement),
            ("Reviewers", &self.reviewers),
            ("Automatic judges against the reviewers", &self.judges),
        ]
    }
}

impl Results {
    /// The results as text, models named from `eval`.
    pub fn report(&self, eval: &Evaluation) -> Report {
        let rows = self
            .criteria
            .iter()
            .map(|c| {
                let value =
                    c.mean.map_or_else(|| describe(c.rate), |m| format!("mean {:.2} [{:.2}-{:.2}] of {}", m.value, m.low, m.high, c.n));
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
        let mut ranked: Vec<&Strength> = self.ranking.iter().collect();
        ranked.sort_by(|a, b| b.strength.value.total_cmp(&a.strength.value));
        let ranking = ranked
            .iter()
            .map(|s| {
                format!(
                    "{}: Elo {:.0} [{:.0}-{:.0}], Bradley-Terry strength {:+.2} [{:+.2} to {:+.2}]",
                    eval.model_name(s.model),
                    s.elo.value,
                    s.elo.low,
                    s.elo.high,
                    s.strength.value,
                    s.strength.low,
                    s.strength.high
                )
            })
            .collect();
        let agreement = self
            .agreement
            .iter()
            .map(|a| {
                let alpha = a.alpha.map_or_else(|| "undefined (one reviewer, or no variance)".into(), |v| format!("{v:.3}"));
                let fleiss = a.fleiss.map_or_else(|| "undefined".into(), |v| format!("{v:.3} over {} answers all rated", a.rated_by_all));
                format!("agreement on {} ({} reviewers): Krippendorff's alpha {alpha}; Fleiss' kappa {fleiss}", a.criterion, a.reviewers)
            })
            .collect();
        let reviewers = self
            .reviewers
            .iter()
            .map(|r| {
                let preferred: Vec<String> =
                    r.preferred.iter().enumerate().filter(|(_, n)| **n > 0).map(|(m, n)| format!("{} {n}", eval.model_name(m))).collect();
                format!(
                    "{}: {} items, agrees with the others' majority {}{}{}",
                    r.reviewer,
                    r.rated,
                    describe(r.agrees),
                    if preferred.is_empty() { String::new() } else { format!("; preferred {}", preferred.join(", ")) },
                    if r.outlier { " - OUTLIER: check their ratings" } else { "" }
                )
            })
            .collect();
        let perplexity = self
            .perplexity
            .iter()
            .enumerate()
            .map(|(m, p)| match p {
                Some(p) => format!("{}: {p:.2}", eval.model_name(m)),
                None => format!("{}: not measured (evaluate its run in the Evaluate tab)", eval.model_name(m)),
            })
            .collect();
        let mut judges: Vec<String> = self
            .judges
            .iter()
            .map(|j| {
                let kappa = j.kappa.map_or_else(|| "undefined".into(), |k| format!("{k:.3}"));
                let r = j.correlation.map_or_else(String::new, |r| format!(", Pearson's r {r:.3}"));
                format!("{} on {}: agrees {}, Cohen's kappa {kappa}{r}", j.judge, j.criterion, describe(j.agreement))
            })
            .collect();
        if judges.is_empty() {
            judges.push("no judge yet: Judge in the Review tab, or workbench human-eval judge DIR --model M".into());
        }
        Report { rows, pairs, ranking, agreement, reviewers, perplexity, judges }
    }
}

/// A chart of the binary criteria's rates (the window's and the report's):
/// the criteria along x at 0, 1, ..., in each a bar per model side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct RateBars {
    /// The binary criteria's names, at x = 0, 1, ...
    pub criteria: Vec<String>,
    /// Each bar's width (a group spans 0.8).
    pub width: f64,
    /// Per model (indices as the evaluation's): its bars' x positions and rates.
    pub bars: Vec<Vec<(f64, Rate)>>,
}

impl RateBars {
    /// The criterion's name at `x` (whole numbers only; empty elsewhere), for axis labels.
    pub fn label_at(&self, x: f64) -> String {
        let k = x.round();
        if (x - k).abs() > 1e-6 || k < 0.0 {
            return String::new();
        }
        self.criteria.get(k as usize).cloned().unwrap_or_default()
    }
}

impl Results {
    /// The bars of the binary criteria's rates; None when none was rated.
    pub fn rate_bars(&self, eval: &Evaluation) -> Option<RateBars> {
        let criteria: Vec<String> =
            eval.rubric.criteria.iter().filter(|c| matches!(c.scale, Scale::Binary { .. })).map(|c| c.name.clone()).collect();
        if criteria.is_empty() || self.criteria.iter().all(|c| c.rate.is_none()) {
            return None;
        }
        let models = eval.models.len().max(1) as f64;
        let width = 0.8 / models;
        let bars = (0..eval.models.len())
            .map(|m| {
                criteria
                    .iter()
                    .enumerate()
                    .filter_map(|(k, name)| {
                        let rate = self.criteria.iter().find(|c| c.model == m && c.criterion == *name)?.rate?;
                        Some((k as f64 + (m as f64 - (models - 1.0) / 2.0) * width, rate))
                    })
                    .collect()
            })
            .collect();
        Some(RateBars { criteria, width, bars })
    }
}

/// An evaluation folder read for its results.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The evaluation.
    pub eval: Evaluation,
    /// The people's ratings file as read.
    pub ratings: super::ratings::Ratings,
    /// The results: the people's latest ratings, the judges' agreement with them.
    pub results: Results,
}

impl Results {
    /// Reads the evaluation in `dir`, its ratings and its judges' ratings, and computes the results.
    pub fn load(dir: &std::path::Path) -> crate::error::Result<Loaded> {
        let eval = Evaluation::open(dir)?;
        let ratings = super::ratings::read(&Evaluation::ratings_path(dir))?;
        let judged = super::ratings::read(&super::judge::judge_path(dir))?;
        let people = ratings.latest();
        let mut results = results(&eval, &people);
        results.judges = super::judge::agreement(&eval, &people, &judged.latest());
        Ok(Loaded { eval, ratings, results })
    }
}

/// `criterion`'s scores as a reviewers x answers table: answer `2 i + k` is
/// item i's model k's answer; `None` where a reviewer did not rate it.
fn score_table(eval: &Evaluation, ratings: &[&Rating], reviewers: &[&str], criterion: &Criterion) -> Vec<Vec<Option<usize>>> {
    reviewers
        .iter()
        .map(|who| {
            let mut row = vec![None; eval.items.len() * 2];
            for r in ratings.iter().filter(|r| r.reviewer == *who && r.item < eval.items.len()) {
                for (k, scores) in r.scores_in_item_order().into_iter().enumerate() {
                    if let Some(&v) = scores.get(&criterion.name) {
                        row[r.item * 2 + k] = Some(usize::from(v));
                    }
                }
            }
            row
        })
        .collect()
}

/// Fleiss' kappa of the answers every reviewer scored, and how many there are.
fn fleiss_of_complete(table: &[Vec<Option<usize>>]) -> (Option<f64>, usize) {
    let answers = table.first().map_or(0, Vec::len);
    let categories = table.iter().flatten().flatten().copied().max().map_or(0, |m| m + 1);
    let counts: Vec<Vec<usize>> = (0..answers)
        .filter(|&u| table.iter().all(|row| row[u].is_some()))
        .map(|u| {
            let mut c = vec![0; categories];
            table.iter().filter_map(|row| row[u]).for_each(|v| c[v] += 1);
            c
        })
        .collect();
    (fleiss_kappa(&counts), counts.len())
}

/// The results of `ratings` (the latest per reviewer and item) on `eval`.
pub fn results(eval: &Evaluation, ratings: &[&Rating]) -> Results {
    let mut criteria = Vec::new();
    for model in 0..eval.models.len() {
        for c in &eval.rubric.criteria {
            let scores: Vec<u8> = ratings
                .iter()
                .filter_map(|r| Some((eval.items.get(r.item)?.models, r.scores_in_item_order())))
                .flat_map(|(models, scores)| models.into_iter().zip(scores))
                .filter_map(|(m, scores)| (m == model).then(|| scores.get(&c.name).copied()).flatten())
                .collect();
            let n = scores.len();
            let (rate, mean) = match c.scale {
                Scale::Binary { .. } => (wilson(scores.iter().filter(|v| **v == 1).count(), n, Z95), None),
                Scale::Points { .. } => {
                    let values: Vec<f64> = scores.iter().map(|&v| f64::from(v)).collect();
                    (None, bootstrap::mean(&values, eval.seed))
                }
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
            let verdicts: Vec<Verdict> = ratings
                .iter()
                .filter(|r| eval.items.get(r.item).is_some_and(|i| i.models == models))
                .filter_map(|r| r.verdict_in_item_order())
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
    let duels: Vec<Duel> = ratings
        .iter()
        .filter_map(|r| {
            let models = eval.items.get(r.item)?.models;
            let first_score = match r.verdict_in_item_order()? {
                Verdict::A => 1.0,
                Verdict::B => 0.0,
                Verdict::Tie | Verdict::BothBad => 0.5,
            };
            Some(Duel { models, first_score })
        })
        .collect();
    let ranking = strengths(eval.models.len(), &duels, eval.seed)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
        .map(|(model, s)| Strength { model, strength: s, elo: Estimate { value: elo(s.value), low: elo(s.low), high: elo(s.high) } })
        .collect();
    let mut names: Vec<&str> = ratings.iter().map(|r| r.reviewer.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    let tables: Vec<Vec<Vec<Option<usize>>>> = eval.rubric.criteria.iter().map(|c| score_table(eval, ratings, &names, c)).collect();
    let agreement = eval
        .rubric
        .criteria
        .iter()
        .zip(&tables)
        .map(|(c, table)| {
            let (fleiss, rated_by_all) = fleiss_of_complete(table);
            Agreement { criterion: c.name.clone(), alpha: krippendorff_alpha_nominal(table), fleiss, rated_by_all, reviewers: names.len() }
        })
        .collect();
    let reviewers = reviewer_results(eval, ratings, &names, &tables);
    // As recorded when the answers were made, else from the runs' tables now (evaluated since).
    let perplexity = super::perplexity::held_out(&eval.models)
        .into_iter()
        .enumerate()
        .map(|(m, now)| eval.perplexity.get(m).copied().flatten().or(now))
        .collect();
    Results { criteria, pairs, ranking, agreement, reviewers, perplexity, judges: Vec::new() }
}

/// Each reviewer's count, agreement with the others' majority, preferences and outlier flag.
fn reviewer_results(eval: &Evaluation, ratings: &[&Rating], names: &[&str], tables: &[Vec<Vec<Option<usize>>>]) -> Vec<ReviewerResult> {
    let mut out: Vec<ReviewerResult> = names
        .iter()
        .enumerate()
        .map(|(who, name)| {
            let (mut agree, mut compared) = (0, 0);
            for table in tables {
                for (u, mine) in table[who].iter().enumerate() {
                    let Some(mine) = mine else { continue };
                    let mut votes = std::collections::BTreeMap::<usize, usize>::new();
                    table
                        .iter()
                        .enumerate()
                        .filter(|(o, _)| *o != who)
                        .filter_map(|(_, row)| row[u])
                        .for_each(|v| *votes.entry(v).or_default() += 1);
                    let others: usize = votes.values().sum();
                    if let Some((&majority, _)) = votes.iter().find(|(_, n)| **n * 2 > others) {
                        compared += 1;
                        agree += usize::from(*mine == majority);
                    }
                }
            }
            let mine: Vec<&&Rating> = ratings.iter().filter(|r| r.reviewer == *name).collect();
            let mut preferred = vec![0; eval.models.len()];
            for r in &mine {
                let winner = match (r.verdict_in_item_order(), eval.items.get(r.item)) {
                    (Some(Verdict::A), Some(i)) => Some(i.models[0]),
                    (Some(Verdict::B), Some(i)) => Some(i.models[1]),
                    _ => None,
                };
                if let Some(m) = winner.filter(|m| *m < preferred.len()) {
                    preferred[m] += 1;
                }
            }
            ReviewerResult {
                reviewer: name.to_string(),
                rated: mine.len(),
                agrees: wilson(agree, compared, Z95),
                preferred,
                outlier: false,
            }
        })
        .collect();
    let mut rates: Vec<f64> = out.iter().filter_map(|r| r.agrees.map(|a| a.rate)).collect();
    if rates.len() >= 3 {
        rates.sort_by(f64::total_cmp);
        let median = bootstrap::quantile(&rates, 0.5);
        for r in &mut out {
            r.outlier = r.agrees.is_some_and(|a| a.rate <= median - 0.2);
        }
    }
    out
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
        assert_eq!((agree.fleiss, agree.rated_by_all), (Some(1.0), 6), "both rated every answer alike");
        // Tuned won 5 of 6 verdicts: the stronger, above 1000 Elo, its interval around it.
        let strength = |m: usize| r.ranking.iter().find(|s| s.model == m).unwrap();
        assert!(strength(1).strength.value > 0.0 && strength(1).elo.value > 1000.0 && strength(0).elo.value < 1000.0);
        assert!(strength(1).elo.low <= strength(1).elo.value && strength(1).elo.value <= strength(1).elo.high);
        assert_eq!(
            r.reviewers.iter().map(|v| (v.reviewer.as_str(), v.rated, v.preferred.clone())).collect::<Vec<_>>(),
            [("Ana", 3, vec![0, 3]), ("Ben", 3, vec![1, 2])]
        );
        assert!(r.reviewers.iter().all(|v| v.agrees.unwrap().rate == 1.0 && !v.outlier));
        let report = r.report(&e);
        assert!(report.ranking[0].starts_with("m/model1 (base): Elo 1"), "the tuned model first: {:?}", report.ranking);
        assert!(report.agreement[0].contains("Fleiss' kappa 1.000 over 6 answers"), "{:?}", report.agreement);
    }

    #[test]
    fn a_reviewer_who_rates_against_everyone_is_named_an_outlier() {
        let e = eval();
        let mut rs = Vec::new();
        for who in ["Ana", "Ben", "Cy"] {
            for item in 0..3 {
                rs.push(rating(who, item, item % 2 == 0, 0, 1, true));
            }
        }
        for item in 0..3 {
            rs.push(rating("Dee", item, true, 1, 0, false));
        }
        let refs: Vec<&Rating> = rs.iter().collect();
        let r = results(&e, &refs);
        let dee = r.reviewers.iter().find(|v| v.reviewer == "Dee").unwrap();
        assert!(dee.outlier && dee.agrees.unwrap().rate < 0.6, "{dee:?}");
        assert!(r.reviewers.iter().filter(|v| v.reviewer != "Dee").all(|v| !v.outlier), "{:?}", r.reviewers);
        let alpha = r.agreement[0].alpha.unwrap();
        assert!(alpha < 0.6, "one contrary reviewer of four lowers agreement: {alpha}");
        let report = r.report(&e);
        assert!(report.reviewers.iter().any(|l| l.starts_with("Dee") && l.contains("OUTLIER")), "{:?}", report.reviewers);
    }

    #[test]
    fn a_scale_is_averaged_with_a_bootstrap_interval() {
        let mut e = eval();
        e.rubric.criteria[0].scale = Scale::Points { min: 1, max: 5 };
        let points = |v: u8| BTreeMap::from([("relevance".to_string(), v), ("accuracy".to_string(), 1)]);
        let rs: Vec<Rating> = [(1, 4), (2, 5), (1, 3)]
            .iter()
            .enumerate()
            .map(|(item, &(base, tuned))| Rating {
                reviewer: "Ana".into(),
                item,
                first_is_a: true,
                scores_a: points(base),
                scores_b: points(tuned),
                verdict: Some(Verdict::B),
                comment: String::new(),
                unix: 0,
            })
            .collect();
        let refs: Vec<&Rating> = rs.iter().collect();
        let r = results(&e, &refs);
        let tuned = r.criteria.iter().find(|c| c.model == 1 && c.criterion == "relevance").unwrap();
        let m = tuned.mean.unwrap();
        assert_eq!((m.value, tuned.rate), (4.0, None));
        assert!(m.low >= 3.0 && m.high <= 5.0 && m.low < 4.0 && m.high > 4.0, "{m:?}");
        assert!(r.report(&e).rows.iter().any(|row| row[2].starts_with("mean 4.00 [")), "{:?}", r.report(&e).rows);
    }
}
