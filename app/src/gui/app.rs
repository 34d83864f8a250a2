//! The window's top level: tabs, the runs side panel, the status bar, and
//! the engine's events turned into view state each frame.

use std::time::Duration;

use eframe::egui::{self, Color32, RichText};
use engine::config::TrainConfig;
use engine::engine_thread::{Command, EngineEvent, EngineHandle};
use engine::train::Event;

use super::Workspace;
use super::config_editor::ConfigEditor;
use super::data::DataPanel;
use super::evaluate::EvaluatePanel;
use super::monitor::Monitor;
use super::runs::{RunAction, RunsPanel};
use super::status_bar::{self, LiveRun};

/// The central tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Tab {
    /// The config editor.
    Configure,
    /// Live charts.
    Monitor,
    /// Data file analysis.
    Data,
    /// Perplexity of base vs adapters.
    Evaluate,
}

impl Tab {
    /// The tab named `configure`, `monitor`, `data` or `evaluate`.
    pub fn parse(name: Option<&str>) -> Option<Self> {
        match name? {
            "configure" => Some(Tab::Configure),
            "monitor" => Some(Tab::Monitor),
            "data" => Some(Tab::Data),
            "evaluate" => Some(Tab::Evaluate),
            _ => None,
        }
    }
}

/// What survives a restart (eframe persistence).
#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    tab: Tab,
    config_path: Option<std::path::PathBuf>,
    #[serde(default)]
    runs_dir: Option<std::path::PathBuf>,
}

/// The whole window's state.
pub struct WorkbenchApp {
    engine: EngineHandle,
    workspace: Workspace,
    /// The runs list.
    pub runs: RunsPanel,
    /// The config editor.
    pub editor: ConfigEditor,
    /// The charts.
    pub monitor: Monitor,
    /// The data view.
    pub data: DataPanel,
    /// The evaluation view.
    pub evaluate: EvaluatePanel,
    /// The run being trained.
    pub live: LiveRun,
    /// The open tab.
    pub tab: Tab,
    /// An error to show until dismissed.
    pub banner: Option<String>,
}

impl WorkbenchApp {
    /// A window on `workspace`, with the Story A sample preset in the editor.
    pub fn new(workspace: Workspace) -> Self {
        let preset = workspace.default_config();
        Self::with_config(workspace, Some(preset))
    }

    /// Restores the last runs folder, tab and config from eframe's storage;
    /// an explicit `runs_dir` wins over the remembered one.
    pub fn restore(runs_dir: Option<std::path::PathBuf>, sample_dir: std::path::PathBuf, storage: Option<&dyn eframe::Storage>) -> Self {
        let remembered: Option<Remembered> = storage.and_then(|s| eframe::get_value(s, eframe::APP_KEY));
        let runs_dir = runs_dir.or_else(|| remembered.as_ref().and_then(|r| r.runs_dir.clone())).unwrap_or_else(|| "runs".into());
        let workspace = Workspace::new(runs_dir, sample_dir);
        match remembered {
            Some(r) => {
                let config = r.config_path.filter(|p| p.is_file()).unwrap_or_else(|| workspace.default_config());
                let mut app = Self::with_config(workspace, Some(config));
                app.tab = r.tab;
                app
            }
            None => Self::new(workspace),
        }
    }

    fn with_config(workspace: Workspace, path: Option<std::path::PathBuf>) -> Self {
        let fallback =
            || TrainConfig::from_toml("[model]\npath = \"model\"\n[data]\ntrain_file = \"train.jsonl\"\n").expect("minimal config parses");
        let mut editor = ConfigEditor::new(fallback(), None);
        if let Some(p) = &path {
            if let Err(e) = editor.load(p) {
                editor.notice = Some(e);
            }
        }
        editor.config.run.runs_dir = workspace.runs_dir.clone();
        editor.revalidate();
        let data = DataPanel::new(editor.config.data.train_file.clone());
        Self {
            data,
            evaluate: EvaluatePanel::default(),
            engine: EngineHandle::spawn(),
            runs: RunsPanel::new(workspace.runs_dir.clone()),
            workspace,
            editor,
            monitor: Monitor::default(),
            live: LiveRun::default(),
            tab: Tab::Configure,
            banner: None,
        }
    }

    /// Opens `path` in the editor (the runs folder stays the window's);
    /// a problem shows in the error banner.
    pub fn open_config(&mut self, path: &std::path::Path) {
        match self.editor.load(path) {
            Ok(()) => {
                self.editor.config.run.runs_dir = self.workspace.runs_dir.clone();
                self.data = DataPanel::new(self.editor.config.data.train_file.clone());
            }
            Err(e) => self.banner = Some(e),
        }
    }

    /// Starts training the editor's config on the engine thread.
    pub fn launch(&mut self) {
        let mut cfg = self.editor.config.clone();
        cfg.run.runs_dir = self.workspace.runs_dir.clone();
        self.start(Command::Train(Box::new(cfg)));
    }

    /// Resumes a stopped run.
    pub fn resume(&mut self, run: std::path::PathBuf) {
        self.start(Command::Resume(run));
    }

