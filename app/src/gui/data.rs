//! Data: open a JSONL file and see its conversation count, malformed lines
//! with their line numbers, previews rendered with the chat template (prompt
//! and trained parts apart), and a histogram of token lengths with the
//! max-length cut marked and the number truncated. The analysis runs on a
//! background thread; the frame never waits for it.

use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, channel};

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Bar, BarChart, Plot, VLine};
use engine::config::TrainOn;
use engine::data::report::{DataReport, analyze};

/// The Data panel's state.
pub struct DataPanel {
    /// The file to analyze.
    pub file: PathBuf,
    /// The last analysis (or why it failed).
    pub report: Option<Result<DataReport, String>>,
    pending: Option<Receiver<Result<DataReport, String>>>,
}

impl DataPanel {
    /// A panel on `file`.
    pub fn new(file: PathBuf) -> Self {
        Self { file, report: None, pending: None }
    }

    /// Whether an analysis is running.
    pub fn busy(&self) -> bool {
        self.pending.is_some()
    }

    /// Starts analysing the file with the tokenizer of `model_dir`.
    pub fn analyze(&mut self, model_dir: &Path, max_seq_len: usize, train_on: TrainOn) {
        let (tx, rx) = channel();
        let (file, model_dir) = (self.file.clone(), model_dir.to_path_buf());
        std::thread::spawn(move || {
            let result = (|| {
                let cfg = engine::model::ModelConfig::load(&model_dir)?;
                let tok = engine::model::tokenizer::load(&model_dir, &cfg)?;
                analyze(&file, &tok, max_seq_len, train_on, 5)
            })();
            let _ = tx.send(result.map_err(|e| e.to_string()));
        });
        self.pending = Some(rx);
    }

    /// Takes a finished analysis, if any.
    pub fn poll(&mut self) {
        if let Some(rx) = &self.pending {
            if let Ok(r) = rx.try_recv() {
                self.report = Some(r);
                self.pending = None;
            }
        }
    }

    /// Draws the panel; uses the editor's model, length and loss settings.
    pub fn ui(&mut self, ui: &mut egui::Ui, model_dir: &Path, max_seq_len: usize, train_on: TrainOn) {
        self.poll();
        if self.report.is_none() && !self.busy() {
            // The first visit analyses the config's training file straight away.
            self.analyze(model_dir, max_seq_len, train_on);
        }
        ui.horizontal(|ui| {
            let l = ui.label("Data file");
            let mut text = self.file.display().to_string();
            if ui.text_edit_singleline(&mut text).labelled_by(l.id).changed() {
                self.file = PathBuf::from(text);
            }
            if ui.button("Open data...").clicked() {
                if let Some(p) = rfd::FileDialog::new().add_filter("JSONL", &["jsonl", "json"]).pick_file() {
                    self.file = p;
                    self.analyze(model_dir, max_seq_len, train_on);
                }
            }
            if ui.add_enabled(!self.busy(), egui::Button::new("Analyze")).clicked() {
                self.analyze(model_dir, max_seq_len, train_on);
            }
            if self.busy() {
                ui.spinner();
            }
        });
        ui.label(RichText::new(format!("tokenizer and template of {}, max length {max_seq_len}", super::display_path(model_dir))).weak());
        ui.separator();
        match &self.report {
            None => {
                ui.label("Reading the file...");
            }
            Some(Err(e)) => {
                ui.label(RichText::new(e).color(Color32::from_rgb(220, 50, 50)));
            }
            Some(Ok(r)) => report_ui(ui, r),
        }
        if self.busy() {
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(100));
        }
    }
}

fn report_ui(ui: &mut egui::Ui, r: &DataReport) {
    let s = &r.stats;
    ui.label(RichText::new(format!("{} conversations, {} examples", r.records, s.count)).strong());
    ui.label(format!(
        "tokens per example: min {} | median {} | mean {:.1} | p95 {} | max {}; trained tokens {}",
        s.min, s.median, s.mean, s.p95, s.max, s.trained_tokens
    ));
    ui.label(format!("truncated at {}: {} examples ({} tokens cut); dropped: {}", r.max_seq_len, r.truncated, r.tokens_cut, r.dropped));
    if !r.skipped.is_empty() {
        ui.label(RichText::new(format!("{} malformed lines (skipped):", r.skipped.len())).color(Color32::from_rgb(220, 50, 50)));
        for (line, msg) in r.skipped.iter().take(20) {
            ui.label(format!("line {line}: {msg}"));
        }
    }
    let bars: Vec<Bar> =
        r.histogram(32).into_iter().map(|(lo, hi, c)| Bar::new((lo + hi) as f64 / 2.0, c as f64).width((hi - lo) as f64 * 0.9)).collect();
    Plot::new("length-histogram").height(200.0).x_axis_label("tokens").y_axis_label("examples").show(ui, |plot| {
        plot.bar_chart(BarChart::new("examples", bars));
        plot.vline(VLine::new("max_seq_len", r.max_seq_len as f64).color(Color32::from_rgb(220, 50, 50)));
    });
    ui.strong("Preview (trained parts in green)");
    egui::ScrollArea::vertical().id_salt("data-preview").show(ui, |ui| {
        for segments in &r.previews {
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                ui.label(RichText::new("<s>").weak().monospace());
                for seg in segments {
                    let text = if seg.reply { format!("{}</s>", seg.text) } else { seg.text.clone() };
                    let rich = RichText::new(text).monospace();
                    ui.label(if seg.trained { rich.color(Color32::from_rgb(60, 180, 90)) } else { rich.weak() });
                }
            });
            ui.separator();
        }
    });
}
