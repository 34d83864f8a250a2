//! Making an evaluation from prompts and models: every model answers every
//! prompt once with the same settings (a job with progress, on local models
//! or endpoints alike), and the answers are frozen in a new evaluation folder,
//! so every reviewer judges the same text.

use std::path::PathBuf;

use super::evaluation::Evaluation;
use super::rubric::Rubric;
use crate::cancel::CancelFlag;
use crate::comparisons::{Comparison, Prompt};
use crate::error::{Error, Result};
use crate::generate::FinishReason;
use crate::generate::models::Models;
use crate::generate::target::{AnswerSettings, Question, Target};

/// What to generate and where to keep it.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The evaluation's title.
    pub title: String,
    /// The prompts (a held-out split, a data file, a comparison's prompts).
    pub prompts: Vec<Prompt>,
    /// Two or more models; every pair of them is compared on every prompt.
    pub models: Vec<Target>,
    /// The system prompt given to every model (none when empty).
    pub system: String,
    /// Generation settings, the same for every model.
    pub settings: AnswerSettings,
    /// What reviewers rate.
    pub rubric: Rubric,
    /// Seeds each reviewer's order and sides.
    pub seed: u64,
    /// The evaluation folder to create (it must not exist).
    pub out: PathBuf,
}

impl Plan {
    /// Checks what can be checked before generating: models, prompts, rubric, settings, folder.
    pub fn check(&self) -> Result<()> {
        if self.models.len() < 2 {
            return Err(Error::Other(format!("an evaluation compares two or more models; {} chosen", self.models.len())));
        }
        if self.prompts.is_empty() {
            return Err(Error::Other("no prompts to answer; choose a data file with conversations".into()));
        }
        self.rubric.check().map_err(Error::Other)?;
        self.settings.sampling.check().map_err(Error::Other)?;
        if self.out.exists() {
            return Err(Error::File { path: self.out.clone(), message: "already exists; choose another folder for the evaluation".into() });
        }
        Ok(())
    }

    /// Number of answers to generate.
    pub fn answers(&self) -> usize {
        self.prompts.len() * self.models.len()
    }

    /// Generates every answer (`progress(done, total)` after each), then
    /// writes the evaluation folder. Cancelling writes nothing.
    pub fn run(&self, models: &Models, cancel: &CancelFlag, mut progress: impl FnMut(usize, usize)) -> Result<Evaluation> {
        self.check()?;
        let mut comparison = Comparison {
            title: self.title.clone(),
            targets: self.models.clone(),
            system: self.system.clone(),
            settings: self.settings.clone(),
            items: Vec::new(),
        };
        let total = self.answers();
        progress(0, total);
        for (p, prompt) in self.prompts.iter().enumerate() {
            let messages = comparison.messages_for(prompt);
            let mut answers = Vec::with_capacity(self.models.len());
            for (m, target) in self.models.iter().enumerate() {
                let question = Question { target: target.clone(), messages: messages.clone(), settings: self.settings.clone() };
                let answer = question.ask(models, cancel, |_| {}).map_err(|e| {
                    Error::Other(format!(
                        "{} could not answer prompt {} (\"{}\"): {e}",
                        target.label(),
                        p + 1,
                        short(prompt.question_text())
                    ))
                })?;
                if answer.stats.finish_reason == FinishReason::Cancelled || cancel.is_set() {
                    return Err(Error::Cancelled);
                }
                answers.push(Some(answer));
                progress(p * self.models.len() + m + 1, total);
            }
            comparison.record(prompt, answers);
        }
        let mut eval = Evaluation::from_comparison(&comparison, self.rubric.clone(), self.seed)?;
        eval.perplexity = super::perplexity::held_out(&eval.models);
        eval.create(&self.out)?;
        Ok(eval)
    }
}

/// The first 60 characters of `text`, for messages.
fn short(text: &str) -> String {
    let mut s: String = text.chars().take(60).collect();
    if s.len() < text.len() {
        s.push_str("...");
    }
    s
}
