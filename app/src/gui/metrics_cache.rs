//! Metrics of runs read from disk, re-read only when `metrics.jsonl` grows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use engine::runs::{MetricRecord, RunDir};

/// Cached `metrics.jsonl` contents per run directory.
#[derive(Default)]
pub struct MetricsCache {
    entries: HashMap<PathBuf, (u64, Vec<MetricRecord>)>,
}

impl MetricsCache {
    /// The records of `run`, re-read if the file changed size since last time,
    /// with the file size they were read at (a version number for derived data).
    pub fn get_versioned(&mut self, run: &Path) -> (u64, &[MetricRecord]) {
        self.get(run);
        let (len, records) = &self.entries[run];
        (*len, records)
    }

    /// The records of `run`, re-read if the file changed size since last time.
    pub fn get(&mut self, run: &Path) -> &[MetricRecord] {
        let path = run.join(engine::runs::files::METRICS);
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let stale = self.entries.get(run).is_none_or(|(l, _)| *l != len);
        if stale {
            let records = RunDir::open(run).and_then(|r| r.metrics()).unwrap_or_default();
            self.entries.insert(run.to_path_buf(), (len, records));
        }
        &self.entries[run].1
    }
}
