//! Runs: every run directory under the workspace's runs folder, refreshed
//! from disk (every two seconds on a worker thread, so a slow disk never
//! stalls a frame; at once after the user changes something), with status,
//! best validation loss and perplexity, key config and duration; tick runs to
//! overlay them; delete (with confirmation); resume a stopped run; a config
//! diff of the ticked runs.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use eframe::egui::{self, Color32, RichText};
use engine::config::TrainConfig;
use engine::runs::{Notes, RunState, Status};

use super::periodic::Periodic;

/// One run as listed.
pub struct RunEntry {
    /// The directory.
    pub path: PathBuf,
    /// Directory name.
    pub name: String,
    /// Its status file (None if unreadable).
    pub status: Option<Status>,
    /// State with crashes detected.
    pub state: Option<RunState>,
    /// Its config (None if unreadable).
    pub config: Option<TrainConfig>,
    /// A person's name, tags and note for it.
    pub notes: Notes,
    /// Whether it has saved an adapter.
    pub has_adapter: bool,
    /// The Slurm job it follows, for a remote run.
    pub remote: Option<engine::backend::slurm::mirror::RemoteRun>,
}

/// Every run under `runs_dir` as listed, newest first.
fn read_entries(runs_dir: &Path) -> Vec<RunEntry> {
    engine::runs::run_dir::list(runs_dir)
        .into_iter()
        .map(|r| {
            let status = r.status().ok();
            RunEntry {
                name: r.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                state: status.as_ref().map(Status::effective_state),
                status,
                config: r.config().ok(),
                notes: Notes::read(&r.path).unwrap_or_default(),
                has_adapter: r.adapter_dir().is_dir(),
                remote: engine::backend::slurm::mirror::RemoteRun::read(&r.path).ok(),
                path: r.path,
            }
        })
        .collect()
}

/// What the user asked the runs list to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunAction {
    /// Resume this run.
    Resume(PathBuf),
    /// Merge this run's adapter into its base model.
    Merge(PathBuf),
}

/// The runs list's state.
pub struct RunsPanel {
    runs_dir: PathBuf,
    /// Listed runs, newest first.
    pub entries: Vec<RunEntry>,
    /// Ticked runs (overlaid in the Monitor).
    pub selected: BTreeSet<PathBuf>,
    confirm_delete: Option<PathBuf>,
    /// Why the last deletion failed, shown in the confirmation window.
    delete_error: Option<String>,
    /// The run whose notes are being edited, and the draft.
    editing: Option<(PathBuf, Notes, String)>,
    /// The re-read every two seconds, on a worker thread.
    reading: Periodic<Vec<RunEntry>>,
}

impl RunsPanel {
    /// A list of the runs in `runs_dir`, with the newest ticked.
    pub fn new(runs_dir: PathBuf) -> Self {
        let mut p = Self {
            runs_dir,
            entries: Vec::new(),
            selected: BTreeSet::new(),
            confirm_delete: None,
            delete_error: None,
            editing: None,
            reading: Periodic::new(Duration::from_secs(2)),
        };
        p.refresh();
        // Open on the newest run, so its charts are one click away.
        if let Some(newest) = p.entries.first() {
            p.selected.insert(newest.path.clone());
        }
        p
    }

    /// Re-reads the runs folder now (after the user changed something); a
    /// periodic re-read still under way is dropped, being older.
    pub fn refresh(&mut self) {
        self.reading.restart();
        self.show(read_entries(&self.runs_dir));
    }

    /// Lists `entries`, keeping the ticks of the runs still there.
    fn show(&mut self, entries: Vec<RunEntry>) {
        self.entries = entries;
        let existing: BTreeSet<PathBuf> = self.entries.iter().map(|e| e.path.clone()).collect();
        self.selected.retain(|p| existing.contains(p));
    }

    /// Takes up a finished periodic re-read, and starts the next one on a
    /// worker thread when it is due; returns when to look again.
    fn poll(&mut self) -> Duration {
        if let Some(entries) = self.reading.finished() {
            self.show(entries);
        }
        self.reading.start_when_due(|| {
            let dir = self.runs_dir.clone();
            move || read_entries(&dir)
        })
    }

    /// The ticked runs in list order.
    pub fn selected_paths(&self) -> Vec<PathBuf> {
        self.entries.iter().filter(|e| self.selected.contains(&e.path)).map(|e| e.path.clone()).collect()
    }

