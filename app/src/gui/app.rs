//! The window's top level: tabs, the runs side panel, the status bar, and
//! the engine's events turned into view state each frame. The one place
//! that talks to the engine: panels return actions, this file carries them
//! out (runs start through the [`Backend`], other work as engine jobs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use eframe::egui::{self, Color32, RichText};
use engine::backend::{Backend, LocalBackend, SlurmBackend};
use engine::config::TrainConfig;
use engine::jobs::{Engine, Job, JobEvent, JobId};
use engine::train::Event;

use super::Workspace;
use super::chat::{ChatAction, ChatPanel};
use super::compare::{CompareAction, ComparePanel};
use super::config_editor::ConfigEditor;
use super::data::{DataAction, DataPanel};
use super::evaluate::{EvaluateAction, EvaluatePanel};
use super::monitor::Monitor;
use super::remote::{RemoteAction, RemotePanel};
use super::review::{ReviewAction, ReviewPanel};
use super::runs::{RunAction, RunsPanel};
use super::status_bar::{self, LiveRun, StatusAction};
use super::targets::EndpointForm;

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
    /// A conversation with a model.
    Chat,
    /// Models side by side on the same prompts.
    Compare,
    /// Blind human evaluation.
    Review,
    /// Training on a Slurm cluster over SSH.
    Remote,
}

