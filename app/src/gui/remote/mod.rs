//! The Remote tab: training on a Slurm cluster over SSH. A profile (login
//! node and cluster settings, saved as TOML in `remote-profiles/` beside the
//! runs folder) is edited, tested (**Test connection**: SSH, sbatch,
//! partitions, the workbench program there) and used to **Submit** the
//! Configure tab's config. Remote runs (run directories with `remote.json`)
//! are listed with their Slurm job and its state, watched while the window
//! is open (and again after a restart), cancelled, and their adapters
//! fetched. All of it runs as engine jobs; the window never waits on SSH.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use eframe::egui::{self, Color32, RichText};
use engine::backend::slurm::connection::ConnectionReport;
use engine::backend::slurm::host_key::HostKey;
use engine::backend::slurm::job_dir::{self, neuron};
use engine::backend::slurm::profile::{Profile, Target};
use engine::backend::slurm::task::{RemoteEvent, RemoteTask};
use engine::config::TrainConfig;
use engine::jobs::{JobEvent, JobId};

use super::periodic::Periodic;
use super::runs::RunEntry;

mod view;

/// What the Remote tab asks the window to do.
pub enum RemoteAction {
    /// Start this remote task as an engine job (a watch of `Some(run)` is kept per run).
    Start(Box<RemoteTask>, Option<PathBuf>),
    /// Start a run of the config on the profile's cluster, through its Slurm backend (submitted and watched).
    Submit(Box<Profile>, Box<TrainConfig>),
    /// Cancel the run's Slurm job, through its Slurm backend.
    Cancel(Box<Profile>, PathBuf),
}

/// The saved profiles by file name (without `.toml`), each read or why not.
type SavedProfiles = BTreeMap<String, Result<Profile, String>>;

/// How often the saved profiles are read again.
const PROFILES_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The profiles saved in `dir`.
fn read_saved(dir: &Path) -> SavedProfiles {
    Profile::list(dir)
        .into_iter()
        .filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), Profile::read(&p).map_err(|e| e.to_string()))))
        .collect()
}

/// The Remote tab's state.
pub struct RemotePanel {
    /// Where profiles are saved.
    dir: PathBuf,
    /// The saved profiles as last read.
    saved: SavedProfiles,
    /// The next read of the saved profiles (another window or an editor may change them).
    reading_saved: Periodic<SavedProfiles>,
    /// The profile being edited.
    pub profile: Profile,
    /// Its set-up lines as one text.
    setup: String,
    /// Its price per node-hour as typed.
    price: String,
    /// The job testing, submitting, cancelling or fetching.
    pub job: Option<JobId>,
    /// The watch job and last state of each watched run.
    pub watching: BTreeMap<PathBuf, (JobId, String)>,
    /// Runs already re-attached (or tried) since the window opened.
    attached: BTreeSet<PathBuf>,
    /// What the last test found.
    pub report: Option<ConnectionReport>,
    /// A host key the last test found unknown, for the user to accept.
    pub host_key: Option<HostKey>,
    /// The last message (text, is an error).
    pub notice: Option<(String, bool)>,
    /// The remote run whose job output (`slurm.log`) is shown.
    log: Option<JobLog>,
    /// What the tab says before submitting, made again only when the config or the profile changes.
    preflight: Option<Preflight>,
}

impl RemotePanel {
    /// The panel over the profiles in `dir`; the first one is loaded.
    pub fn new(dir: PathBuf) -> Self {
        let mut reading_saved = Periodic::new(PROFILES_EVERY);
        reading_saved.restart();
        let mut p = Self {
            saved: read_saved(&dir),
            reading_saved,
            dir,
            profile: Profile { name: "my-cluster".into(), ..Default::default() },
            setup: String::new(),
            price: String::new(),
            job: None,
            watching: BTreeMap::new(),
            attached: BTreeSet::new(),
            report: None,
            host_key: None,
            log: None,
            notice: None,
            preflight: None,
        };
        if let Some(first) = p.saved.keys().next().cloned() {
            p.load(&first);
        }
        p
    }

