//! A data file's report for the Data views (CLI and window): records, lines
//! skipped as malformed, token-length statistics and histogram, truncation,
//! and previews rendered with the chat template (prompt and trained parts
//! apart).

use std::path::{Path, PathBuf};

use super::conversation::read_jsonl;
use super::dataset::{Dataset, LengthStats};
use crate::chat::ChatFormat;
use crate::chat::template::Segment;
use crate::config::TrainOn;
use crate::error::Result;

/// What to analyse: a file, read with a model's tokenizer and template.
#[derive(Debug, Clone, PartialEq)]
pub struct DataRequest {
    /// The JSONL file.
    pub file: PathBuf,
    /// The model directory whose tokenizer (and chat template) to use.
    pub model_dir: PathBuf,
    /// Truncation length.
    pub max_seq_len: usize,
    /// Which tokens carry loss.
    pub train_on: TrainOn,
    /// How many records to preview.
    pub previews: usize,
    /// The chat template (`data.chat_template`: `model`, `mistral` or a file).
    pub chat_template: String,
}

impl DataRequest {
    /// `file` as the run of `config` would read it (its model, length and loss mask), with five previews.
    pub fn for_config(config: &crate::config::TrainConfig, file: PathBuf) -> Self {
        let d = &config.data;
        Self {
            file,
            model_dir: config.model.path.clone(),
            max_seq_len: d.max_seq_len,
            train_on: d.train_on,
            previews: 5,
            chat_template: d.chat_template.clone(),
        }
    }

    /// Loads the model's tokenizer and analyses the file (see [`analyze`]).
    pub fn run(&self) -> Result<DataReport> {
        let cfg = crate::model::ModelConfig::load(&self.model_dir)?;
        let chat = ChatFormat::load(&self.model_dir, &cfg, &self.chat_template)?;
        analyze(&self.file, &chat, self.max_seq_len, self.train_on, self.previews)
    }
}

/// What a data file holds.
#[derive(Debug, Clone)]
pub struct DataReport {
    /// Records parsed (the valid lines).
    pub records: usize,
    /// Non-blank lines in the file (valid and malformed).
    pub lines: usize,
    /// `(line, problem)` of each malformed line (skipped), numbered as in the file.
    pub skipped: Vec<(usize, String)>,
    /// Token lengths after truncation.
    pub stats: LengthStats,
    /// Token length of every example (after truncation).
    pub lengths: Vec<usize>,
    /// Examples cut to `max_seq_len`.
    pub truncated: usize,
    /// Tokens removed by truncation.
    pub tokens_cut: usize,
    /// Examples with nothing left to train after truncation.
    pub dropped: usize,
    /// The first records as template segments.
    pub previews: Vec<Vec<Segment>>,
    /// The truncation length used.
    pub max_seq_len: usize,
    /// Which chat template rendered the previews.
    pub template: String,
}

/// Reads and measures `path` with the model's tokenizer; malformed lines are
/// reported, not fatal.
pub fn analyze(path: &Path, chat: &ChatFormat, max_seq_len: usize, train_on: TrainOn, previews: usize) -> Result<DataReport> {
    let loaded = read_jsonl(path, true)?;
    let ds = Dataset::from_records(&loaded.records, chat, max_seq_len, train_on)?;
    Ok(DataReport {
        records: loaded.records.len(),
        lines: loaded.lines,
        skipped: loaded.skipped,
        stats: ds.stats(),
        lengths: ds.examples.iter().map(|e| e.ids.len()).collect(),
        truncated: ds.truncated,
        tokens_cut: ds.tokens_cut,
        dropped: ds.dropped,
        previews: loaded.records.iter().take(previews).map(|r| chat.segments(r, train_on)).collect::<Result<_>>()?,
        template: chat.template.describe(),
        max_seq_len,
    })
}

impl DataReport {
    /// "14 of 20 lines valid" (with the malformed count when there are any).
    pub fn validity(&self) -> String {
        match self.skipped.len() {
            0 => format!("{} of {} lines valid", self.records, self.lines),
            bad => format!("{} of {} lines valid, {bad} malformed", self.records, self.lines),
        }
    }

    /// Counts of examples per length bin of `width` tokens, from 0 to `max_seq_len`.
    pub fn histogram(&self, bins: usize) -> Vec<(usize, usize, usize)> {
        let bins = bins.max(1);
        let width = self.max_seq_len.div_ceil(bins).max(1);
        let mut counts = vec![0usize; bins];
        for &len in &self.lengths {
            counts[(len.saturating_sub(1) / width).min(bins - 1)] += 1;
        }
        counts.into_iter().enumerate().map(|(i, c)| (i * width, (i + 1) * width, c)).collect()
    }
}
