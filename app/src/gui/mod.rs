//! The workbench window (eframe / egui / egui_plot). A thin view over the
//! engine: it holds no training logic, talks to the engine thread only
//! through its command/event channels, and reads runs from disk, so runs
//! started from the CLI (or a remote job) appear too.
//!
//! One file per panel, each a struct with a `ui` method; [`WorkbenchApp::ui`]
//! lays them out and is what the kittest tests drive.

mod app;
mod config_editor;
mod data;
mod evaluate;
mod metrics_cache;
mod monitor;
mod runs;
mod status_bar;

use std::path::PathBuf;

pub use app::{Tab, WorkbenchApp};
pub use config_editor::ConfigEditor;
pub use data::DataPanel;
pub use evaluate::EvaluatePanel;
pub use monitor::{Metric, Monitor};
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

    /// The config the editor opens with: Story A scaled to the sample model.
    pub fn default_config(&self) -> PathBuf {
        self.sample_dir.join("configs/story-a-sample.toml")
    }
}

/// Opens the window and runs until it is closed: on `runs_dir` (else the
/// folder used last time, else `runs`) and on `tab` (else the one open last time).
pub fn run(runs_dir: Option<PathBuf>, sample_dir: PathBuf, tab: Option<Tab>) -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: eframe::egui::ViewportBuilder::default().with_inner_size([1280.0, 820.0]).with_title("LoRA Workbench"),
        renderer: eframe::Renderer::Glow,
        ..Default::default()
    };
    eframe::run_native(
        "LoRA Workbench",
        options,
        Box::new(move |cc| {
            let mut app = WorkbenchApp::restore(runs_dir, sample_dir, cc.storage);
            if let Some(tab) = tab {
                app.tab = tab;
            }
            Ok(Box::new(app))
        }),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e} (is a display available? set DISPLAY, or use the CLI subcommands)"))
}