    /// Draws the list; returns an action the user chose.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<RunAction> {
        let again = self.poll();
        ui.ctx().request_repaint_after(again);
        let mut action = None;
        ui.horizontal(|ui| {
            ui.heading("Runs");
            if ui.button("Refresh").clicked() {
                self.refresh();
            }
        });
        ui.label(RichText::new(super::display_path(&self.runs_dir)).small().weak()).on_hover_text(self.runs_dir.display().to_string());
        ui.separator();
        if self.entries.is_empty() {
            ui.label("No runs yet. Configure one and press Launch.");
        }
        egui::ScrollArea::vertical().id_salt("runs-scroll").max_height(ui.available_height() * 0.6).show(ui, |ui| {
            for e in &self.entries {
                let mut ticked = self.selected.contains(&e.path);
                ui.horizontal(|ui| {
                    if ui.checkbox(&mut ticked, &e.name).changed() {
                        if ticked {
                            self.selected.insert(e.path.clone());
                        } else {
                            self.selected.remove(&e.path);
                        }
                    }
                });
                ui.horizontal(|ui| {
                    ui.add_space(24.0);
                    ui.label(state_text(e.state));
                    if let Some(s) = &e.status {
                        ui.label(format!("step {}/{}", s.step, s.total_steps));
                        if let Some(v) = s.best_val_loss {
                            ui.label(format!("val {v:.3} (ppl {:.2})", v.exp()));
                        }
                        ui.label(duration_text(s));
                    }
                });
                if let Some(r) = &e.remote {
                    ui.horizontal_wrapped(|ui| {
                        ui.add_space(24.0);
                        // While it runs, the status message is Slurm's word on it ("pending: waiting for resources").
                        let live = e.status.as_ref().filter(|s| s.state == RunState::Running).and_then(|s| s.message.clone());
                        let text = format!("Slurm job {} on {}", r.job_id, r.profile);
                        ui.label(RichText::new(live.map_or(text.clone(), |m| format!("{text}: {m}"))).small());
                    });
                }
                if !e.notes.display_name.is_empty() || !e.notes.tags.is_empty() {
                    ui.horizontal(|ui| {
                        ui.add_space(24.0);
                        ui.label(RichText::new(&e.notes.display_name).strong());
                        for t in &e.notes.tags {
                            ui.label(RichText::new(format!("#{t}")).color(Color32::from_rgb(120, 160, 220)));
                        }
                    });
                }
                ui.horizontal(|ui| {
                    ui.add_space(24.0);
                    if let Some(c) = &e.config {
                        ui.label(RichText::new(config_summary(c)).small());
                    }
                });
                if !e.notes.note.is_empty() {
                    ui.horizontal(|ui| {
                        ui.add_space(24.0);
                        ui.label(RichText::new(&e.notes.note).italics().small());
                    });
                }
                ui.horizontal_wrapped(|ui| {
                    ui.add_space(24.0);
                    // A remote run resumes on its cluster, not here (its checkpoints are there).
                    let resumable =
                        e.remote.is_none() && matches!(e.state, Some(RunState::Cancelled | RunState::Failed | RunState::Crashed));
                    let resume = "continue from the last checkpoint";
                    if resumable && named_button(ui, "Resume", format!("Resume {}", e.name), resume).clicked() {
                        action = Some(RunAction::Resume(e.path.clone()));
                    }
                    if named_button(ui, "Notes", format!("Notes {}", e.name), "rename, tag, add a note").clicked() {
                        self.editing = Some((e.path.clone(), e.notes.clone(), e.notes.tags.join(", ")));
                    }
                    if named_button(ui, "Folder", format!("Open folder {}", e.name), "open the run directory").clicked() {
                        let _ = std::process::Command::new("xdg-open").arg(&e.path).spawn();
                    }
                    let live = matches!(e.state, Some(RunState::Running | RunState::Paused));
                    let merge = "fold the adapter into the base model: a full model in the run's merged/ folder";
                    if !live && e.has_adapter && named_button(ui, "Merge", format!("Merge {}", e.name), merge).clicked() {
                        action = Some(RunAction::Merge(e.path.clone()));
                    }
                    if !live && named_button(ui, "Delete", format!("Delete {}", e.name), "delete the run (asks first)").clicked() {
                        self.confirm_delete = Some(e.path.clone());
                    }
                });
                ui.separator();
            }
        });
        self.diff_ui(ui);
        self.confirm_delete_ui(ui);
        self.notes_ui(ui);
        action
    }

    fn notes_ui(&mut self, ui: &mut egui::Ui) {
        let Some((path, notes, tags)) = self.editing.as_mut() else { return };
        let mut close = false;
        egui::Window::new("Run notes").collapsible(false).show(ui.ctx(), |ui| {
            ui.label(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
            ui.horizontal(|ui| {
                let l = ui.label("Display name");
                ui.text_edit_singleline(&mut notes.display_name).labelled_by(l.id);
            });
            ui.horizontal(|ui| {
                let l = ui.label("Tags");
                ui.text_edit_singleline(tags).labelled_by(l.id).on_hover_text("comma-separated");
            });
            let l = ui.label("Note");
            ui.text_edit_multiline(&mut notes.note).labelled_by(l.id);
            ui.horizontal(|ui| {
                if ui.button("Save notes").clicked() {
                    notes.tags = tags.split(',').map(|t| t.trim().to_string()).filter(|t| !t.is_empty()).collect();
                    if notes.write(path).is_ok() {
                        close = true;
                    }
                }
                if ui.button("Close").clicked() {
                    close = true;
                }
            });
        });
        if close {
            self.editing = None;
            self.refresh();
        }
    }

    fn confirm_delete_ui(&mut self, ui: &mut egui::Ui) {
        let Some(path) = self.confirm_delete.clone() else { return };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        egui::Window::new("Delete run?").collapsible(false).resizable(false).show(ui.ctx(), |ui| {
            ui.label(format!("Delete {name} and all its checkpoints? This cannot be undone."));
            if let Some(e) = &self.delete_error {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            ui.horizontal(|ui| {
                if ui.button("Delete permanently").clicked() {
                    match engine::runs::run_dir::RunDir::open(&path).and_then(engine::runs::run_dir::RunDir::delete) {
                        Ok(()) => (self.confirm_delete, self.delete_error) = (None, None),
                        Err(e) => self.delete_error = Some(format!("not deleted: {e}")),
                    }
                    self.refresh();
                }
                if ui.button("Keep").clicked() {
                    (self.confirm_delete, self.delete_error) = (None, None);
                }
            });
        });
    }

    /// The config fields that differ between the ticked runs.
    pub fn config_diff(&self) -> Vec<(String, Vec<String>)> {
        let configs: Vec<Vec<(String, String)>> =
            self.entries.iter().filter(|e| self.selected.contains(&e.path)).filter_map(|e| e.config.as_ref().map(flatten)).collect();
        let Some(first) = configs.first() else { return Vec::new() };
        first
            .iter()
            .map(|(k, _)| k.clone())
            .filter_map(|key| {
                let values: Vec<String> =
                    configs.iter().map(|c| c.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).unwrap_or_default()).collect();
                (values.iter().any(|v| *v != values[0])).then_some((key, values))
            })
            .filter(|(k, _)| k != "run.name")
            .collect()
    }

    fn diff_ui(&self, ui: &mut egui::Ui) {
        if self.selected.len() < 2 {
            return;
        }
        ui.strong("Config differences");
        let diff = self.config_diff();
        if diff.is_empty() {
            ui.label("The ticked runs have the same config.");
        }
        egui::Grid::new("config-diff").striped(true).show(ui, |ui| {
            for (key, values) in diff {
                ui.label(key);
                for v in values {
                    ui.label(v);
                }
                ui.end_row();
            }
        });
    }
}

