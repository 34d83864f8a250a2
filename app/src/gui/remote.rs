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

use super::runs::RunEntry;

/// What the Remote tab asks the window to do.
pub enum RemoteAction {
    /// Start this remote task as an engine job (a watch of `Some(run)` is kept per run).
    Start(Box<RemoteTask>, Option<PathBuf>),
}

/// The Remote tab's state.
pub struct RemotePanel {
    /// Where profiles are saved.
    dir: PathBuf,
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
    /// The remote run whose job output (`slurm.log`) is shown, with the file's
    /// time when it was read and its last part.
    log: Option<(PathBuf, Option<std::time::SystemTime>, String)>,
    /// What the tab says before submitting, made again only when the config or the profile changes.
    preflight: Option<Preflight>,
}

impl RemotePanel {
    /// The panel over the profiles in `dir`; the first one is loaded.
    pub fn new(dir: PathBuf) -> Self {
        let mut p = Self {
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
        if let Some(first) = p.profiles().first() {
            p.load(&first.clone());
        }
        p
    }

    /// The saved profiles.
    fn profiles(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// The saved profile named `name`.
    fn saved(&self, name: &str) -> Option<Profile> {
        toml::from_str(&std::fs::read_to_string(self.dir.join(format!("{name}.toml"))).ok()?).ok()
    }

    fn load(&mut self, path: &Path) {
        match std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|t| toml::from_str::<Profile>(&t).map_err(|e| e.to_string()))
        {
            Ok(p) => {
                self.setup = p.cluster.setup.join("\n");
                self.price = if p.cluster.price_per_node_hour > 0.0 { p.cluster.price_per_node_hour.to_string() } else { String::new() };
                self.profile = p;
                // What the last test found was about the profile shown before.
                (self.report, self.host_key) = (None, None);
            }
            Err(e) => self.notice = Some((format!("{}: {e}", path.display()), true)),
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
        let file = self.dir.join(format!("{}.toml", p.name));
        let saved = std::fs::create_dir_all(&self.dir)
            .map_err(|e| e.to_string())
            .and_then(|()| toml::to_string_pretty(&p).map_err(|e| e.to_string()))
            .and_then(|text| engine::atomic::write(&file, text.as_bytes()).map_err(|e| e.to_string()));
        self.notice = Some(match saved {
            Ok(()) => (format!("profile saved to {}", super::display_path(&file)), false),
            Err(e) => (e, true),
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

    /// Draws the tab; `config` is the Configure tab's.
    pub fn ui(&mut self, ui: &mut egui::Ui, config: &TrainConfig, runs: &[RunEntry]) -> Option<RemoteAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            let l = ui.label("Profile");
            egui::ComboBox::from_id_salt("remote-profile")
                .selected_text(self.profile.name.clone())
                .show_ui(ui, |ui| {
                    for p in self.profiles() {
                        let name = p.file_stem().map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                        if ui.selectable_label(name == self.profile.name, &name).clicked() {
                            self.load(&p);
                        }
                    }
                })
                .response
                .labelled_by(l.id);
            if ui.button("Save profile").clicked() {
                self.save();
            }
        });
        egui::Grid::new("remote-profile-form").num_columns(4).show(ui, |ui| {
            let s = &mut self.profile.ssh;
            text_row(ui, "Name", &mut self.profile.name, "my-cluster");
            opt_row(ui, "User", &mut s.user, "from ~/.ssh/config");
            ui.end_row();
            text_row(ui, "Host", &mut s.host, "login node, or a ~/.ssh/config Host alias");
            opt_row(ui, "Jump host", &mut s.jump_host, "bastion (optional)");
            ui.end_row();
            let mut port = s.port.map_or_else(String::new, |p| p.to_string());
            text_row(ui, "Port", &mut port, "22");
            s.port = port.trim().parse().ok();
            let mut key = s.identity_file.as_ref().map_or_else(String::new, |k| k.display().to_string());
            text_row(ui, "Key file", &mut key, "from the agent or ~/.ssh/config");
            s.identity_file = (!key.is_empty()).then(|| PathBuf::from(key));
            ui.end_row();
            let mut cfg_file = s.config_file.as_ref().map_or_else(String::new, |k| k.display().to_string());
            text_row(ui, "SSH config", &mut cfg_file, "~/.ssh/config");
            s.config_file = (!cfg_file.is_empty()).then(|| PathBuf::from(cfg_file));
            let c = &mut self.profile.cluster;
            text_row(ui, "Partition", &mut c.partition, "the default");
            ui.end_row();
            text_row(ui, "Time limit", &mut c.time_limit, "HH:MM:SS");
            text_row(ui, "Account", &mut c.account, "none");
            ui.end_row();
            text_row(ui, "Remote folder", &mut c.remote_dir, "/fsx/you/workbench");
            text_row(ui, "Price per node-hour", &mut self.price, "for the cost estimate, e.g. 21.50");
            c.price_per_node_hour = self.price.trim().trim_start_matches('$').parse().unwrap_or(0.0);
            ui.end_row();
        });
        self.target_form(ui);
        ui.horizontal(|ui| {
            let l = ui.label("Set-up lines");
            ui.add(
                egui::TextEdit::multiline(&mut self.setup)
                    .desired_rows(2)
                    .desired_width(500.0)
                    .hint_text("module load ...\nsource ~/venv/bin/activate"),
            )
            .labelled_by(l.id);
        });
        ui.horizontal(|ui| {
            let busy = self.job.is_some();
            if ui.add_enabled(!busy, egui::Button::new("Test connection")).clicked()
                && let Some(p) = self.checked()
            {
                action = Some(RemoteAction::Start(Box::new(RemoteTask::Test(p)), None));
            }
            let valid = self.preflight(config).can_submit;
            let submit = ui.add_enabled(!busy && valid, egui::Button::new("Submit the configured run"));
            if submit
                .on_hover_text(format!("{} on the cluster: {}", config.run.name, self.profile.cluster.target.describe()))
                .on_disabled_hover_text("fix the config in the Configure tab first, or choose a target that can train it")
                .clicked()
                && let Some(p) = self.checked()
            {
                // Saved, so the run's later Watch / Cancel / Fetch (and re-attaching) find this very profile.
                self.save();
                action = Some(RemoteAction::Start(Box::new(RemoteTask::Submit(p, Box::new(config.clone()), true)), None));
            }
            if busy {
                ui.spinner();
            }
        });
        let pre = self.preflight(config);
        let color = if pre.refused { Color32::from_rgb(220, 50, 50) } else { ui.visuals().text_color() };
        ui.label(RichText::new(pre.text.clone()).color(color));
        if let Some((text, bad)) = &self.notice {
            let color = if *bad { Color32::from_rgb(220, 50, 50) } else { ui.visuals().weak_text_color() };
            ui.label(RichText::new(text).color(color));
        }
        if let Some(key) = self.host_key.clone() {
            ui.label(format!("Host key of {} (compare with what your administrator gives):", key.host));
            for (_, print) in &key.keys {
                ui.horizontal(|ui| {
                    ui.monospace(print);
                    if ui.button(format!("Accept {print}")).clicked()
                        && let Some(p) = self.checked()
                    {
                        let fingerprint = print.split_whitespace().last().unwrap_or_default().to_string();
                        action = Some(RemoteAction::Start(Box::new(RemoteTask::Trust(p, fingerprint)), None));
                    }
                });
            }
        }
        if let Some(r) = &self.report {
            for line in r.lines() {
                ui.label(line);
            }
        }
        ui.separator();
        ui.strong("Remote runs");
        egui::Grid::new("remote-runs").striped(true).show(ui, |ui| {
            for r in runs {
                let Some(remote) = &r.remote else { continue };
                ui.label(&r.name);
                ui.label(format!("job {}", remote.job_id));
                let state = self
                    .watching
                    .get(&r.path)
                    .map_or_else(|| format!("{:?}", r.state.unwrap_or(engine::runs::RunState::Running)).to_lowercase(), |w| w.1.clone());
                ui.label(state);
                let mut clicked = None;
                if ui.button(format!("Watch {}", r.name)).clicked() {
                    clicked = Some(0);
                }
                if ui.button(format!("Cancel job {}", r.name)).clicked() {
                    clicked = Some(1);
                }
                if ui.button(format!("Fetch adapter {}", r.name)).clicked() {
                    clicked = Some(2);
                }
                if ui.button(format!("Log {}", r.name)).on_hover_text("the job's output (slurm.log)").clicked() {
                    let shown = self.log.as_ref().is_some_and(|(p, _, _)| *p == r.path);
                    self.log = (!shown).then(|| (r.path.clone(), None, String::new()));
                }
                // Only the run's own profile (read when a button is clicked): another could reach another
                // cluster, where the same job id is someone else's.
                match (clicked, clicked.and_then(|_| self.saved(&remote.profile))) {
                    (None, _) => {}
                    (Some(_), None) => {
                        self.notice =
                            Some((format!("the profile {:?} this run was submitted with is not saved here", remote.profile), true))
                    }
                    (Some(0), Some(p)) => {
                        action = Some(RemoteAction::Start(Box::new(RemoteTask::Watch(p, r.path.clone())), Some(r.path.clone())))
                    }
                    (Some(1), Some(p)) => action = Some(RemoteAction::Start(Box::new(RemoteTask::Cancel(p, r.path.clone())), None)),
                    (Some(_), Some(p)) => action = Some(RemoteAction::Start(Box::new(RemoteTask::Fetch(p, r.path.clone())), None)),
                }
                ui.end_row();
            }
        });
        self.log_ui(ui);
        action
    }

    /// The shown run's job output: its last part, re-read when the file changes (each sync rewrites it).
    fn log_ui(&mut self, ui: &mut egui::Ui) {
        let Some((run, read_at, text)) = &mut self.log else { return };
        let file = run.join(engine::runs::files::SLURM_LOG);
        let modified = std::fs::metadata(&file).and_then(|m| m.modified()).ok();
        if modified.is_none() || modified != *read_at {
            *read_at = modified;
            *text = match tail(&file, LOG_TAIL) {
                Ok(t) if t.is_empty() => "(no output yet)".into(),
                Ok(t) => t,
                Err(e) => format!("no job output here yet ({e}); it comes with the next sync"),
            };
        }
        ui.separator();
        let name = run.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        ui.strong(format!("Job output of {name}"));
        egui::ScrollArea::vertical().id_salt("remote-log").max_height(ui.available_height()).stick_to_bottom(true).show(ui, |ui| {
            ui.add(egui::Label::new(RichText::new(text.as_str()).monospace().small()).wrap());
        });
    }
}

/// How much of a job's output the log view shows (its end).
const LOG_TAIL: u64 = 64 * 1024;

/// The last `max` bytes of `file`, from a line start, as text.
fn tail(file: &Path, max: u64) -> std::io::Result<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(file)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(max)))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Ok(if len > max { text.split_once('\n').map_or(text.clone(), |(_, rest)| rest.to_string()) } else { text })
}

