//! The models the Chat and Compare tabs can ask: base models here (the
//! edited config's, the shipped sample, each run's), each run's adapter on its
//! base, and the models of an OpenAI-compatible endpoint (vLLM, `workbench
//! serve`) once listed; a combo box to pick one, and the endpoint's form.

use std::path::Path;

use eframe::egui::{self, Color32, RichText};
use engine::generate::target::Target;
use engine::jobs::{JobEvent, JobId};
use engine::remote::Endpoint;

use super::runs::RunEntry;

/// The local targets: `bases` (model directories) with their own chat
/// template, then each listed run's base and, once it has one, its adapter.
/// A model directory spelled different ways (`a/../b`, a link) is listed once.
pub fn local_targets(bases: &[&Path], runs: &[RunEntry]) -> Vec<Target> {
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let mut out: Vec<Target> = Vec::new();
    for base in bases.iter().filter(|b| b.join("config.json").is_file()) {
        let t = Target::base(&real(base), "model");
        if !out.contains(&t) {
            out.push(t);
        }
    }
    for run in runs {
        let Some(cfg) = &run.config else { continue };
        let model = real(&cfg.model.path);
        let base = Target::base(&model, &cfg.data.chat_template);
        let adapter = run.has_adapter.then(|| Target::Local {
            model: model.clone(),
            adapter: Some(engine::runs::RunDir { path: run.path.clone() }.adapter_dir()),
            chat_template: cfg.data.chat_template.clone(),
            name: run.name.clone(),
        });
        for t in std::iter::once(base).chain(adapter) {
            if !out.contains(&t) {
                out.push(t);
            }
        }
    }
    out
}

/// A combo box choosing `current` among `choices`; true when it changed.
pub fn combo(
    ui: &mut egui::Ui,
    id: impl std::hash::Hash + std::fmt::Debug,
    label: &str,
    current: &mut Option<Target>,
    choices: &[Target],
) -> bool {
    let shown = current.as_ref().map_or_else(|| "choose a model".to_string(), Target::label);
    let before = current.clone();
    let l = ui.label(label);
    egui::ComboBox::from_id_salt(id)
        .selected_text(shown)
        .width(300.0)
        .show_ui(ui, |ui| {
            for t in choices {
                ui.selectable_value(current, Some(t.clone()), t.label()).on_hover_text(describe(t));
            }
        })
        .response
        .labelled_by(l.id);
    *current != before
}

/// Where a target's weights or server are.
pub fn describe(t: &Target) -> String {
    match t {
        Target::Local { model, adapter: None, .. } => format!("base model {}", model.display()),
        Target::Local { model, adapter: Some(a), .. } => format!("adapter {} on {}", a.display(), model.display()),
        Target::Remote { endpoint, model } => format!("model {model} served at {}", endpoint.url),
    }
}

/// An OpenAI-compatible endpoint: URL, key, and the models it serves.
pub struct EndpointForm {
    /// Base URL.
    pub url: String,
    /// API key (kept in memory only).
    pub api_key: String,
    /// The listed models, as targets.
    pub models: Vec<Target>,
    /// The job listing them.
    pub job: Option<JobId>,
    /// Why listing failed.
    pub error: Option<String>,
}

impl Default for EndpointForm {
    fn default() -> Self {
        Self { url: "http://127.0.0.1:8000".into(), api_key: String::new(), models: Vec::new(), job: None, error: None }
    }
}

impl EndpointForm {
    /// The endpoint as typed.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(&self.url, &self.api_key)
    }

    /// Takes the events of its listing job.
    pub fn on_event(&mut self, ev: &JobEvent) {
        match ev {
            JobEvent::Models(ids) => {
                let endpoint = self.endpoint();
                self.models = ids.iter().map(|m| Target::Remote { endpoint: endpoint.clone(), model: m.clone() }).collect();
                if ids.is_empty() {
                    self.error = Some("the endpoint serves no models".into());
                }
            }
            JobEvent::Failed(e) => self.error = Some(e.clone()),
            JobEvent::Ended => self.job = None,
            _ => {}
        }
    }

    /// Draws the form; returns the endpoint to list when "List models" is clicked.
    pub fn ui(&mut self, ui: &mut egui::Ui) -> Option<Endpoint> {
        let mut list = None;
        egui::CollapsingHeader::new("OpenAI-compatible endpoint (vLLM, workbench serve)").id_salt("endpoint").show(ui, |ui| {
            ui.horizontal(|ui| {
                let l = ui.label("Endpoint URL");
                ui.add(egui::TextEdit::singleline(&mut self.url).desired_width(260.0)).labelled_by(l.id);
                let l = ui.label("API key");
                ui.add(egui::TextEdit::singleline(&mut self.api_key).password(true).desired_width(140.0).hint_text("none"))
                    .labelled_by(l.id);
                if ui.add_enabled(self.job.is_none(), egui::Button::new("List models")).clicked() {
                    self.error = None;
                    list = Some(self.endpoint());
                }
                if self.job.is_some() {
                    ui.spinner();
                }
            });
            if let Some(e) = &self.error {
                ui.label(RichText::new(e).color(Color32::from_rgb(220, 50, 50)));
            } else if !self.models.is_empty() {
                let names: Vec<String> = self.models.iter().map(Target::label).collect();
                ui.label(format!("serves: {}", names.join(", ")));
            }
        });
        list
    }
}
