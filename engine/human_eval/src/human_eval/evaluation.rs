//! An evaluation: prompts, the models compared, the generation settings, the
//! rubric, and each item's answers frozen, so every reviewer judges the same
//! text. It is a folder of its own, `evaluation.json` written atomically
//! beside the append-only `ratings.jsonl` ([`super::ratings`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::rubric::Rubric;
use crate::comparisons::{Comparison, Prompt};
use crate::error::{Error, Result};
use crate::generate::target::{Answer, AnswerSettings, Target};

/// The evaluation's description and frozen answers.
pub const EVALUATION_FILE: &str = "evaluation.json";
/// The ratings, one line each.
pub const RATINGS_FILE: &str = "ratings.jsonl";

/// The evaluation folders in `dir` (those holding an `evaluation.json`),
/// newest name first.
pub fn list(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join(EVALUATION_FILE).is_file()).collect())
        .unwrap_or_default();
    v.sort();
    v.reverse();
    v
}

/// Two models' answers to one prompt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// The prompt.
    pub prompt: Prompt,
    /// The two models compared (indices into [`Evaluation::models`]).
    pub models: [usize; 2],
    /// Their answers, in the same order.
    pub answers: [String; 2],
}

/// What is rated, and how.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Its title.
    pub title: String,
    /// The models (their names are hidden from reviewers until an item is rated).
    pub models: Vec<Target>,
    /// The generation settings the answers were made with.
    pub settings: AnswerSettings,
    /// The rubric.
    pub rubric: Rubric,
    /// Seeds each reviewer's order and sides ([`super::blind`]).
    pub seed: u64,
    /// The items.
    pub items: Vec<Item>,
    /// Set in a review package ([`super::package`]): where it came from; its
    /// `models` are then empty, the names staying with the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_of: Option<super::package::PackageOf>,
    /// Each model's held-out perplexity when the answers were made
    /// ([`super::perplexity::held_out`]); empty when not recorded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub perplexity: Vec<Option<f64>>,
}

impl Evaluation {
    /// An evaluation of a saved side-by-side comparison: every pair of its
    /// models on every prompt both answered.
    pub fn from_comparison(c: &Comparison, rubric: Rubric, seed: u64) -> Result<Self> {
        rubric.check().map_err(Error::Other)?;
        let mut items = Vec::new();
        for compared in &c.items {
            for i in 0..c.targets.len() {
                for j in i + 1..c.targets.len() {
                    let text = |k: usize| compared.answers.get(k).cloned().flatten().map(|a: Answer| a.text);
                    if let (Some(a), Some(b)) = (text(i), text(j)) {
                        items.push(Item { prompt: compared.prompt.clone(), models: [i, j], answers: [a, b] });
                    }
                }
            }
        }
        if items.is_empty() {
            return Err(Error::Other("the comparison has no prompt that two models both answered".into()));
        }
        Ok(Self {
            title: c.title.clone(),
            models: c.targets.clone(),
            settings: c.settings.clone(),
            rubric,
            seed,
            items,
            package_of: None,
            perplexity: Vec::new(),
        })
    }

    /// Writes the evaluation as the folder `dir` (atomically; an existing one is refused).
    pub fn create(&self, dir: &Path) -> Result<()> {
        if dir.exists() {
            return Err(Error::File { path: dir.into(), message: "already exists; choose another folder for the evaluation".into() });
        }
        crate::atomic::write_dir(dir, |tmp| crate::atomic::write_json(&tmp.join(EVALUATION_FILE), self))
    }

    /// Reads the evaluation in the folder `dir`.
    pub fn open(dir: &Path) -> Result<Self> {
        crate::documents::load(&dir.join(EVALUATION_FILE))
    }

    /// Model `m`'s name ([`Target::label`]); in a review package, which
    /// hides the names, "model 1", "model 2", ...
    pub fn model_name(&self, m: usize) -> String {
        self.models.get(m).map_or_else(|| format!("model {}", m + 1), Target::label)
    }

    /// The ratings file of the evaluation in `dir`.
    pub fn ratings_path(dir: &Path) -> PathBuf {
        dir.join(RATINGS_FILE)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A comparison of `targets` models on two prompts; the second lacks model 1's answer.
    pub(crate) fn comparison(targets: usize) -> Comparison {
        let answer = |t: &str| Some(workbench_generate::testing::answer(t));
        let mut c = Comparison {
            title: "base vs tuned".into(),
            targets: (0..targets).map(|i| Target::base(Path::new(&format!("/m/model{i}")), "model")).collect(),
            ..Default::default()
        };
        c.record(&Prompt::question("Q1"), (0..targets).map(|i| answer(&format!("answer {i} to Q1"))).collect());
        c.record(&Prompt::question("Q2"), (0..targets).map(|i| if i == 1 { None } else { answer("x") }).collect());
        c
    }

    #[test]
    fn an_evaluation_of_a_comparison_pairs_the_answered_prompts_and_round_trips_as_a_folder() {
        let e = Evaluation::from_comparison(&comparison(2), Rubric::story_a(), 9).unwrap();
        assert_eq!(e.items.len(), 1, "Q2 lacks one answer");
        assert_eq!(e.items[0].answers, ["answer 0 to Q1".to_string(), "answer 1 to Q1".to_string()]);
        let three = Evaluation::from_comparison(&comparison(3), Rubric::story_a(), 9).unwrap();
        assert_eq!(three.items.iter().map(|i| i.models).collect::<Vec<_>>(), [[0, 1], [0, 2], [1, 2], [0, 2]]);
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("eval");
        e.create(&folder).unwrap();
        assert_eq!(Evaluation::open(&folder).unwrap(), e);
        assert!(e.create(&folder).unwrap_err().to_string().contains("already exists"));
        let mut empty = comparison(2);
        empty.items.clear();
        assert!(Evaluation::from_comparison(&empty, Rubric::story_a(), 1).unwrap_err().to_string().contains("no prompt"));
    }
}