impl RemotePanel {
    /// The target and the settings it reads: devices per node, DeepSpeed and
    /// Python for GPUs; instance type, pre-compilation and Python for Trainium.
    fn target_form(&mut self, ui: &mut egui::Ui) {
        let c = &mut self.profile.cluster;
        ui.horizontal(|ui| {
            let l = ui.label("Target");
            egui::ComboBox::from_id_salt("remote-target")
                .selected_text(c.target.describe())
                .show_ui(ui, |ui| {
                    for t in Target::ALL {
                        ui.selectable_value(&mut c.target, t, t.describe());
                    }
                })
                .response
                .labelled_by(l.id);
        });
        egui::Grid::new("remote-target-form").num_columns(4).show(ui, |ui| match c.target {
            Target::Engine => {
                text_row(ui, "Workbench program", &mut c.workbench, "workbench");
                ui.end_row();
            }
            Target::Cuda => {
                number_row(ui, "Nodes", &mut c.nodes);
                number_row(ui, "GPUs per node", &mut c.tasks_per_node);
                ui.end_row();
                let l = ui.label("DeepSpeed");
                egui::ComboBox::from_id_salt("remote-deepspeed")
                    .selected_text(deepspeed_name(c.deepspeed))
                    .show_ui(ui, |ui| {
                        for stage in [0, 2, 3] {
                            ui.selectable_value(&mut c.deepspeed, stage, deepspeed_name(stage));
                        }
                    })
                    .response
                    .labelled_by(l.id);
                text_row(ui, "Python", &mut c.python, "python3 of the set-up environment");
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut c.request_gpus, "Ask Slurm for the GPUs (--gpus-per-node)")
                    .on_hover_text("off on clusters where Slurm does not manage GPUs as a resource (GRES)");
                ui.end_row();
            }
            Target::Neuron => {
                number_row(ui, "Nodes", &mut c.nodes);
                let l = ui.label("Instance type");
                egui::ComboBox::from_id_salt("remote-instance")
                    .selected_text(c.instance_type.clone())
                    .show_ui(ui, |ui| {
                        for i in neuron::INSTANCES {
                            let text = format!("{} ({} NeuronCores, TP {})", i.name, i.cores, i.tensor_parallel);
                            ui.selectable_value(&mut c.instance_type, i.name.to_string(), text);
                        }
                    })
                    .response
                    .labelled_by(l.id);
                ui.end_row();
                text_row(ui, "Python", &mut c.python, "python3 of the Neuron environment");
                let l = ui.label("Tensor parallel");
                ui.add(egui::DragValue::new(&mut c.tensor_parallel).range(0..=64))
                    .labelled_by(l.id)
                    .on_hover_text("0: the instance type's (as optimum-neuron's examples); 1 for a small model whose heads do not split");
                ui.end_row();
                ui.label("");
                ui.checkbox(&mut c.precompile, "Pre-compile the graphs (neuron_parallel_compile, a few steps)");
                ui.end_row();
            }
        });
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

/// A DeepSpeed stage as the window names it.
fn deepspeed_name(stage: u8) -> &'static str {
    match stage {
        2 => "ZeRO-2",
        3 => "ZeRO-3",
        _ => "none",
    }
}