    /// Takes up the last read of the saved profiles and starts the next when due.
    fn follow_saved(&mut self) {
        if let Some(saved) = self.reading_saved.finished() {
            self.saved = saved;
        }
        let dir = self.dir.clone();
        self.reading_saved.start_when_due(|| move || read_saved(&dir));
    }

    /// The saved profile named `name`.
    fn saved(&self, name: &str) -> Option<Profile> {
        self.saved.get(name)?.as_ref().ok().cloned()
    }

    /// Shows the saved profile named `name` in the form.
    fn load(&mut self, name: &str) {
        match self.saved.get(name) {
            Some(Ok(p)) => {
                self.setup = p.cluster.setup.join("\n");
                self.price = if p.cluster.price_per_node_hour > 0.0 { p.cluster.price_per_node_hour.to_string() } else { String::new() };
                self.profile = p.clone();
                // What the last test found was about the profile shown before.
                (self.report, self.host_key) = (None, None);
            }
            Some(Err(e)) => self.notice = Some((e.clone(), true)),
            None => self.notice = Some((format!("no profile {name:?} is saved"), true)),
        }
    }

    /// The edited profile, set-up lines included, if it is complete.
    fn checked(&mut self) -> Option<Profile> {
        self.profile.cluster.setup = self.setup.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        self.profile.cluster.price_per_node_hour = self.price.trim().trim_start_matches('$').parse().unwrap_or(0.0);
        // The form keeps what is typed; the profile used is trimmed.
        let mut p = self.profile.clone();
        let trim = |o: &mut Option<String>| *o = o.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        trim(&mut p.ssh.user);
        trim(&mut p.ssh.jump_host);
        p.ssh.host = p.ssh.host.trim().to_string();
        p.ssh.identity_file =
            p.ssh.identity_file.as_ref().map(|f| PathBuf::from(f.to_string_lossy().trim())).filter(|f| !f.as_os_str().is_empty());
        p.ssh.config_file =
            p.ssh.config_file.as_ref().map(|f| PathBuf::from(f.to_string_lossy().trim())).filter(|f| !f.as_os_str().is_empty());
        match p.check() {
            Ok(()) => Some(p),
            Err(e) => {
                self.notice = Some((e, true));
                None
            }
        }
    }

    fn save(&mut self) {
        let Some(p) = self.checked() else { return };
        self.notice = Some(match p.save(&self.dir) {
            Ok(file) => {
                // An older read under way would not have it.
                self.reading_saved.restart();
                self.saved.insert(p.name.clone(), Ok(p));
                (format!("profile saved to {}", super::display_path(&file)), false)
            }
            Err(e) => (e.to_string(), true),
        });
    }

    /// Applies an event of one of the tab's jobs.
    pub fn on_event(&mut self, job: JobId, ev: &JobEvent) {
        match ev {
            JobEvent::Remote(e) => match e.as_ref() {
                RemoteEvent::Tested(r) => {
                    self.notice = Some(("connected".into(), false));
                    self.report = Some(r.clone());
                }
                RemoteEvent::UnknownHostKey(key) => {
                    self.notice = Some((format!("the host key of {} is not known yet: check a fingerprint below", key.host), true));
                    self.host_key = Some(key.clone());
                }
                RemoteEvent::Trusted(file) => {
                    self.host_key = None;
                    self.notice = Some((format!("host key accepted: written to {}", super::display_path(file)), false));
                }
                RemoteEvent::Submitted { run_dir, job_id } => {
                    self.notice = Some((format!("submitted as Slurm job {job_id}: {}", super::display_path(run_dir)), false));
                    // The submitting job goes on watching the run: the tab is free for the next task.
                    self.watching.insert(run_dir.clone(), (job, "submitted".into()));
                    self.attached.insert(run_dir.clone());
                    if self.job == Some(job) {
                        self.job = None;
                    }
                }
                RemoteEvent::Synced { run_dir, job: state, .. } => {
                    self.watching.insert(run_dir.clone(), (job, state.clone()));
                }
                RemoteEvent::JobCancelled(id) => self.notice = Some((format!("Slurm job {id} cancelled"), false)),
                RemoteEvent::Fetched(a) => self.notice = Some((format!("adapter fetched: {}", super::display_path(a)), false)),
            },
            JobEvent::Failed(e) => self.notice = Some((e.clone(), true)),
            JobEvent::Ended if self.job == Some(job) => self.job = None,
            _ => {}
        }
    }

