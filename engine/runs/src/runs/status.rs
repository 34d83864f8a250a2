//! `status.json`: what state a run is in, which host runs it and when it
//! last gave a sign of life, written atomically on every change and every
//! [`HEARTBEAT_EVERY`] by a heartbeat thread ([`LiveStatus`]).
//!
//! A viewer judges a `running` or `paused` run by where it runs: on this host
//! by its process (gone: crashed); on another host (a remote job, watched
//! through synced files) by its heartbeat (older than [`STALE_AFTER`]: crashed).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Process that writes this run (to detect crashes on its host).
    pub pid: u32,
    /// Host name of the machine that runs it (empty in files written before hosts were recorded: this host).
    #[serde(default)]
    pub host: String,
    /// Unix time the run was created.
    pub created_unix: i64,
    /// Unix time of this update.
    pub updated_unix: i64,
    /// Unix time of the writer's last sign of life (0 in old files: no heartbeat).
    #[serde(default)]
    pub heartbeat_unix: i64,
}

/// How often a live run stamps its heartbeat.
pub const HEARTBEAT_EVERY: Duration = Duration::from_secs(10);
/// A run on another host whose heartbeat is older than this is judged crashed.
pub const STALE_AFTER: Duration = Duration::from_secs(120);

/// This machine's host name.
pub fn this_host() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

impl Status {
    /// Reads `status.json` from a run directory.
    pub fn read(run_dir: &Path) -> Result<Self> {
        let path = run_dir.join(super::files::STATUS);
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| Error::run(run_dir, format!("invalid status.json: {e}")))
    }

    /// A fresh status of a run this process starts on this host.
    pub fn new_local(state: RunState, total_steps: usize) -> Self {
        let now = chrono::Utc::now().timestamp();
        Self {
            state,
            step: 0,
            total_steps,
            epoch: 0.0,
            best_val_loss: None,
            best_step: None,
            message: None,
            pid: std::process::id(),
            host: this_host(),
            created_unix: now,
            updated_unix: now,
            heartbeat_unix: now,
        }
    }

    /// Writes `status.json` atomically, stamping the update time and the heartbeat.
    pub fn write(&mut self, run_dir: &Path) -> Result<()> {
        self.updated_unix = chrono::Utc::now().timestamp();
        self.heartbeat_unix = self.updated_unix;
        crate::atomic::write_json(&run_dir.join(super::files::STATUS), self)
    }

    /// Marks the run as written by this process on this host.
    pub fn claim(&mut self) {
        self.pid = std::process::id();
        self.host = this_host();
    }

    /// Whether the run is written on this machine.
    pub fn is_local(&self) -> bool {
        self.host.is_empty() || self.host == this_host()
    }

    /// The state, with a live run whose writer is gone reported as crashed:
    /// on this host when its process is gone, on another host when its
    /// heartbeat is older than [`STALE_AFTER`].
    pub fn effective_state(&self) -> RunState {
        self.state_at(chrono::Utc::now().timestamp())
    }

    fn state_at(&self, now_unix: i64) -> RunState {
        let live = matches!(self.state, RunState::Running | RunState::Paused);
        let gone = if self.is_local() {
            cfg!(target_os = "linux") && !Path::new(&format!("/proc/{}", self.pid)).exists()
        } else {
            now_unix - self.heartbeat_unix > STALE_AFTER.as_secs() as i64
        };
        if live && gone { RunState::Crashed } else { self.state }
    }
}

/// The status of a run this process is writing: the training loop updates it,
/// and a heartbeat thread rewrites it every [`HEARTBEAT_EVERY`] (so a long
/// step or evaluation does not look like a dead run) until it is dropped.
pub struct LiveStatus {
    shared: Arc<Mutex<Status>>,
    run_dir: PathBuf,
    stop: Option<crossbeam_channel::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveStatus {
    /// Takes over `status` of the run in `run_dir` (claiming it for this process) and starts the heartbeat.
    pub fn start(run_dir: &Path, status: Status) -> Result<Self> {
        Self::start_every(run_dir, status, HEARTBEAT_EVERY)
    }

    fn start_every(run_dir: &Path, mut status: Status, every: Duration) -> Result<Self> {
        status.claim();
        status.write(run_dir)?;
        let shared = Arc::new(Mutex::new(status));
        let (stop, stopped) = crossbeam_channel::bounded::<()>(0);
        let (beat, dir) = (Arc::clone(&shared), run_dir.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("heartbeat".into())
            .spawn(move || {
                while let Err(crossbeam_channel::RecvTimeoutError::Timeout) = stopped.recv_timeout(every) {
                    let mut s = beat.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(e) = s.write(&dir) {
                        tracing::warn!("heartbeat of {}: {e}", dir.display());
                    }
                }
            })
            .map_err(|e| Error::run(run_dir, format!("cannot start the heartbeat thread: {e}")))?;
        Ok(Self { shared, run_dir: run_dir.to_path_buf(), stop: Some(stop), thread: Some(thread) })
    }

    /// Changes the status with `f` and writes it.
    pub fn update(&self, f: impl FnOnce(&mut Status)) -> Result<()> {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut s);
        s.write(&self.run_dir)
    }
}

impl Drop for LiveStatus {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_runs_are_judged_by_process_here_and_by_heartbeat_elsewhere() {
        let now = 1_000_000;
        let mut s = Status::new_local(RunState::Running, 10);
        assert_eq!(s.state_at(now), RunState::Running, "this process is alive");
        s.pid = u32::MAX - 1;
        assert_eq!(s.state_at(now), RunState::Crashed, "a local run whose process is gone");
        s.host = "trn-node-7".into();
        s.heartbeat_unix = now - 30;
        assert_eq!(s.state_at(now), RunState::Running, "a remote run with a fresh heartbeat is not judged by a local pid");
        s.heartbeat_unix = now - STALE_AFTER.as_secs() as i64 - 1;
        assert_eq!(s.state_at(now), RunState::Crashed, "a remote run whose heartbeat stopped");
        s.state = RunState::Finished;
        assert_eq!(s.state_at(now), RunState::Finished, "an ended run stays as it ended");
    }

    #[test]
    fn the_heartbeat_rewrites_the_status_without_updates() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = Status::new_local(RunState::Running, 10);
        s.host = "elsewhere".into();
        let live = LiveStatus::start_every(dir.path(), s, Duration::from_millis(20)).unwrap();
        live.update(|s| s.step = 3).unwrap();
        let read = Status::read(dir.path()).unwrap();
        assert_eq!((read.step, read.host.clone()), (3, this_host()), "the writer claims the run");
        // Age the file by hand; the heartbeat thread alone must stamp it again.
        let mut old = read.clone();
        old.heartbeat_unix = 0;
        crate::atomic::write_json(&dir.path().join(super::super::files::STATUS), &old).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while Status::read(dir.path()).unwrap().heartbeat_unix == 0 {
            assert!(std::time::Instant::now() < deadline, "no heartbeat within 5 s");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(live);
    }
}
