//! The Review tab's "New evaluation" form: prompts from a data file (the
//! held-out split by default), two or more models ticked (bases, runs'
//! adapters, an endpoint's models), the answer length and a system prompt,
//! and the rubric. **Generate answers** hands a [`Plan`] to the window,
//! which runs it as an engine job; its progress and ETA show here.

use std::path::Path;
use std::time::Instant;

use eframe::egui;
use engine::comparisons::prompts_from_file;
use engine::generate::target::{AnswerSettings, Target};
use engine::human_eval::plan::Plan;
use engine::human_eval::rubric::Rubric;

/// The form's state.
pub struct NewEvaluation {
    /// The evaluation's title (also its folder's name).
    pub title: String,
    /// The JSONL file the prompts come from.
    pub prompts_file: String,
    /// Use only the first this many prompts (0: all).
    pub limit: usize,
    /// The models ticked, in the order ticked.
    pub chosen: Vec<Target>,
    /// A system prompt for every prompt.
    pub system: String,
    /// Most tokens per answer.
    pub max_new_tokens: usize,
    /// What reviewers rate.
    pub rubric: Rubric,
    /// Answers done and in all, and when generation began, while the job runs.
    pub progress: Option<(usize, usize, Instant)>,
}

impl Default for NewEvaluation {
    fn default() -> Self {
        Self {
            title: String::new(),
            prompts_file: String::new(),
            limit: 20,
            chosen: Vec::new(),
            system: String::new(),
            max_new_tokens: 256,
            rubric: Rubric::story_a(),
            progress: None,
        }
    }
}

impl NewEvaluation {
    /// Draws the form; the plan to run when **Generate answers** is pressed
    /// and it is complete (else the reason is returned as an error).
    pub fn ui(&mut self, ui: &mut egui::Ui, choices: &[Target], evaluations: &Path) -> Option<Result<Plan, String>> {
        ui.horizontal(|ui| {
            let l = ui.label("Title");
            ui.add(egui::TextEdit::singleline(&mut self.title).desired_width(220.0).hint_text("base vs tuned")).labelled_by(l.id);
            let l = ui.label("Prompts");
            ui.add(egui::TextEdit::singleline(&mut self.prompts_file).desired_width(300.0).hint_text("held-out JSONL file"))
                .labelled_by(l.id);
            let l = ui.label("First");
            ui.add(egui::DragValue::new(&mut self.limit).range(0..=100_000)).labelled_by(l.id).on_hover_text("0: every prompt of the file");
            ui.label("prompts");
        });
        ui.label("Models (tick two or more; every pair is compared on every prompt):");
        for t in choices {
            let mut on = self.chosen.contains(t);
            if ui.checkbox(&mut on, t.label()).on_hover_text(super::targets::describe(t)).changed() {
                if on {
                    self.chosen.push(t.clone());
                } else {
                    self.chosen.retain(|c| c != t);
                }
            }
        }
        ui.horizontal(|ui| {
            let l = ui.label("Answer length");
            ui.add(egui::DragValue::new(&mut self.max_new_tokens).range(1..=8192).suffix(" tokens")).labelled_by(l.id);
            let l = ui.label("System prompt");
            ui.add(egui::TextEdit::singleline(&mut self.system).desired_width(300.0).hint_text("optional")).labelled_by(l.id);
        });
        ui.collapsing("Rubric", |ui| super::rubric_editor::ui(ui, &mut self.rubric));
        if let Some((done, total, since)) = self.progress {
            let eta = (done > 0).then(|| since.elapsed().as_secs_f64() / done as f64 * (total - done) as f64);
            let text = format!("answer {done} of {total}{}", eta.map_or_else(String::new, |s| format!(", about {s:.0} s left")));
            ui.add(egui::ProgressBar::new(done as f32 / total.max(1) as f32).text(text));
            return None;
        }
        ui.button("Generate answers")
            .on_hover_text("greedy answers, frozen in a new evaluation folder")
            .clicked()
            .then(|| self.plan(evaluations))
    }

    /// The plan the form describes, or what is missing.
    fn plan(&self, evaluations: &Path) -> Result<Plan, String> {
        let title = self.title.trim();
        if title.is_empty() {
            return Err("give the evaluation a title".into());
        }
        let folder: String = title.chars().map(|c| if c.is_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect();
        let mut prompts = prompts_from_file(Path::new(self.prompts_file.trim())).map_err(|e| e.to_string())?;
        if self.limit > 0 {
            prompts.truncate(self.limit);
        }
        let plan = Plan {
            title: title.to_string(),
            prompts,
            models: self.chosen.clone(),
            system: self.system.clone(),
            settings: AnswerSettings { max_new_tokens: self.max_new_tokens, ..Default::default() },
            rubric: self.rubric.clone(),
            seed: rand::random(),
            out: evaluations.join(folder),
        };
        plan.check().map_err(|e| e.to_string())?;
        Ok(plan)
    }
}
