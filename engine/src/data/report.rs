//! A data file's report for the Data views (CLI and window): records, lines
//! skipped as malformed, token-length statistics and histogram, truncation,
//! and previews rendered with the chat template (prompt and trained parts
//! apart).

use std::path::Path;

use tokenizers::Tokenizer;

use super::conversation::read_jsonl;
use super::dataset::{Dataset, LengthStats};
use super::template::{Segment, segments};
use crate::config::TrainOn;
use crate::error::Result;

/// What a data file holds.
#[derive(Debug, Clone)]
pub struct DataReport {
    /// Records parsed.
    pub records: usize,
    /// `(line, problem)` of each malformed line (skipped).
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
}

/// Reads and measures `path` with the model's tokenizer; malformed lines are
/// reported, not fatal.
pub fn analyze(path: &Path, tok: &Tokenizer, max_seq_len: usize, train_on: TrainOn, previews: usize) -> Result<DataReport> {
    let loaded = read_jsonl(path, true)?;
    let ds = Dataset::from_records(&loaded.records, tok, max_seq_len, train_on)?;
    Ok(DataReport {
        records: loaded.records.len(),
        skipped: loaded.skipped,
        stats: ds.stats(),
        lengths: ds.examples.iter().map(|e| e.ids.len()).collect(),
        truncated: ds.truncated,
        tokens_cut: ds.tokens_cut,
        dropped: ds.dropped,
        previews: loaded.records.iter().take(previews).map(|r| segments(r, train_on)).collect(),
        max_seq_len,
    })
}

impl DataReport {
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