impl Tab {
    /// The tab named `configure`, `monitor`, `data`, `evaluate`, `chat`, `compare`, `review` or `remote`.
    pub fn parse(name: Option<&str>) -> Option<Self> {
        match name? {
            "configure" => Some(Tab::Configure),
            "monitor" => Some(Tab::Monitor),
            "data" => Some(Tab::Data),
            "evaluate" => Some(Tab::Evaluate),
            "chat" => Some(Tab::Chat),
            "compare" => Some(Tab::Compare),
            "review" => Some(Tab::Review),
            "remote" => Some(Tab::Remote),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tab_tests {
    use super::Tab;

    /// Every name `--tab` accepts opens a tab, each a different one.
    #[test]
    fn every_tab_name_the_command_line_takes_opens_its_tab() {
        let tabs: Vec<Tab> = crate::cli::TAB_NAMES.iter().map(|n| Tab::parse(Some(n)).unwrap_or_else(|| panic!("--tab {n}"))).collect();
        for (i, a) in tabs.iter().enumerate() {
            assert!(!tabs[i + 1..].contains(a), "two names open {a:?}");
        }
    }
}

/// What survives a restart (eframe persistence).
#[derive(serde::Serialize, serde::Deserialize)]
struct Remembered {
    tab: Tab,
    config_path: Option<PathBuf>,
    #[serde(default)]
    runs_dir: Option<PathBuf>,
}

/// Which view follows a job's events (the window's one routing table: [`WorkbenchApp::poll_engine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// The run being trained (the status bar, the runs list).
    Train,
    /// The Evaluate tab.
    Evaluate,
    /// The Data tab.
    Data,
    /// A run's merge.
    Merge,
    /// The Chat tab.
    Chat,
    /// The endpoint form's model list.
    Endpoint,
    /// The Review tab's new evaluation.
    Review,
    /// The Review tab's judge.
    Judge,
    /// The Review tab's results.
    Results,
    /// The Remote tab (several jobs at once: a task and each watched run).
    Remote,
    /// One column of the Compare tab.
    Compare(usize),
}

/// Where the window runs its work.
struct Engines {
    /// Every job of the window (training, evaluation, analysis).
    jobs: Arc<Engine>,
    /// Where runs execute (this machine).
    backend: Box<dyn Backend>,
    /// The view each running job's events go to, until the job ends.
    routes: std::collections::HashMap<JobId, Route>,
}

/// The whole window's state.
pub struct WorkbenchApp {
    engine: Engines,
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
    /// The chat pane.
    pub chat: ChatPanel,
    /// The side-by-side comparison.
    pub compare: ComparePanel,
    /// Blind human evaluation.
    pub review: ReviewPanel,
    /// The Remote tab (Slurm over SSH).
    pub remote: RemotePanel,
    /// The OpenAI-compatible endpoint whose models Chat and Compare can ask.
    pub endpoint: EndpointForm,
    /// The run being trained.
    pub live: LiveRun,
    /// The open tab.
    pub tab: Tab,
    /// An error to show until dismissed.
    pub banner: Option<String>,
    /// The engine job merging a run's adapter, if one runs.
    pub merge_job: Option<JobId>,
    /// Size the window to the screen at the first frame that knows the
    /// screen (first start only; later starts get the remembered size).
    fit_to_screen: bool,
}

impl WorkbenchApp {
    /// A window on `workspace`, with the Story A sample preset in the editor.
    pub fn new(workspace: Workspace) -> Self {
        let preset = workspace.default_config();
        Self::with_config(workspace, Some(preset))
    }

    /// Restores the last runs folder, tab and config from eframe's storage;
    /// an explicit `runs_dir` wins over the remembered one.
    pub fn restore(runs_dir: Option<PathBuf>, sample_dir: PathBuf, storage: Option<&dyn eframe::Storage>) -> Self {
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
            None => Self { fit_to_screen: true, ..Self::new(workspace) },
        }
    }

    fn with_config(workspace: Workspace, path: Option<PathBuf>) -> Self {
        let fallback =
            || TrainConfig::from_toml("[model]\npath = \"model\"\n[data]\ntrain_file = \"train.jsonl\"\n").expect("minimal config parses");
        let mut editor = ConfigEditor::new(fallback(), None);
        if let Some(p) = &path
            && let Err(e) = editor.load(p)
        {
            editor.notice = Some(e);
        }
        editor.config.run.runs_dir = workspace.runs_dir.clone();
        editor.revalidate();
        let data = DataPanel::new(editor.config.data.train_file.clone());
        let engine = Arc::new(Engine::new());
        Self {
            data,
            evaluate: EvaluatePanel::default(),
            chat: ChatPanel::new(workspace.chats_dir()),
            compare: ComparePanel::new(workspace.comparisons_dir()),
            review: ReviewPanel::new(workspace.evaluations_dir(), workspace.sample_dir.join("evaluations")),
            remote: RemotePanel::new(workspace.runs_dir.with_file_name("remote-profiles")),
            endpoint: EndpointForm::default(),
            engine: Engines { backend: Box::new(LocalBackend::new(Arc::clone(&engine))), jobs: engine, routes: Default::default() },
            runs: RunsPanel::new(workspace.runs_dir.clone()),
            workspace,
            editor,
            monitor: Monitor::default(),
            live: LiveRun::default(),
            tab: Tab::Configure,
            banner: None,
            fit_to_screen: false,
            merge_job: None,
        }
    }

    /// Opens `path` in the editor (the runs folder stays the window's);
    /// a problem shows in the error banner.
    pub fn open_config(&mut self, path: &Path) {
        match self.editor.load(path) {
            Ok(()) => {
                self.editor.config.run.runs_dir = self.workspace.runs_dir.clone();
                self.data = DataPanel::new(self.editor.config.data.train_file.clone());
            }
            Err(e) => self.banner = Some(e),
        }
    }

    /// The engine the window's jobs run on (for the signal handler).
    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine.jobs
    }

    /// Starts training the editor's config through the backend.
    pub fn launch(&mut self) {
        let mut cfg = self.editor.config.clone();
        cfg.run.runs_dir = self.workspace.runs_dir.clone();
        self.start_run(|b| b.start(cfg));
    }

    /// Resumes a stopped run from its last checkpoint.
    pub fn resume(&mut self, run: PathBuf) {
        self.start_run(|b| b.resume(&run));
    }

    /// Starts a run (unless one is active) and shows the charts.
    fn start_run(&mut self, start: impl FnOnce(&dyn Backend) -> engine::Result<JobId>) {
        if self.live.active {
            return;
        }
        match start(self.engine.backend.as_ref()) {
            Ok(job) => {
                self.follow(job, Route::Train);
                self.live = LiveRun { active: true, job: Some(job), ..Default::default() };
                self.tab = Tab::Monitor;
            }
            Err(e) => self.banner = Some(e.to_string()),
        }
    }

