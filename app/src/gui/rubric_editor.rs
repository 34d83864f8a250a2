//! The rubric of a new evaluation, edited: criteria with a name, the
//! description reviewers see, and a scale (yes / no with the words shown, or
//! whole points such as 1-5); whether a preference and a comment are asked.
//! What is wrong with it is said under it as you type.

use eframe::egui::{self, Color32, RichText};
use engine::human_eval::rubric::{Criterion, Rubric, Scale};

/// Draws `rubric` for editing.
pub fn ui(ui: &mut egui::Ui, rubric: &mut Rubric) {
    let mut remove = None;
    egui::Grid::new("rubric-editor").striped(true).show(ui, |ui| {
        ui.strong("criterion");
        ui.strong("asked of the reviewer");
        ui.strong("scale");
        ui.end_row();
        for (i, c) in rubric.criteria.iter_mut().enumerate() {
            ui.push_id(i, |ui| {
                ui.add(egui::TextEdit::singleline(&mut c.name).desired_width(110.0).hint_text("name"))
                    .on_hover_text(format!("criterion {} name", i + 1));
            });
            ui.push_id(("d", i), |ui| ui.add(egui::TextEdit::singleline(&mut c.description).desired_width(280.0).hint_text("description")));
            ui.horizontal(|ui| {
                scale_ui(ui, i, &mut c.scale);
                if ui.small_button("Remove").clicked() {
                    remove = Some(i);
                }
            });
            ui.end_row();
        }
    });
    if let Some(i) = remove {
        rubric.criteria.remove(i);
    }
    ui.horizontal(|ui| {
        if ui.button("Add criterion").clicked() {
            let name = format!("criterion {}", rubric.criteria.len() + 1);
            rubric.criteria.push(Criterion { name, description: String::new(), scale: Scale::Points { min: 1, max: 5 } });
        }
        ui.checkbox(&mut rubric.preference, "ask which answer is better");
        ui.checkbox(&mut rubric.comment, "offer a comment");
        if ui.button("Story A's rubric").on_hover_text("relevance and factual accuracy, then a preference").clicked() {
            *rubric = Rubric::story_a();
        }
    });
    if let Err(e) = rubric.check() {
        ui.label(RichText::new(e).color(Color32::from_rgb(220, 50, 50)));
    }
}

/// A criterion's scale: the kind, then its words or its range.
fn scale_ui(ui: &mut egui::Ui, i: usize, scale: &mut Scale) {
    let binary = matches!(scale, Scale::Binary { .. });
    egui::ComboBox::from_id_salt(("scale", i)).selected_text(if binary { "yes / no" } else { "points" }).show_ui(ui, |ui| {
        if ui.selectable_label(binary, "yes / no").clicked() && !binary {
            *scale = Scale::Binary { yes: "yes".into(), no: "no".into() };
        }
        if ui.selectable_label(!binary, "points").clicked() && binary {
            *scale = Scale::Points { min: 1, max: 5 };
        }
    });
    match scale {
        Scale::Binary { yes, no } => {
            ui.add(egui::TextEdit::singleline(yes).desired_width(80.0).hint_text("yes word"));
            ui.add(egui::TextEdit::singleline(no).desired_width(80.0).hint_text("no word"));
        }
        Scale::Points { min, max } => {
            ui.add(egui::DragValue::new(min).range(0..=8).prefix("from "));
            ui.add(egui::DragValue::new(max).range(1..=9).prefix("to "));
        }
    }
}