/// `table.field = value` pairs of a config.
fn flatten(c: &TrainConfig) -> Vec<(String, String)> {
    let value: toml::Value = toml::Value::try_from(c).unwrap_or(toml::Value::Table(Default::default()));
    let mut out = Vec::new();
    if let toml::Value::Table(t) = value {
        for (section, fields) in t {
            if let toml::Value::Table(f) = fields {
                for (k, v) in f {
                    out.push((format!("{section}.{k}"), v.to_string()));
                }
            }
        }
    }
    out
}

fn state_text(state: Option<RunState>) -> RichText {
    let (text, color) = match state {
        Some(RunState::Running) => ("running", Color32::from_rgb(40, 140, 220)),
        Some(RunState::Paused) => ("paused", Color32::from_rgb(200, 160, 0)),
        Some(RunState::Finished) => ("finished", Color32::from_rgb(40, 160, 60)),
        Some(RunState::EarlyStopped) => ("early-stopped", Color32::from_rgb(40, 160, 60)),
        Some(RunState::Cancelled) => ("cancelled", Color32::GRAY),
        Some(RunState::Failed) => ("failed", Color32::from_rgb(210, 50, 50)),
        Some(RunState::Crashed) => ("crashed", Color32::from_rgb(210, 50, 50)),
        None => ("unreadable", Color32::from_rgb(210, 50, 50)),
    };
    RichText::new(text).color(color).strong()
}

/// A small button labelled `label` on screen whose accessible name (what
/// screen readers say and tests find) is `name`, e.g. "Delete RUN".
fn named_button(ui: &mut egui::Ui, label: &str, name: String, tip: &str) -> egui::Response {
    let response = ui.small_button(label).on_hover_text(format!("{tip} ({name})"));
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &name));
    response
}

fn duration_text(s: &Status) -> String {
    let secs = (s.updated_unix - s.created_unix).max(0);
    format!("{}m{:02}s", secs / 60, secs % 60)
}

fn config_summary(c: &TrainConfig) -> String {
    let t = &c.training;
    let mode = match t.mode {
        engine::config::TrainMode::Lora => format!("LoRA r={} alpha={}", c.lora.rank, c.lora.alpha),
        engine::config::TrainMode::Full => "full".into(),
    };
    format!("{mode} | batch {}x{} | lr {:e}", t.batch_size, t.grad_accum, t.learning_rate)
}
