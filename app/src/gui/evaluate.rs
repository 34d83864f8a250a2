//! Evaluate: perplexity of the base model and of each ticked run's adapter
//! on a held-out file, computed on the engine thread, as a table and a bar
//! chart.

use std::path::PathBuf;

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Bar, BarChart, Plot};
use engine::engine_thread::{Command, EngineEvent, EngineHandle};
use engine::eval::{EvalRequest, EvalRow};
use engine::runs::RunDir;

/// The Evaluate panel's state.
#[derive(Default)]
pub struct EvaluatePanel {
    /// Held-out file (default: the first ticked run's `data.test_file`).
    pub data_file: Option<PathBuf>,
    /// Rows so far (base first).
    pub rows: Vec<EvalRow>,
    /// Whether the engine is evaluating.
    pub running: bool,
    /// Why the last evaluation could not run.
    pub error: Option<String>,
}

impl EvaluatePanel {
    /// Takes the engine's evaluation events.
    pub fn on_event(&mut self, ev: &EngineEvent) {
        match ev {
            EngineEvent::EvalRow(row) => self.rows.push(row.clone()),
            EngineEvent::EvalDone(result) => {
                self.running = false;
                if let Err(e) = result {
                    self.error = Some(e.clone());
                }
            }
            _ => {}
        }
    }

    /// Builds the request for the ticked runs (same base model as the first).
    pub fn request(&self, ticked: &[PathBuf]) -> Result<EvalRequest, String> {
        let first = ticked.first().ok_or("tick at least one run in the list")?;
        let cfg = RunDir::open(first).and_then(|r| r.config()).map_err(|e| e.to_string())?;
        let data_file = self
            .data_file
            .clone()
            .or(cfg.data.test_file.clone())
            .ok_or("choose a held-out file (the run's config has no data.test_file)")?;
        let mut adapters = Vec::new();
        for run in ticked {
            let same_base = RunDir::open(run).and_then(|r| r.config()).is_ok_and(|c| c.model.path == cfg.model.path);
            let adapter = run.join("adapter");
            if same_base && adapter.is_dir() {
                adapters.push(adapter);
            }
        }
        Ok(EvalRequest {
            model_dir: cfg.model.path,
            adapters,
            data_file,
            max_seq_len: cfg.data.max_seq_len,
            batch_size: 16,
            device: cfg.model.device,
        })
    }

    /// Draws the panel.
    pub fn ui(&mut self, ui: &mut egui::Ui, ticked: &[PathBuf], engine: &EngineHandle, engine_busy: bool) {
        ui.horizontal(|ui| {
            let can_run = !self.running && !engine_busy && !ticked.is_empty();
            let button = ui.add_enabled(can_run, egui::Button::new("Evaluate base vs ticked runs"));
            let button = button.on_disabled_hover_text("tick runs with an adapter; wait for training to end");
            if button.clicked() {
                match self.request(ticked) {
                    Ok(req) => {
                        self.rows.clear();
                        self.error = None;
                        self.running = true;
                        engine.send(Command::Evaluate(Box::new(req)));
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            if ui.button("Held-out file...").clicked() {
                if let Some(p) = rfd::FileDialog::new().add_filter("JSONL", &["jsonl"]).pick_file() {
                    self.data_file = Some(p);
                }
            }
            if let Some(f) = &self.data_file {
                ui.label(super::display_path(f));
            }
            if self.running {
                ui.spinner();
                ui.ctx().request_repaint_after(std::time::Duration::from_millis(100));
            }
        });
        if let Some(e) = &self.error {
            ui.label(RichText::new(e).color(Color32::from_rgb(220, 50, 50)));
        }
        if self.rows.is_empty() {
            ui.label("Perplexity on held-out data: base model and each ticked run's adapter.");
            return;
        }
        egui::Grid::new("eval-table").striped(true).show(ui, |ui| {
            for h in ["model", "loss", "perplexity", "tokens", "vs base"] {
                ui.strong(h);
            }
            ui.end_row();
            for (r, change) in self.rows.iter().zip(engine::eval::changes_vs_base(&self.rows)) {
                ui.label(&r.name);
                ui.label(format!("{:.4}", r.loss));
                ui.label(format!("{:.3}", r.perplexity));
                ui.label(r.tokens.to_string());
                ui.label(change);
                ui.end_row();
            }
        });
        let bars: Vec<Bar> = self.rows.iter().enumerate().map(|(i, r)| Bar::new(i as f64, r.perplexity).name(&r.name).width(0.6)).collect();
        let names: Vec<String> = self.rows.iter().map(|r| r.name.clone()).collect();
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
}