    /// Sends a train or resume command (unless a run is active) and shows the charts.
    fn start(&mut self, cmd: Command) {
        if self.live.active {
            return;
        }
        self.live = LiveRun { active: true, ..Default::default() };
        self.engine.send(cmd);
        self.tab = Tab::Monitor;
    }

    /// Cancels the current run (it keeps a resumable checkpoint).
    pub fn cancel(&self) {
        self.engine.send(Command::Cancel);
    }

    /// Applies every pending engine event to the view state.
    pub fn poll_engine(&mut self) {
        while let Ok(ev) = self.engine.events.try_recv() {
            match ev {
                EngineEvent::Train(Event::Started { run_dir, total_steps, first_step }) => {
                    self.live.step = first_step.saturating_sub(1);
                    self.live.total_steps = total_steps;
                    self.runs.refresh();
                    self.runs.selected.insert(run_dir.clone());
                    self.live.run_dir = Some(run_dir);
                }
                EngineEvent::Train(Event::Progress { step, total_steps, epoch, loss, eta_s, tokens_per_s }) => {
                    self.live = LiveRun { step, total_steps, epoch, loss, eta_s, tokens_per_s, ..self.live.clone() };
                }
                EngineEvent::Train(Event::Paused(p)) => self.live.paused = p,
                EngineEvent::Train(Event::Log(line)) => self.live.last_log = line,
                EngineEvent::Train(Event::Metrics(_)) => {}
                EngineEvent::Train(Event::Error(e)) => {
                    self.banner = Some(e);
                    self.live.active = false;
                }
                EngineEvent::Train(Event::Finished { state, .. }) => {
                    self.live.active = false;
                    self.live.paused = false;
                    self.live.last_log = format!("last run: {state:?} at step {}", self.live.step);
                    self.runs.refresh();
                }
                EngineEvent::Rejected(m) => {
                    self.evaluate.running = false;
                    self.banner = Some(m);
                }
                ev @ (EngineEvent::EvalRow(_) | EngineEvent::EvalDone(_)) => self.evaluate.on_event(&ev),
            }
        }
    }

    /// Draws one frame (what eframe and the tests call).
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.poll_engine();
        let (launch_key, cancel_key) =
            ui.input(|i| (i.modifiers.command && i.key_pressed(egui::Key::Enter), i.key_pressed(egui::Key::Escape)));
        if launch_key && self.editor.errors.is_empty() {
            self.launch();
        }
        if cancel_key && self.live.active {
            self.cancel();
        }
        egui::Panel::top("tabs").show(ui, |ui| {
            ui.horizontal(|ui| {
                ui.heading("LoRA Workbench");
                ui.separator();
                ui.selectable_value(&mut self.tab, Tab::Configure, "Configure");
                ui.selectable_value(&mut self.tab, Tab::Monitor, "Monitor");
                ui.selectable_value(&mut self.tab, Tab::Data, "Data");
                ui.selectable_value(&mut self.tab, Tab::Evaluate, "Evaluate");
                ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                    if ui.button("Light").on_hover_text("light theme").clicked() {
                        ui.ctx().set_theme(egui::ThemePreference::Light);
                    }
                    if ui.button("Dark").on_hover_text("dark theme").clicked() {
                        ui.ctx().set_theme(egui::ThemePreference::Dark);
                    }
                });
            });
        });
        egui::Panel::bottom("status").show(ui, |ui| status_bar::ui(ui, &self.live, &self.engine));
        let mut action = None;
        egui::Panel::left("runs").default_size(340.0).show(ui, |ui| action = self.runs.ui(ui));
        if let Some(RunAction::Resume(run)) = action {
            self.resume(run);
        }
        egui::CentralPanel::default().show(ui, |ui| {
            if let Some(msg) = self.banner.clone() {
                egui::Frame::new().fill(Color32::from_rgb(120, 30, 30)).inner_margin(6.0).show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.label(RichText::new(format!("Error: {msg}")).color(Color32::WHITE));
                        if ui.button("Dismiss").clicked() {
                            self.banner = None;
                        }
                    });
                });
            }
            match self.tab {
                Tab::Configure => {
                    let presets = self.workspace.sample_dir.join("configs");
                    if self.editor.ui(ui, &presets, !self.live.active) {
                        self.launch();
                    }
                }
                Tab::Monitor => {
                    let selected = self.runs.selected_paths();
                    self.monitor.ui(ui, &selected);
                }
                Tab::Data => {
                    let c = &self.editor.config;
                    self.data.ui(ui, &c.model.path.clone(), c.data.max_seq_len, c.data.train_on);
                }
                Tab::Evaluate => {
                    let selected = self.runs.selected_paths();
                    self.evaluate.ui(ui, &selected, &self.engine, self.live.active);
                }
            }
        });
        if self.live.active {
            ui.ctx().request_repaint_after(Duration::from_millis(200));
        }
    }
}

impl eframe::App for WorkbenchApp {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        WorkbenchApp::ui(self, ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        let remembered =
            Remembered { tab: self.tab, config_path: self.editor.path.clone(), runs_dir: Some(self.workspace.runs_dir.clone()) };
        eframe::set_value(storage, eframe::APP_KEY, &remembered);
    }
}
