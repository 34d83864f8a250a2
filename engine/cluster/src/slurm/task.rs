//! Remote work as engine jobs (the facade's `Job::Remote`), so the window
//! never waits on the network: test a profile, submit a run and keep watching
//! it, watch a run again (after a restart), cancel a job, fetch an adapter.
//! Watching syncs every few seconds until the job ends, then fetches the
//! adapter of a run that ended well; cancelling the watching job stops
//! watching, never the Slurm job.

use std::path::PathBuf;
use std::time::Duration;

use super::connection::{Connection, ConnectionReport};
use super::host_key::HostKey;
use super::mirror::{self, RemoteRun};
use super::profile::Profile;
use super::ssh::SshError;
use crate::cancel::CancelFlag;
use crate::config::TrainConfig;
use crate::error::Result;
use crate::runs::{RunDir, RunState};

/// How often a watched run is synced.
pub const SYNC_EVERY: Duration = Duration::from_secs(3);

/// Something to do on a cluster.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteTask {
    /// Check the profile (a host key not known yet is shown, not accepted).
    Test(Profile),
    /// Accept the login node's host key with this fingerprint (as the test showed it), then test.
    Trust(Profile, String),
    /// Submit a run of `config` (resolved, checked), then watch it if `true`.
    Submit(Profile, Box<TrainConfig>, bool),
    /// Watch the remote run in this local run directory until its job ends.
    Watch(Profile, PathBuf),
    /// Cancel the job of this local run directory.
    Cancel(Profile, PathBuf),
    /// Fetch the adapter of this local run directory.
    Fetch(Profile, PathBuf),
}

/// What a remote task reports.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteEvent {
    /// The profile works: what the cluster has.
    Tested(ConnectionReport),
    /// The login node's host key is not known yet: its fingerprints, to check and accept.
    UnknownHostKey(HostKey),
    /// The host key was accepted (written to this known_hosts file).
    Trusted(PathBuf),
    /// Submitted: the local run directory and the job id.
    Submitted {
        /// The local run directory that follows the job.
        run_dir: PathBuf,
        /// The Slurm job id.
        job_id: String,
    },
    /// A sync: the job's state in words, whether it has ended.
    Synced {
        /// The local run directory.
        run_dir: PathBuf,
        /// Slurm's state in words ("pending: waiting for resources").
        job: String,
        /// The job has ended.
        done: bool,
    },
    /// The job was cancelled (`scancel`).
    JobCancelled(String),
    /// The adapter is here.
    Fetched(PathBuf),
}

impl RemoteTask {
    /// Does the task, reporting through `emit`; watching stops when `cancel` is set.
    pub fn run(self, cancel: &CancelFlag, mut emit: impl FnMut(RemoteEvent)) -> Result<()> {
        match self {
            RemoteTask::Test(p) => test(&Connection::new(p)?, &mut emit)?,
            RemoteTask::Trust(p, fingerprint) => {
                let key = super::host_key::trust(&p.ssh, &fingerprint)?;
                emit(RemoteEvent::Trusted(key.known_hosts));
                test(&Connection::new(p)?, &mut emit)?;
            }
            RemoteTask::Submit(p, config, and_watch) => {
                let conn = Connection::new(p)?;
                let local = RunDir::fresh_path(&config);
                let name = local.file_name().map_or_else(|| config.run.name.clone(), |n| n.to_string_lossy().into_owned());
                let job = super::job_dir::build(&config, &conn.profile, &name)?;
                let job_id = conn.submit(&job)?;
                let remote = RemoteRun {
                    profile: conn.profile.name.clone(),
                    job_id: job_id.clone(),
                    job_dir: conn.remote_dir(&name),
                    run_dir: None,
                };
                mirror::start(&local, &config, &remote)?;
                emit(RemoteEvent::Submitted { run_dir: local.clone(), job_id });
                if and_watch {
                    watch(&conn, local, cancel, emit)?;
                }
            }
            RemoteTask::Watch(p, local) => watch(&Connection::new(p)?, local, cancel, emit)?,
            RemoteTask::Cancel(p, local) => {
                let remote = RemoteRun::read(&local)?;
                Connection::new(p)?.cancel(&remote.job_id)?;
                emit(RemoteEvent::JobCancelled(remote.job_id));
            }
            RemoteTask::Fetch(p, local) => {
                mirror::fetch(&Connection::new(p)?, &local)?;
                emit(RemoteEvent::Fetched(local.join(crate::runs::files::ADAPTER)));
            }
        }
        Ok(())
    }
}

/// Tests the connection, or shows the host key if it is not known yet.
fn test(conn: &Connection, emit: &mut impl FnMut(RemoteEvent)) -> Result<()> {
    match conn.profile.ssh.run(&conn.control_dir, "true") {
        Err(SshError::UnknownHostKey(_)) => emit(RemoteEvent::UnknownHostKey(super::host_key::scan(&conn.profile.ssh)?)),
        _ => emit(RemoteEvent::Tested(conn.test()?)),
    }
    Ok(())
}

/// Syncs `local` every [`SYNC_EVERY`] until its job ends or `cancel` is set;
/// a failed sync (a dropped connection) is said and retried.
fn watch(conn: &Connection, local: PathBuf, cancel: &CancelFlag, mut emit: impl FnMut(RemoteEvent)) -> Result<()> {
    loop {
        let (job, done) = match mirror::sync(conn, &local) {
            Ok(s) => match &s.job {
                Some(j) => (j.describe(), j.state.is_done()),
                None => ("no longer known to Slurm".into(), true),
            },
            Err(e) => (format!("reconnecting ({e})"), false),
        };
        emit(RemoteEvent::Synced { run_dir: local.clone(), job, done });
        if done {
            // A run that ended well brings its adapter (and checkpoints) home at once.
            let ended_well =
                crate::runs::Status::read(&local).is_ok_and(|s| matches!(s.state, RunState::Finished | RunState::EarlyStopped));
            if ended_well && !local.join(crate::runs::files::ADAPTER).is_dir() {
                mirror::fetch(conn, &local)?;
                emit(RemoteEvent::Fetched(local.join(crate::runs::files::ADAPTER)));
            }
            return Ok(());
        }
        let until = std::time::Instant::now() + SYNC_EVERY;
        while std::time::Instant::now() < until {
            if cancel.is_set() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}