    /// Cancels the current run (it keeps a resumable checkpoint).
    pub fn cancel(&mut self) {
        self.steer(StatusAction::Cancel);
    }

    /// Pauses, continues or cancels the live run: through the backend once
    /// its directory exists, else (still preparing) its job.
    fn steer(&mut self, action: StatusAction) {
        let result = match (&self.live.run_dir, action) {
            (Some(dir), StatusAction::Pause) => self.engine.backend.pause(dir, true),
            (Some(dir), StatusAction::Continue) => self.engine.backend.pause(dir, false),
            (Some(dir), StatusAction::Cancel) => self.engine.backend.cancel(dir).map(|_| ()),
            (None, StatusAction::Cancel) => {
                self.live.job.inspect(|&job| self.engine.jobs.cancel(job));
                Ok(())
            }
            (None, _) => Ok(()),
        };
        if let Err(e) = result {
            self.banner = Some(e.to_string());
        }
    }

    /// Starts an engine job whose events go to `route`; a refusal goes to the banner.
    fn start_job(&mut self, job: Job, route: Route) -> Option<JobId> {
        match self.engine.jobs.start(job) {
            Ok(id) => {
                self.follow(id, route);
                Some(id)
            }
            Err(e) => {
                self.banner = Some(e);
                None
            }
        }
    }

    /// Sends `job`'s events to `route` from now on; a view that follows one
    /// job at a time stops following the one it had.
    fn follow(&mut self, job: JobId, route: Route) {
        if route != Route::Remote {
            self.engine.routes.retain(|_, r| *r != route);
        }
        self.engine.routes.insert(job, route);
    }

    fn on_evaluate(&mut self, action: EvaluateAction) {
        match action {
            EvaluateAction::Run(req) => {
                self.evaluate.job = self.start_job(Job::Evaluate(req), Route::Evaluate);
            }
            EvaluateAction::Cancel => {
                self.evaluate.job.inspect(|&job| self.engine.jobs.cancel(job));
            }
        }
    }

    fn on_chat(&mut self, action: ChatAction) {
        match action {
            ChatAction::Ask(question) => {
                self.chat.job = self.start_job(Job::Ask(question), Route::Chat);
                if self.chat.job.is_none() {
                    self.chat.pending = None;
                }
            }
            ChatAction::Stop => {
                self.chat.job.inspect(|&job| self.engine.jobs.cancel(job));
            }
        }
    }

    fn on_compare(&mut self, action: CompareAction) {
        match action {
            CompareAction::Ask(questions) => {
                for (i, question) in questions {
                    self.compare.columns[i].job = self.start_job(Job::Ask(Box::new(question)), Route::Compare(i));
                }
            }
            CompareAction::Stop(jobs) => jobs.into_iter().for_each(|job| self.engine.jobs.cancel(job)),
        }
    }

    /// The models Chat and Compare can ask: the edited config's base model,
    /// the shipped sample model, every listed run's base and adapter, and
    /// the endpoint's models once listed.
    pub fn targets(&self) -> Vec<engine::generate::target::Target> {
        let sample = self.workspace.sample_dir.join("model");
        let mut all = super::targets::local_targets(&[&self.editor.config.model.path, &sample], &self.runs.entries);
        all.extend(self.endpoint.models.iter().cloned());
        all
    }

