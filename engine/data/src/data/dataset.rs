//! Tokenised examples: truncation (counted), train/validation splits,
//! length statistics and padded batches.

use std::path::Path;

use candle_core::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::conversation::{Record, read_jsonl};
use crate::chat::ChatFormat;
use crate::chat::template::Encoded;
use crate::config::TrainOn;
use crate::error::Result;
pub use crate::model::Batch;

/// Tokenised examples ready for batching.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The examples, each at most `max_seq_len` tokens.
    pub examples: Vec<Encoded>,
    /// Examples that were longer than `max_seq_len` and were cut.
    pub truncated: usize,
    /// Tokens removed by truncation.
    pub tokens_cut: usize,
    /// Examples dropped because truncation left no trained token.
    pub dropped: usize,
    /// Lines skipped as malformed (with `skip_bad_lines`).
    pub skipped_lines: Vec<(usize, String)>,
}

/// Summary of token lengths.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LengthStats {
    /// Number of examples.
    pub count: usize,
    /// Shortest example.
    pub min: usize,
    /// Mean length.
    pub mean: f64,
    /// Median length.
    pub median: usize,
    /// 95th percentile.
    pub p95: usize,
    /// Longest example.
    pub max: usize,
    /// Tokens that carry loss, in all.
    pub trained_tokens: usize,
}

impl Dataset {
    /// Reads and tokenises a JSONL file; long records are truncated to
    /// `max_seq_len` tokens, except free text, which is cut into consecutive
    /// windows of that length.
    pub fn from_file(path: &Path, chat: &ChatFormat, max_seq_len: usize, train_on: TrainOn, skip_bad_lines: bool) -> Result<Self> {
        let report = read_jsonl(path, skip_bad_lines)?;
        let mut ds = Self::from_records(&report.records, chat, max_seq_len, train_on)?;
        ds.skipped_lines = report.skipped;
        Ok(ds)
    }

    /// Tokenises records (see [`Dataset::from_file`]).
    pub fn from_records(records: &[Record], chat: &ChatFormat, max_seq_len: usize, train_on: TrainOn) -> Result<Self> {
        let mut ds = Self::default();
        for r in records {
            let enc = chat.encode(r, train_on)?;
            if matches!(r, Record::Text(_)) {
                ds.examples.extend(windows(enc, max_seq_len));
                continue;
            }
            let enc = if enc.ids.len() > max_seq_len {
                ds.truncated += 1;
                ds.tokens_cut += enc.ids.len() - max_seq_len;
                Encoded { ids: enc.ids[..max_seq_len].to_vec(), trained: enc.trained[..max_seq_len].to_vec() }
            } else {
                enc
            };
            if enc.trained[1..].iter().any(|&t| t) {
                ds.examples.push(enc);
            } else {
                ds.dropped += 1;
            }
        }
        Ok(ds)
    }

    /// The training and validation examples of `config` as every trainer
    /// sees them (the local one, and the Python targets of remote runs): the
    /// validation file, or a seeded split of the training file; an error if
    /// either is empty.
    pub fn for_training(config: &crate::config::TrainConfig, chat: &ChatFormat) -> Result<(Dataset, Dataset)> {
        let d = &config.data;
        let mut train = Dataset::from_file(&d.train_file, chat, d.max_seq_len, d.train_on, d.skip_bad_lines)?;
        let validation = match &d.validation_file {
            Some(p) => Dataset::from_file(p, chat, d.max_seq_len, d.train_on, d.skip_bad_lines)?,
            None => train.split_off_validation(d.validation_ratio, config.training.seed),
        };
        for (set, what) in [(&train, "training"), (&validation, "validation")] {
            if set.examples.is_empty() {
                return Err(crate::error::Error::Other(format!(
                    "no {what} examples left (after splitting and truncation); add data or raise data.max_seq_len"
                )));
            }
        }
        Ok((train, validation))
    }

    /// Splits off a shuffled `ratio` of the examples (at least one) as a
    /// validation set; the rest stays in `self`.
    pub fn split_off_validation(&mut self, ratio: f64, seed: u64) -> Dataset {
        let mut idx: Vec<usize> = (0..self.examples.len()).collect();
        idx.shuffle(&mut StdRng::seed_from_u64(seed));
        let n_val = ((self.examples.len() as f64 * ratio).round() as usize).clamp(1, self.examples.len().saturating_sub(1).max(1));
        let mut val_idx = idx[..n_val].to_vec();
        val_idx.sort_unstable();
        let mut val = Dataset::default();
        let mut train = Vec::with_capacity(self.examples.len() - n_val);
        for (i, ex) in std::mem::take(&mut self.examples).into_iter().enumerate() {
            if val_idx.binary_search(&i).is_ok() { val.examples.push(ex) } else { train.push(ex) }
        }
        self.examples = train;
        val
    }

