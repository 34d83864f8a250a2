//! The generation settings form the Chat and Compare tabs share: token limit,
//! temperature (0: greedy), top-p, top-k, min-p, repetition penalty, seed,
//! ignoring the end of turn.

use eframe::egui;
use engine::generate::target::AnswerSettings;

/// Draws the form for `s`; `id` keeps two forms' widgets apart.
pub fn settings_ui(ui: &mut egui::Ui, id: &str, s: &mut AnswerSettings) {
    egui::Grid::new(("generation-settings", id)).num_columns(4).show(ui, |ui| {
        let l = ui.label("Max new tokens");
        ui.add(egui::DragValue::new(&mut s.max_new_tokens).range(1..=8192)).labelled_by(l.id);
        let l = ui.label("Temperature");
        ui.add(egui::DragValue::new(&mut s.sampling.temperature).range(0.0..=2.0).speed(0.05)).labelled_by(l.id).on_hover_text("0: greedy");
        ui.end_row();
        let l = ui.label("Top-p");
        ui.add(egui::DragValue::new(&mut s.sampling.top_p).range(0.01..=1.0).speed(0.01)).labelled_by(l.id);
        let l = ui.label("Top-k");
        ui.add(egui::DragValue::new(&mut s.sampling.top_k).range(0..=1000)).labelled_by(l.id).on_hover_text("0: off");
        ui.end_row();
        let l = ui.label("Min-p");
        ui.add(egui::DragValue::new(&mut s.sampling.min_p).range(0.0..=1.0).speed(0.01)).labelled_by(l.id);
        let l = ui.label("Repetition penalty");
        ui.add(egui::DragValue::new(&mut s.sampling.repetition_penalty).range(1.0..=2.0).speed(0.01)).labelled_by(l.id);
        ui.end_row();
        let mut seeded = s.sampling.seed.is_some();
        if ui.checkbox(&mut seeded, "Seed").on_hover_text("repeatable sampled answers").changed() {
            s.sampling.seed = seeded.then_some(0);
        }
        match &mut s.sampling.seed {
            Some(seed) => ui.add(egui::DragValue::new(seed)),
            None => ui.label(""),
        };
        ui.checkbox(&mut s.ignore_eos, "Ignore end of turn").on_hover_text("always generate the maximum (for speed measurements)");
        ui.end_row();
    });
}
