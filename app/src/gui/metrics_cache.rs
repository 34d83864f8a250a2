//! What the Monitor draws of each run, read from its run directory: the
//! records of `metrics.jsonl`, the steps of its checkpoints and whether it
//! stopped early. A run is read when it is first shown (the user ticked it);
//! after that a worker thread checks once a second whether its metrics file
//! grew and reads it again if so, so a frame never waits on the disk.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use engine::runs::{MetricRecord, RunDir, RunState};

use super::periodic::Periodic;

/// How often the shown runs' metrics files are checked for growth.
const CHECK_EVERY: Duration = Duration::from_secs(1);

/// One run as last read.
#[derive(Debug, Default)]
pub struct RunMetrics {
    /// The size of `metrics.jsonl` when read (a version number for what is derived from it).
    pub len: u64,
    /// Its records.
    pub records: Vec<MetricRecord>,
    /// The steps of the run's complete checkpoints, oldest first.
    pub checkpoints: Vec<usize>,
    /// The step at which it stopped early, if it did.
    pub early_stop: Option<usize>,
}

impl RunMetrics {
    /// Reads `run` from disk.
    fn read(run: &Path) -> Self {
        let len = metrics_len(run);
        let Ok(dir) = RunDir::open(run) else { return Self { len, ..Self::default() } };
        let early_stop = dir.status().ok().filter(|s| s.state == RunState::EarlyStopped).map(|s| s.step);
        Self {
            len,
            records: dir.metrics().unwrap_or_default(),
            checkpoints: dir.checkpoints().into_iter().map(|(step, _)| step).collect(),
            early_stop,
        }
    }
}

/// The size of `run`'s metrics file (0 when there is none).
fn metrics_len(run: &Path) -> u64 {
    std::fs::metadata(run.join(engine::runs::files::METRICS)).map(|m| m.len()).unwrap_or(0)
}

/// The shown runs' metrics, kept in step with their files.
pub struct MetricsCache {
    entries: HashMap<PathBuf, RunMetrics>,
    /// The growth check, once a second: the runs that grew, read again.
    checking: Periodic<Vec<(PathBuf, RunMetrics)>>,
}

impl Default for MetricsCache {
    fn default() -> Self {
        Self { entries: HashMap::new(), checking: Periodic::new(CHECK_EVERY) }
    }
}

impl MetricsCache {
    /// `run` as last read (read now if it was not shown before).
    pub fn get(&mut self, run: &Path) -> &RunMetrics {
        if !self.entries.contains_key(run) {
            self.entries.insert(run.to_path_buf(), RunMetrics::read(run));
        }
        &self.entries[run]
    }

    /// Forgets the runs no longer `shown`, takes up a finished growth check,
    /// and starts the next one on a worker thread when it is due. Returns
    /// when the next frame should look again.
    pub fn poll(&mut self, shown: &[PathBuf]) -> Option<Duration> {
        self.entries.retain(|run, _| shown.contains(run));
        for (run, metrics) in self.checking.finished().into_iter().flatten() {
            if let Some(entry) = self.entries.get_mut(&run) {
                *entry = metrics;
            }
        }
        if self.entries.is_empty() {
            return None;
        }
        Some(self.checking.start_when_due(|| {
            let known: Vec<(PathBuf, u64)> = self.entries.iter().map(|(run, m)| (run.clone(), m.len)).collect();
            move || {
                let grown = known.into_iter().filter(|(run, len)| metrics_len(run) != *len);
                grown
                    .map(|(run, _)| {
                        let metrics = RunMetrics::read(&run);
                        (run, metrics)
                    })
                    .collect()
            }
        }))
    }
}
