//! A remote run's local run directory, kept in step with the cluster: the
//! same `config.toml`, `status.json` and `metrics.jsonl` as a local run (so
//! the runs list and the charts show it like any other), plus `remote.json`
//! (profile, job id, job directory) and the job's output in `slurm.log`.
//!
//! Metrics are appended from the byte where the local copy ends, whole lines
//! only: the local file is always a prefix of the remote one, so a dropped
//! connection, a sleeping laptop or a restarted window neither loses nor
//! repeats a record. When Slurm says the job ended but the run's own status
//! still says running (killed for memory, time limit, a failed node), the
//! status is set from Slurm's state with its reason, and for a failed job
//! the line of its output that says why (running out of memory, an error).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::connection::Connection;
use super::job_state::{self, JobInfo};
use crate::error::{Error, Result};
use crate::runs::{RunState, Status, files};

/// `remote.json`: which job a local run directory follows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteRun {
    /// The profile's name.
    pub profile: String,
    /// The Slurm job id.
    pub job_id: String,
    /// The job directory on the cluster.
    pub job_dir: String,
    /// The run directory inside it, once the trainer has made it.
    pub run_dir: Option<String>,
}

impl RemoteRun {
    /// Reads `remote.json` of a local run directory.
    pub fn read(local: &Path) -> Result<Self> {
        crate::documents::load(&local.join(files::REMOTE))
    }

    /// Writes `remote.json` (atomically).
    pub fn write(&self, local: &Path) -> Result<()> {
        crate::atomic::write_json(&local.join(files::REMOTE), self)
    }
}

/// What one sync brought.
#[derive(Debug, Clone, PartialEq)]
pub struct Synced {
    /// Metrics lines appended.
    pub new_records: usize,
    /// Slurm's view of the job (None once no Slurm command knows it).
    pub job: Option<JobInfo>,
}

/// Starts following `job_id` in the new local run directory `local`, with the run's local `config`.
pub fn start(local: &Path, config: &crate::config::TrainConfig, remote: &RemoteRun) -> Result<()> {
    crate::atomic::write_dir(local, |tmp| {
        crate::atomic::write(&tmp.join(files::CONFIG), config.to_toml().as_bytes())?;
        let mut status = Status::new_local(RunState::Running, 0);
        status.message = Some(format!("submitted as Slurm job {}", remote.job_id));
        status.host = format!("slurm:{}", remote.profile);
        crate::atomic::write_json(&tmp.join(files::STATUS), &status)?;
        remote.write(tmp)
    })
}

/// Brings the local run directory `local` up to date with its job. Slurm
/// is asked first, so the files copied after it hold everything the job
/// wrote before it ended.
pub fn sync(conn: &Connection, local: &Path) -> Result<Synced> {
    let mut remote = RemoteRun::read(local)?;
    let job = conn.job(&remote.job_id)?;
    if remote.run_dir.is_none() {
        let listing = conn.run(&format!("ls -1 {}/runs 2>/dev/null || true", super::ssh::quote(&remote.job_dir)))?;
        if let Some(name) = listing.lines().map(str::trim).find(|l| !l.is_empty()) {
            remote.run_dir = Some(format!("{}/runs/{name}", remote.job_dir));
            remote.write(local)?;
        }
    }
    let mut new_records = 0;
    match &remote.run_dir {
        Some(run) => {
            let metrics = local.join(files::METRICS);
            let have = std::fs::metadata(&metrics).map_or(0, |m| m.len());
            let bytes = conn.read_from(&format!("{run}/{}", files::METRICS), have)?;
            // Whole lines only: a line still being written comes with the next sync.
            if let Some(end) = bytes.iter().rposition(|&b| b == b'\n') {
                let whole = &bytes[..=end];
                new_records = whole.iter().filter(|&&b| b == b'\n').count();
                write_at(&metrics, have, whole)?;
            }
            let status = conn.read_from(&format!("{run}/{}", files::STATUS), 0)?;
            if serde_json::from_slice::<Status>(&status).is_ok() {
                crate::atomic::write(&local.join(files::STATUS), &status)?;
            }
        }
        // Queued: no trainer writes a heartbeat yet; this sync stands for it, so the run is not judged crashed.
        None if job.as_ref().is_some_and(|j| !j.state.is_done()) => {
            let mut status = Status::read(local)?;
            status.message = job.as_ref().map(|j| format!("Slurm job {}: {}", remote.job_id, j.describe()));
            status.write(local)?;
        }
        None => {}
    }
    let log = conn.read_from(&format!("{}/slurm-{}.out", remote.job_dir, remote.job_id), 0)?;
    crate::atomic::write(&local.join(files::SLURM_LOG), &log)?;
    if let Some(j) = &job
        && let Some(ended) = j.state.run_state()
    {
        let mut status = Status::read(local)?;
        if status.state == RunState::Running {
            status.state = ended;
            // Slurm sees an exit code; the job's output may say why (the OOM killer, a missing module).
            let output = String::from_utf8_lossy(&log);
            let failed = ended == RunState::Failed;
            let id = &remote.job_id;
            status.message = Some(match (job_state::out_of_memory_line(&output), job_state::last_error_line(&output)) {
                (Some(line), _) if failed => format!(
                    "Slurm job {id}: ran out of memory ({line}); lower the batch size, turn on gradient checkpointing, or ask for more memory"
                ),
                (_, Some(line)) if failed => format!("Slurm job {id}: {}; its output says: {line}", j.describe()),
                _ => format!("Slurm job {id}: {}", j.describe()),
            });
            status.write(local)?;
        }
    }
    Ok(Synced { new_records, job })
}

/// Writes `bytes` at byte `offset` of `path` and fsyncs it: two syncs of one
/// run (a terminal and the window) write the same bytes to the same place
/// instead of appending them twice.
fn write_at(path: &Path, offset: u64, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().create(true).write(true).truncate(false).open(path).map_err(|e| Error::io(path, e))?;
    f.write_all_at(bytes, offset).and_then(|()| f.sync_data()).map_err(|e| Error::io(path, e))
}

/// Fetches the run's adapter, and its checkpoints where the trainer keeps
/// them in the run directory (the engine target's, e.g. of a cancelled run),
/// into the local run directory: whichever of them the run has.
pub fn fetch(conn: &Connection, local: &Path) -> Result<()> {
    let remote = RemoteRun::read(local)?;
    let run = remote.run_dir.ok_or_else(|| Error::run(local, "the job has not started its run yet; nothing to fetch"))?;
    let mut fetched = 0;
    for name in [files::ADAPTER, files::CHECKPOINTS] {
        let path = format!("{run}/{name}");
        if conn.run(&format!("test -d {} && echo yes || true", super::ssh::quote(&path)))?.trim() == "yes" {
            // Whole: into a temporary sibling, then renamed, so a reader never sees half an adapter.
            crate::atomic::write_dir(&local.join(name), |tmp| conn.fetch(&path, tmp))?;
            fetched += 1;
        }
    }
    if fetched == 0 {
        return Err(Error::run(local, format!("{run} has no adapter or checkpoints yet; fetch again when the run has saved one")));
    }
    Ok(())
}