/// A labelled whole-number field (at least 1) in a grid row.
fn number_row(ui: &mut egui::Ui, label: &str, value: &mut u32) {
    let l = ui.label(label);
    ui.add(egui::DragValue::new(value).range(1..=4096)).labelled_by(l.id);
}

/// A labelled one-line text field in a grid row.
fn text_row(ui: &mut egui::Ui, label: &str, value: &mut String, hint: &str) {
    let l = ui.label(label);
    ui.add_sized([260.0, 20.0], egui::TextEdit::singleline(value).hint_text(hint)).labelled_by(l.id);
}

/// A labelled optional text field (empty is None).
fn opt_row(ui: &mut egui::Ui, label: &str, value: &mut Option<String>, hint: &str) {
    let mut text = value.clone().unwrap_or_default();
    text_row(ui, label, &mut text, hint);
    *value = (!text.is_empty()).then_some(text);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_log_view_shows_whole_lines_from_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("slurm.log");
        std::fs::write(&file, "first line\nsecond line\nthird\n").unwrap();
        assert_eq!(super::tail(&file, 1024).unwrap(), "first line\nsecond line\nthird\n");
        assert_eq!(super::tail(&file, 14).unwrap(), "third\n");
        assert!(super::tail(&dir.path().join("none"), 10).is_err());
    }
}