    /// Length statistics of the examples.
    pub fn stats(&self) -> LengthStats {
        let mut lens: Vec<usize> = self.examples.iter().map(|e| e.ids.len()).collect();
        lens.sort_unstable();
        let n = lens.len();
        let at = |q: f64| if n == 0 { 0 } else { lens[((n - 1) as f64 * q).round() as usize] };
        LengthStats {
            count: n,
            min: lens.first().copied().unwrap_or(0),
            mean: if n == 0 { 0.0 } else { lens.iter().sum::<usize>() as f64 / n as f64 },
            median: at(0.5),
            p95: at(0.95),
            max: lens.last().copied().unwrap_or(0),
            trained_tokens: self.examples.iter().map(|e| e.trained[1..].iter().filter(|&&t| t).count()).sum(),
        }
    }

    /// Number of micro-batches of `batch_size` per epoch (the last may be partial).
    pub fn num_batches(&self, batch_size: usize) -> usize {
        self.examples.len().div_ceil(batch_size)
    }

    /// The example order of `epoch`: a permutation seeded by `seed` and the epoch.
    pub fn epoch_order(&self, seed: u64, epoch: usize) -> Vec<usize> {
        let mut idx: Vec<usize> = (0..self.examples.len()).collect();
        idx.shuffle(&mut StdRng::seed_from_u64(seed.wrapping_add(1_000_003 * epoch as u64)));
        idx
    }

    /// Builds the padded batch of the examples at `indices`.
    pub fn batch(&self, indices: &[usize], device: &Device) -> Result<Batch> {
        let rows: Vec<(&[u32], &[bool])> = indices.iter().map(|&i| (&self.examples[i].ids[..], &self.examples[i].trained[..])).collect();
        Ok(Batch::new(&rows, device)?)
    }

    /// Consecutive batches over all examples in file order (for evaluation).
    pub fn sequential_batches(&self, batch_size: usize) -> impl Iterator<Item = Vec<usize>> {
        let n = self.examples.len();
        (0..n).step_by(batch_size).map(move |s| (s..(s + batch_size).min(n)).collect())
    }
}

/// Cuts a long free-text encoding into windows of at most `len` tokens
/// (windows overlap by one token so every token is predicted once).
fn windows(enc: Encoded, len: usize) -> Vec<Encoded> {
    if enc.ids.len() <= len {
        return vec![enc];
    }
    let mut out = Vec::new();
    let mut start = 0;
    while start + 1 < enc.ids.len() {
        let end = (start + len).min(enc.ids.len());
        out.push(Encoded { ids: enc.ids[start..end].to_vec(), trained: enc.trained[start..end].to_vec() });
        start = end - 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(n: usize) -> Encoded {
        Encoded { ids: (0..n as u32).collect(), trained: vec![true; n] }
    }

    #[test]
    fn windows_cover_every_target_once() {
        let w = windows(ex(10), 4);
        let targets: usize = w.iter().map(|e| e.ids.len() - 1).sum();
        assert_eq!(targets, 9);
        assert!(w.iter().all(|e| e.ids.len() <= 4));
    }

    #[test]
    fn batch_pads_and_masks() {
        let ds = Dataset { examples: vec![ex(3), ex(5)], ..Default::default() };
        let b = ds.batch(&[0, 1], &Device::Cpu).unwrap();
        assert_eq!(b.inputs.dims(), &[2, 4]);
        assert_eq!(b.n_targets, 2 + 4);
        let w = b.weights.to_vec1::<f32>().unwrap();
        assert_eq!(w, vec![1.0, 1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let mut a = Dataset { examples: (2..22).map(ex).collect(), ..Default::default() };
        let mut b = a.clone();
        let va = a.split_off_validation(0.25, 7);
        let vb = b.split_off_validation(0.25, 7);
        assert_eq!(va.examples, vb.examples);
        assert_eq!(va.examples.len(), 5);
        assert_eq!(a.examples.len(), 15);
        // Each example (distinct lengths 2..22) lands in exactly one split.
        let lengths = |d: &Dataset| d.examples.iter().map(|e| e.ids.len()).collect::<std::collections::BTreeSet<_>>();
        let (train, val) = (lengths(&a), lengths(&va));
        assert!(train.is_disjoint(&val), "{train:?} and {val:?} share examples");
        assert_eq!(train.union(&val).copied().collect::<Vec<_>>(), (2..22).collect::<Vec<_>>());
    }
}
