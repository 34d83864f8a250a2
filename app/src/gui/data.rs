//! Data: open a JSONL file and see how many of its lines are valid, every
//! malformed line with its number, previews rendered with the chat template
//! (prompt and trained parts apart), and a histogram of token lengths with
//! the max-length cut marked and the number truncated. The analysis is an
//! engine job; the frame never waits for it.

use std::path::PathBuf;

use eframe::egui::{self, Color32, RichText};
use egui_plot::{Bar, BarChart, Plot, VLine};
use engine::config::TrainConfig;
use engine::data::report::{DataReport, DataRequest};
use engine::jobs::{JobEvent, JobId};

use super::file_dialog::{self, Pick};

/// What the user asked the Data panel to do.
#[derive(Debug, Clone)]
pub enum DataAction {
    /// Analyse a file.
    Analyze(Box<DataRequest>),
}

/// The Data panel's state.
pub struct DataPanel {
    /// The file to analyze.
    pub file: PathBuf,
    /// The last analysis (or why it failed).
    pub report: Option<Result<DataReport, String>>,
    /// The engine job analysing the file.
    pub job: Option<JobId>,
    /// Why a file dialog could not open.
    notice: Option<String>,
}

impl DataPanel {
    /// A panel on `file`.
    pub fn new(file: PathBuf) -> Self {
        Self { file, report: None, job: None, notice: None }
    }

    /// Whether an analysis is running.
    pub fn busy(&self) -> bool {
        self.job.is_some()
    }

    /// Takes the events of its analysis job.
    pub fn on_event(&mut self, ev: &JobEvent) {
        match ev {
            JobEvent::Analyzed(r) => self.report = Some(Ok((**r).clone())),
            JobEvent::Failed(e) => self.report = Some(Err(e.clone())),
            JobEvent::Ended => self.job = None,
            _ => {}
        }
    }

    fn analyze(&self, config: &TrainConfig) -> Option<DataAction> {
        Some(DataAction::Analyze(Box::new(DataRequest::for_config(config, self.file.clone()))))
    }

    /// Draws the panel; the editor's config gives the model, length and loss
    /// settings. Returns what the user asked for.
    pub fn ui(&mut self, ui: &mut egui::Ui, config: &TrainConfig) -> Option<DataAction> {
        let mut action = None;
        if self.report.is_none() && !self.busy() {
            // The first visit analyses the config's training file straight away.
            action = self.analyze(config);
        }
        ui.horizontal(|ui| {
            let l = ui.label("Data file");
            let mut text = self.file.display().to_string();
            if ui.text_edit_singleline(&mut text).labelled_by(l.id).on_hover_text("type or paste a JSONL path").changed() {
                self.file = PathBuf::from(text);
            }
            if ui.button("Open data...").clicked() {
                match file_dialog::pick(Pick::Open("JSONL", &["jsonl", "json"])) {
                    Ok(Some(p)) => {
                        self.file = p;
                        action = self.analyze(config);
                    }
                    Ok(None) => {}
                    Err(e) => self.notice = Some(e),
                }
            }
            if ui.add_enabled(!self.busy(), egui::Button::new("Analyze")).clicked() {
                action = self.analyze(config);
            }
            if self.busy() {
                ui.spinner();
            }
        });
        if let Some(n) = &self.notice {
            ui.label(RichText::new(n).color(Color32::from_rgb(220, 50, 50)));
        }
        let (model_dir, max_seq_len) = (&config.model.path, config.data.max_seq_len);
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
        action
    }
}

fn report_ui(ui: &mut egui::Ui, r: &DataReport) {
    let s = &r.stats;
    ui.label(RichText::new(format!("{} conversations, {} examples ({})", r.records, s.count, r.validity())).strong());
    ui.label(format!(
        "tokens per example: min {} | median {} | mean {:.1} | p95 {} | max {}; trained tokens {}",
        s.min, s.median, s.mean, s.p95, s.max, s.trained_tokens
    ));
    ui.label(format!("truncated at {}: {} examples ({} tokens cut); dropped: {}", r.max_seq_len, r.truncated, r.tokens_cut, r.dropped));
    if !r.skipped.is_empty() {
        let red = Color32::from_rgb(220, 50, 50);
        ui.label(
            RichText::new(format!("{} malformed lines (skipped when training with data.skip_bad_lines):", r.skipped.len())).color(red),
        );
        egui::ScrollArea::vertical().id_salt("bad-lines").max_height(120.0).show(ui, |ui| {
            for (line, msg) in &r.skipped {
                ui.label(format!("line {line}: {msg}"));
            }
        });
    }
    let bars: Vec<Bar> =
        r.histogram(32).into_iter().map(|(lo, hi, c)| Bar::new((lo + hi) as f64 / 2.0, c as f64).width((hi - lo) as f64 * 0.9)).collect();
    Plot::new("length-histogram").height(200.0).x_axis_label("tokens").y_axis_label("examples").show(ui, |plot| {
        plot.bar_chart(BarChart::new("examples", bars));
        plot.vline(VLine::new("max_seq_len", r.max_seq_len as f64).color(Color32::from_rgb(220, 50, 50)));
    });
    ui.strong(format!("Preview with the {} chat template (trained parts in green)", r.template));
    egui::ScrollArea::vertical().id_salt("data-preview").show(ui, |ui| {
        for segments in &r.previews {
            ui.horizontal_wrapped(|ui| {
                ui.spacing_mut().item_spacing.x = 0.0;
                for seg in segments {
                    let rich = RichText::new(&seg.text).monospace();
                    ui.label(if seg.trained { rich.color(Color32::from_rgb(60, 180, 90)) } else { rich.weak() });
                }
            });
            ui.separator();
        }
    });
}
