//! The workbench window (eframe / egui / egui_plot). A thin view over the
//! engine: it holds no training logic, talks to the engine thread only
//! through its command/event channels, and reads runs from disk, so runs
//! started from the CLI (or a remote job) appear too.
//!
//! One file per panel, each a struct with a `ui` method; [`WorkbenchApp::ui`]
//! lays them out and is what the kittest tests drive.

mod app;
mod chat;
mod compare;
mod config_editor;
mod data;
mod evaluate;
mod file_dialog;
mod metrics_cache;
mod monitor;
mod new_evaluation;
mod pending;
mod periodic;
mod remote;
mod review;
mod rubric_editor;
mod runs;
mod settings;
mod status_bar;
mod targets;

use std::path::PathBuf;

pub use app::{Tab, WorkbenchApp};
pub use chat::{ChatPanel, stats_line};
pub use compare::{Column, ComparePanel};
pub use config_editor::ConfigEditor;
pub use data::DataPanel;
pub use evaluate::EvaluatePanel;
pub use monitor::{Metric, Monitor};
pub use review::ReviewPanel;
pub use runs::RunsPanel;

/// Where the window finds runs and the shipped presets.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Folder of run directories.
    pub runs_dir: PathBuf,
    /// The shipped `sample_data/` folder (presets, sample model).
    pub sample_dir: PathBuf,
}

impl Workspace {
    /// A workspace; relative paths are made absolute against the current directory.
    pub fn new(runs_dir: PathBuf, sample_dir: PathBuf) -> Self {
        let abs = |p: PathBuf| std::path::absolute(&p).unwrap_or(p);
        Self { runs_dir: abs(runs_dir), sample_dir: abs(sample_dir) }
    }

    /// Where the chat pane saves conversations: `chats/` beside the runs folder.
    pub fn chats_dir(&self) -> PathBuf {
        self.runs_dir.with_file_name("chats")
    }

    /// Where side-by-side comparisons are saved: `comparisons/` beside the runs folder.
    pub fn comparisons_dir(&self) -> PathBuf {
        self.runs_dir.with_file_name("comparisons")
    }

    /// Where blind human evaluations live: `evaluations/` beside the runs folder.
    pub fn evaluations_dir(&self) -> PathBuf {
        self.runs_dir.with_file_name("evaluations")
    }

    /// The config the editor opens with: Story A scaled to the sample model.
    pub fn default_config(&self) -> PathBuf {
        self.sample_dir.join("configs/story-a-sample.toml")
    }
}

/// `path` as the window shows it: relative to the current directory when it
/// lies inside it (`runs`, not `/home/me/project/runs`), else as it is.
pub fn display_path(path: &std::path::Path) -> String {
    let shown = std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(cwd).ok().map(std::path::Path::to_path_buf));
    match shown {
        Some(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// How the window opens.
#[derive(Debug, Clone)]
pub struct WindowOptions {
    /// Folder of runs (else the one used last time, else `runs`).
    pub runs_dir: Option<PathBuf>,
    /// The shipped `sample_data/` folder.
    pub sample_dir: PathBuf,
    /// Tab to open on (else the one open last time).
    pub tab: Option<Tab>,
    /// Config to edit (else the one edited last time, else the Story A preset).
    pub config: Option<PathBuf>,
}

/// The window and application icon (`assets/icon.png`, drawn by `assets/make_icon.py`).
const ICON_PNG: &[u8] = include_bytes!("../../../assets/icon.png");

/// The icon as eframe wants it.
pub fn icon() -> anyhow::Result<eframe::egui::IconData> {
    let image = image::load_from_memory_with_format(ICON_PNG, image::ImageFormat::Png)?.into_rgba8();
    let (width, height) = image.dimensions();
    Ok(eframe::egui::IconData { rgba: image.into_raw(), width, height })
}

/// Opens the window and runs until it is closed. Ctrl-C, SIGTERM and SIGHUP
/// cancel its jobs (a training run checkpoints) and then close it.
pub fn run(opts: WindowOptions) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default()
            .with_inner_size([1280.0, 820.0])
            .with_min_inner_size([900.0, 600.0])
            .with_title("LoRA Workbench")
            .with_app_id("lora-workbench")
            .with_icon(icon()?),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "LoRA Workbench",
        options,
        Box::new(move |cc| {
            let mut app = WorkbenchApp::restore(opts.runs_dir, opts.sample_dir, cc.storage);
            crate::signals::cancel_jobs_on_termination(app.engine(), true);
            if let Some(tab) = opts.tab {
                app.tab = tab;
            }
            if let Some(config) = &opts.config {
                app.open_config(config);
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e} (is a display available? set DISPLAY, or use the CLI subcommands)"))
}