    fn on_remote(&mut self, action: RemoteAction) {
        let slurm = |profile: Box<engine::backend::slurm::profile::Profile>| SlurmBackend::new(Arc::clone(&self.engine.jobs), *profile);
        let started = match action {
            RemoteAction::Submit(profile, config) => slurm(profile).start(*config).map(Some),
            RemoteAction::Cancel(profile, run) => slurm(profile).cancel(&run),
            RemoteAction::Start(task, watched) => {
                if let Some((old, _)) = watched.as_ref().and_then(|run| self.remote.watching.get(run)) {
                    self.engine.jobs.cancel(*old);
                }
                let Some(job) = self.start_job(Job::Remote(task), Route::Remote) else { return };
                if let Some(run) = watched {
                    self.remote.watching.insert(run, (job, "watching".into()));
                } else {
                    self.remote.job = Some(job);
                }
                return;
            }
        };
        match started {
            Ok(job) => {
                job.inspect(|&job| self.follow(job, Route::Remote));
                self.remote.job = job;
            }
            Err(e) => self.banner = Some(e.to_string()),
        }
    }

    fn on_review(&mut self, action: ReviewAction) {
        match action {
            ReviewAction::Create(plan) => {
                let total = plan.answers();
                self.review.job = self.start_job(Job::CreateEvaluation(plan), Route::Review);
                if let (Some(_), Some(form)) = (self.review.job, &mut self.review.new) {
                    form.progress = Some((0, total, std::time::Instant::now()));
                }
            }
            ReviewAction::Judge(req) => {
                self.review.judge_job = self.start_job(Job::Judge(req), Route::Judge).map(|job| (job, 0, 0));
            }
            ReviewAction::Results(dir) => self.review.results_job = self.start_job(Job::Results(dir), Route::Results),
            ReviewAction::Cancel(job) => self.engine.jobs.cancel(job),
        }
    }

    fn on_data(&mut self, action: DataAction) {
        match action {
            DataAction::Analyze(req) => {
                if let Some(old) = self.data.job.take() {
                    self.engine.jobs.cancel(old);
                }
                self.data.job = self.start_job(Job::AnalyzeData(req), Route::Data);
            }
        }
    }

    /// Applies every pending engine event to the view state: each job's
    /// events go to the view that follows it ([`Route`]), until it ends.
    pub fn poll_engine(&mut self) {
        while let Ok(ev) = self.engine.jobs.events().try_recv() {
            let Some(&route) = self.engine.routes.get(&ev.job) else { continue };
            if matches!(ev.event, JobEvent::Ended) {
                self.engine.routes.remove(&ev.job);
            }
            match route {
                Route::Train => self.on_train_event(ev.event),
                Route::Evaluate => self.evaluate.on_event(&ev.event),
                Route::Data => self.data.on_event(&ev.event),
                Route::Merge => self.on_merge_event(ev.event),
                Route::Chat => self.chat.on_event(&ev.event),
                Route::Endpoint => self.endpoint.on_event(&ev.event),
                Route::Review => self.review.on_event(&ev.event),
                Route::Judge => self.review.on_judge_event(&ev.event),
                Route::Results => self.review.on_results_event(&ev.event),
                Route::Remote if self.remote.owns(ev.job) => self.remote.on_event(ev.job, &ev.event),
                Route::Remote => {}
                Route::Compare(i) => self.compare.on_event(i, &ev.event),
            }
        }
    }

    fn on_merge_event(&mut self, event: JobEvent) {
        match event {
            JobEvent::Merged(out) => self.live.last_log = format!("merged model written to {}", super::display_path(&out)),
            JobEvent::Failed(e) => self.banner = Some(format!("merge failed: {e}")),
            JobEvent::Ended => self.merge_job = None,
            _ => {}
        }
    }

    fn on_train_event(&mut self, event: JobEvent) {
        match event {
            JobEvent::Train(Event::Started { run_dir, total_steps, first_step }) => {
                self.live.step = first_step.saturating_sub(1);
                self.live.total_steps = total_steps;
                self.runs.refresh();
                self.runs.selected.insert(run_dir.clone());
                self.live.run_dir = Some(run_dir);
            }
            JobEvent::Train(Event::Progress { step, total_steps, epoch, loss, eta_s, tokens_per_s }) => {
                self.live = LiveRun { step, total_steps, epoch, loss, eta_s, tokens_per_s, ..self.live.clone() };
            }
            JobEvent::Train(Event::Paused(p)) => self.live.paused = p,
            JobEvent::Train(Event::Log(line)) => self.live.last_log = line,
            JobEvent::Train(Event::Error(e)) => self.banner = Some(e),
            JobEvent::Train(Event::Finished { state, .. }) => {
                self.live.last_log = format!("last run: {state:?} at step {}", self.live.step);
                self.runs.refresh();
            }
            JobEvent::Ended => {
                self.live.active = false;
                self.live.paused = false;
                self.live.job = None;
            }
            _ => {}
        }
    }

