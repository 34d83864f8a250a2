//! Status bar: the current run's progress, step, epoch, loss, throughput and
//! ETA, with Pause / Continue / Cancel. ("Resume" is kept for continuing a
//! stopped run from its checkpoint, in the runs list.)

use std::path::PathBuf;

use eframe::egui::{self, RichText};
use engine::jobs::JobId;

/// What the window knows about the run the engine is training.
#[derive(Debug, Clone, Default)]
pub struct LiveRun {
    /// The engine job training it.
    pub job: Option<JobId>,
    /// Its directory, once created.
    pub run_dir: Option<PathBuf>,
    /// Whether the engine is busy with it.
    pub active: bool,
    /// Whether it is paused.
    pub paused: bool,
    /// Last completed step.
    pub step: usize,
    /// Planned steps.
    pub total_steps: usize,
    /// Fractional epoch.
    pub epoch: f64,
    /// Last step's loss.
    pub loss: f64,
    /// Last step's throughput.
    pub tokens_per_s: f64,
    /// Estimated seconds left.
    pub eta_s: f64,
    /// The last log line.
    pub last_log: String,
}

/// What the user asked of the live run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusAction {
    /// Pause after the current step.
    Pause,
    /// Continue the paused run.
    Continue,
    /// Stop after the current step, keeping a resumable checkpoint.
    Cancel,
}

/// Draws the status bar; returns what the user asked for.
pub fn ui(ui: &mut egui::Ui, live: &LiveRun) -> Option<StatusAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        if !live.active {
            ui.label("Idle.");
            if !live.last_log.is_empty() {
                ui.label(RichText::new(&live.last_log).weak());
            }
            return;
        }
        let name = live
            .run_dir
            .as_ref()
            .and_then(|d| d.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "starting...".into());
        ui.label(RichText::new(name).strong());
        let fraction = if live.total_steps > 0 { live.step as f32 / live.total_steps as f32 } else { 0.0 };
        ui.add(egui::ProgressBar::new(fraction).desired_width(220.0).text(format!("step {}/{}", live.step, live.total_steps)));
        ui.label(format!(
            "epoch {:.2} | loss {:.4} | {:.0} tok/s | ETA {}",
            live.epoch,
            live.loss,
            live.tokens_per_s,
            format_eta(live.eta_s)
        ));
        if live.paused {
            ui.label(RichText::new("paused").strong());
            if ui.button("Continue").on_hover_text("continue the paused run").clicked() {
                action = Some(StatusAction::Continue);
            }
        } else if ui.button("Pause").on_hover_text("pause after this step").clicked() {
            action = Some(StatusAction::Pause);
        }
        if ui.button("Cancel").on_hover_text("Stop after this step and keep a resumable checkpoint (Esc)").clicked() {
            action = Some(StatusAction::Cancel);
        }
    });
    action
}

fn format_eta(s: f64) -> String {
    if !s.is_finite() {
        return "-".into();
    }
    let s = s.round() as u64;
    format!("{}:{:02}:{:02}", s / 3600, (s / 60) % 60, s % 60)
}