    /// Whether `job` is one of the tab's.
    pub fn owns(&self, job: JobId) -> bool {
        self.job == Some(job) || self.watching.values().any(|(j, _)| *j == job)
    }

    /// Watch tasks for remote runs still running that nothing watches yet
    /// (after the window restarts), with their profile found by name.
    pub fn reattach(&mut self, runs: &[RunEntry]) -> Vec<RemoteAction> {
        let mut out = Vec::new();
        for r in runs {
            if self.attached.contains(&r.path) || r.status.as_ref().is_none_or(|s| s.state != engine::runs::RunState::Running) {
                continue;
            }
            self.attached.insert(r.path.clone());
            let Some(remote) = &r.remote else { continue };
            if let Some(p) = self.saved(&remote.profile) {
                out.push(RemoteAction::Start(Box::new(RemoteTask::Watch(p, r.path.clone())), Some(r.path.clone())));
            }
        }
        out
    }
}

/// How much of a job's output the log view shows (its end).
const LOG_TAIL: u64 = 64 * 1024;

/// A remote run's job output as shown: its last part, read again every
/// second on a worker thread (each sync rewrites it).
struct JobLog {
    run: PathBuf,
    text: String,
    reading: Periodic<String>,
}

impl JobLog {
    fn new(run: PathBuf) -> Self {
        Self { run, text: "(reading the job output)".into(), reading: Periodic::new(std::time::Duration::from_secs(1)) }
    }

    /// Takes up a finished read and starts the next when due; returns when to look again.
    fn poll(&mut self) -> std::time::Duration {
        if let Some(text) = self.reading.finished() {
            self.text = text;
        }
        self.reading.start_when_due(|| {
            let run = self.run.clone();
            move || match engine::runs::job_output::read(&run, LOG_TAIL) {
                Ok(t) if t.is_empty() => "(no output yet)".into(),
                Ok(t) => t,
                Err(e) => format!("no job output here yet ({e}); it comes with the next sync"),
            }
        })
    }
}

/// What the tab says before submitting: the estimate, what the target does
/// not honour or refuses, and whether Submit is on.
struct Preflight {
    /// The config and profile it was made from.
    made_from: (TrainConfig, Profile),
    /// The text shown.
    text: String,
    /// The target refuses the run (shown in red).
    refused: bool,
    /// The config is valid and the target takes it.
    can_submit: bool,
}

impl RemotePanel {
    /// The preflight of `config` on the edited profile, made again only when either changed.
    fn preflight(&mut self, config: &TrainConfig) -> &Preflight {
        let stale = self.preflight.as_ref().is_none_or(|p| p.made_from.0 != *config || p.made_from.1 != self.profile);
        if stale {
            let made_from = (config.clone(), self.profile.clone());
            self.preflight = Some(if config.validate().is_empty() {
                let tps = engine::backend::slurm::cost::measured_tokens_per_s(&config.run.runs_dir, &self.profile.name);
                let mut text = format!("Estimate: {}", engine::backend::slurm::cost::estimate(config, &self.profile, tps).describe());
                for n in job_dir::not_honoured(config, &self.profile) {
                    text += &format!("\nNot honoured: {n}");
                }
                let can = job_dir::check(config, &self.profile);
                if let Err(e) = &can {
                    text += &format!("\nCannot submit: {e}");
                }
                Preflight { made_from, text, refused: can.is_err(), can_submit: can.is_ok() }
            } else {
                let text = "Estimate: the config has errors (see the Configure tab)".into();
                Preflight { made_from, text, refused: false, can_submit: false }
            });
        }
        self.preflight.as_ref().expect("made above")
    }
}