    /// Draws one frame (what eframe and the tests call).
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.poll_engine();
        for action in self.remote.reattach(&self.runs.entries) {
            self.on_remote(action);
        }
        if self.fit_to_screen
            && let Some(screen) = ui.ctx().input(|i| i.viewport().monitor_size)
        {
            let size = screen * 0.9;
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::InnerSize(size));
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::OuterPosition(((screen - size) * 0.5).to_pos2()));
            self.fit_to_screen = false;
        }
        let (launch_key, cancel_key) =
            ui.input(|i| (i.modifiers.command && i.key_pressed(egui::Key::Enter), i.key_pressed(egui::Key::Escape)));
        let run_keys = matches!(self.tab, Tab::Configure | Tab::Monitor);
        if run_keys && launch_key && self.editor.errors.is_empty() {
            self.launch();
        }
        if run_keys && cancel_key && self.live.active {
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
                ui.selectable_value(&mut self.tab, Tab::Chat, "Chat");
                ui.selectable_value(&mut self.tab, Tab::Compare, "Compare");
                ui.selectable_value(&mut self.tab, Tab::Review, "Review");
                ui.selectable_value(&mut self.tab, Tab::Remote, "Remote");
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
        if let Some(action) = egui::Panel::bottom("status").show(ui, |ui| status_bar::ui(ui, &self.live)).inner {
            self.steer(action);
        }
        match egui::Panel::left("runs").default_size(340.0).show(ui, |ui| self.runs.ui(ui)).inner {
            Some(RunAction::Resume(run)) => self.resume(run),
            Some(RunAction::Merge(run)) => match engine::model::merge::MergeRequest::for_run(&run) {
                Ok(request) => self.merge_job = self.start_job(Job::Merge(Box::new(request)), Route::Merge),
                Err(e) => self.banner = Some(e.to_string()),
            },
            None => {}
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
                    if let Some(action) = self.data.ui(ui, &self.editor.config) {
                        self.on_data(action);
                    }
                }
                Tab::Evaluate => {
                    let selected = self.runs.selected_paths();
                    if let Some(action) = self.evaluate.ui(ui, &selected) {
                        self.on_evaluate(action);
                    }
                }
                Tab::Chat | Tab::Compare => self.talk_ui(ui),
                Tab::Remote => {
                    if let Some(action) = self.remote.ui(ui, &self.editor.config, &self.runs.entries) {
                        self.on_remote(action);
                    }
                }
                Tab::Review => {
                    let choices = self.targets();
                    if let Some(action) = self.review.ui(ui, self.compare.path.as_deref(), &choices) {
                        self.on_review(action);
                    }
                }
            }
        });
        if self.live.active || self.review.job.is_some() || self.review.judge_job.is_some() {
            ui.ctx().request_repaint_after(Duration::from_millis(200));
        }
    }
}

impl WorkbenchApp {
    /// The Chat or Compare tab, under the endpoint form they share.
    fn talk_ui(&mut self, ui: &mut egui::Ui) {
        if let Some(endpoint) = self.endpoint.ui(ui) {
            self.endpoint.job = self.start_job(Job::ListModels(endpoint), Route::Endpoint);
        }
        let choices = self.targets();
        if self.tab == Tab::Chat {
            if let Some(action) = self.chat.ui(ui, &choices) {
                self.on_chat(action);
            }
        } else {
            if self.compare.prompt_file.is_empty()
                && let Some(test) = &self.editor.config.data.test_file
            {
                self.compare.prompt_file = test.display().to_string();
            }
            if let Some(action) = self.compare.ui(ui, &choices) {
                self.on_compare(action);
            }
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
