//! Evaluate: perplexity of the base model and of each ticked run's adapter
//! on a held-out file, computed as an engine job (training goes on meanwhile),
//! as a table and a bar chart. Tables are kept with their runs, so they show
//! again after a restart.

use std::path::PathBuf;

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Bar, BarChart, Plot};
use engine::eval::{EvalRequest, EvalRow};
use engine::jobs::{JobEvent, JobId};

use super::file_dialog::{self, Pick};

/// What the user asked the Evaluate panel to do.
#[derive(Debug, Clone)]
pub enum EvaluateAction {
    /// Start this evaluation.
    Run(Box<EvalRequest>),
    /// Cancel the running one.
    Cancel,
}

/// The last saved table of a set of ticked runs, re-read when the set changes.
type SavedTable = (Vec<PathBuf>, Option<(PathBuf, Vec<EvalRow>)>);

/// The Evaluate panel's state.
#[derive(Default)]
pub struct EvaluatePanel {
    /// Held-out file (default: the first ticked run's `data.test_file`).
    pub data_file: Option<PathBuf>,
    /// Rows so far (base first).
    pub rows: Vec<EvalRow>,
    /// The engine job evaluating.
    pub job: Option<JobId>,
    /// Why the last evaluation could not run.
    pub error: Option<String>,
    saved: Option<SavedTable>,
}

impl EvaluatePanel {
    /// Takes the events of its evaluation job.
    pub fn on_event(&mut self, ev: &JobEvent) {
        match ev {
            JobEvent::EvalRow(row) => self.rows.push(row.clone()),
            JobEvent::Evaluated(_) | JobEvent::Cancelled => self.saved = None,
            JobEvent::Failed(e) => self.error = Some(e.clone()),
            JobEvent::Ended => self.job = None,
            _ => {}
        }
    }

    /// Whether an evaluation job is running.
    pub fn running(&self) -> bool {
        self.job.is_some()
    }

    /// The request for the ticked runs (see [`EvalRequest::for_runs`]).
    pub fn request(&self, ticked: &[PathBuf]) -> Result<EvalRequest, String> {
        EvalRequest::for_runs(ticked, self.data_file.clone()).map_err(|e| e.to_string())
    }

    /// The table saved with the ticked runs (from an earlier evaluation, maybe in an earlier session).
    fn saved_table(&mut self, ticked: &[PathBuf]) -> Option<&(PathBuf, Vec<EvalRow>)> {
        if self.saved.as_ref().is_none_or(|(runs, _)| runs != ticked) {
            self.saved = Some((ticked.to_vec(), engine::eval::saved::table_for_runs(ticked)));
        }
        self.saved.as_ref().and_then(|(_, t)| t.as_ref())
    }

    /// Draws the panel; returns what the user asked for.
    pub fn ui(&mut self, ui: &mut egui::Ui, ticked: &[PathBuf]) -> Option<EvaluateAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            let can_run = !self.running() && !ticked.is_empty();
            let button = ui.add_enabled(can_run, egui::Button::new("Evaluate base vs ticked runs"));
            let button = button.on_disabled_hover_text("tick runs with an adapter in the list");
            if button.clicked() {
                match self.request(ticked) {
                    Ok(req) => {
                        self.rows.clear();
                        self.error = None;
                        action = Some(EvaluateAction::Run(Box::new(req)));
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            if self.running() && ui.button("Cancel evaluation").clicked() {
                action = Some(EvaluateAction::Cancel);
            }
            let l = ui.label("Held-out file");
            let mut text = self.data_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            let edit = egui::TextEdit::singleline(&mut text).hint_text("the run's data.test_file").desired_width(320.0);
            if ui.add(edit).labelled_by(l.id).on_hover_text("type or paste a JSONL path").changed() {
                self.data_file = (!text.trim().is_empty()).then(|| PathBuf::from(text.trim()));
            }
            if ui.button("Held-out file...").clicked() {
                match file_dialog::pick(Pick::Open("JSONL", &["jsonl"])) {
                    Ok(Some(p)) => self.data_file = Some(p),
                    Ok(None) => {}
                    Err(e) => self.error = Some(e),
                }
            }
            if self.running() {
                ui.spinner();
                ui.ctx().request_repaint_after(std::time::Duration::from_millis(100));
            }
        });
        if let Some(e) = &self.error {
            ui.label(RichText::new(e).color(Color32::from_rgb(220, 50, 50)));
        }
        let rows = if !self.rows.is_empty() || self.running() {
            self.rows.clone()
        } else if let Some((file, rows)) = self.saved_table(ticked).cloned() {
            ui.label(RichText::new(format!("saved with the runs: evaluated on {}", super::display_path(&file))).weak());
            rows
        } else {
            Vec::new()
        };
        if rows.is_empty() {
            ui.label("Perplexity on held-out data: base model and each ticked run's adapter.");
            return action;
        }
        table_ui(ui, &rows);
        action
    }
}

/// The perplexity table and bar chart.
fn table_ui(ui: &mut egui::Ui, rows: &[EvalRow]) {
    egui::Grid::new("eval-table").striped(true).show(ui, |ui| {
        for h in ["model", "loss", "perplexity", "tokens", "vs base"] {
            ui.strong(h);
        }
        ui.end_row();
        for (r, change) in rows.iter().zip(engine::eval::changes_vs_base(rows)) {
            ui.label(&r.name);
            ui.label(format!("{:.4}", r.loss));
            ui.label(format!("{:.3}", r.perplexity));
            ui.label(r.tokens.to_string());
            ui.label(change);
            ui.end_row();
        }
    });
    let bars: Vec<Bar> = rows.iter().enumerate().map(|(i, r)| Bar::new(i as f64, r.perplexity).name(&r.name).width(0.6)).collect();
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    // One axis label per bar: the model's name under its bar, nothing between bars.
    let name_at = move |mark: egui_plot::GridMark, _: &std::ops::RangeInclusive<f64>| {
        let i = mark.value.round();
        if (mark.value - i).abs() > 1e-6 || i < 0.0 { String::new() } else { names.get(i as usize).cloned().unwrap_or_default() }
    };
    Plot::new("perplexity-bars")
        .height(240.0)
        .y_axis_label("perplexity")
        .x_axis_formatter(name_at)
        .show(ui, |plot| plot.bar_chart(BarChart::new("perplexity", bars)));
}
