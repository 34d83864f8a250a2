//! `status.json`: what state a run is in, written atomically on every change.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Lifecycle state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Training now (or the process died: see [`Status::effective_state`]).
    Running,
    /// Paused by the user.
    Paused,
    /// Reached the last step.
    Finished,
    /// Stopped by early stopping.
    EarlyStopped,
    /// Cancelled by the user; resumable.
    Cancelled,
    /// Stopped by an error; resumable from the last checkpoint.
    Failed,
    /// The training process died without saying so (read-side only).
    Crashed,
}

/// Contents of `status.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    /// Current state.
    pub state: RunState,
    /// Last completed optimizer step.
    pub step: usize,
    /// Planned optimizer steps.
    pub total_steps: usize,
    /// Fractional epoch reached.
    pub epoch: f64,
    /// Best validation loss so far.
    pub best_val_loss: Option<f64>,
    /// Step of the best validation loss.
    pub best_step: Option<usize>,
    /// Error or stop reason.
    pub message: Option<String>,
    /// Process that writes this run (to detect crashes).
    pub pid: u32,
    /// Unix time the run was created.
    pub created_unix: i64,
    /// Unix time of this update.
    pub updated_unix: i64,
}

impl Status {
    /// Reads `status.json` from a run directory.
    pub fn read(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join("status.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::run(run_dir, format!("invalid status.json: {e}")))
    }

    /// Writes `status.json` atomically, stamping the update time.
    pub fn write(&mut self, run_dir: &Path) -> Result<()> {
        self.updated_unix = chrono::Utc::now().timestamp();
        crate::atomic::write_json(&run_dir.join("status.json"), self)
    }

    /// The state, with a `running` run whose process is gone reported as crashed.
    pub fn effective_state(&self) -> RunState {
        let alive = Path::new(&format!("/proc/{}", self.pid)).exists();
        match self.state {
            RunState::Running | RunState::Paused if !alive && cfg!(target_os = "linux") => RunState::Crashed,
            s => s,
        }
    }
}
