//! Compare: two or more models answer the same prompt in parallel columns,
//! streaming at once, with time to first token and speed under each. Prompts
//! are typed or stepped through from a list (the held-out split or any JSONL
//! file) with the keyboard (N / Down: next, P / Up: previous, Enter: ask);
//! each prompt's answers are saved with the settings as a comparison
//! document, which a later human evaluation reuses.

use std::path::PathBuf;

use eframe::egui::{self, Color32, RichText};
use egui_commonmark::{CommonMarkCache, CommonMarkViewer};
use engine::comparisons::{Comparison, Prompt, prompts_from_file};
use engine::generate::target::{Answer, Question, Target};
use engine::jobs::{JobEvent, JobId};

use super::chat::stats_line;
use super::file_dialog::{self, Pick};
use super::settings::settings_ui;

/// What the user asked the Compare tab to do.
#[derive(Debug, Clone)]
pub enum CompareAction {
    /// Ask each column's question (column index, question).
    Ask(Vec<(usize, Question)>),
    /// Stop these jobs.
    Stop(Vec<JobId>),
}

/// One model's column.
#[derive(Default)]
pub struct Column {
    /// Who answers.
    pub target: Option<Target>,
    /// The job answering.
    pub job: Option<JobId>,
    /// The answer so far.
    pub text: String,
    /// The finished answer.
    pub answer: Option<Answer>,
    /// Why it failed.
    pub error: Option<String>,
}

/// The Compare tab's state.
pub struct ComparePanel {
    /// The columns, in order.
    pub columns: Vec<Column>,
    /// The prompt list.
    pub prompts: Vec<Prompt>,
    /// Which prompt of the list is shown.
    pub current: usize,
    /// The prompt list's file.
    pub prompt_file: String,
    /// The question as typed (or taken from the list).
    pub question: String,
    /// The comparison being recorded (targets, settings, answers).
    pub comparison: Comparison,
    /// Where it is saved.
    pub path: Option<PathBuf>,
    /// The last message for the user (text, is an error).
    pub notice: Option<(String, bool)>,
    /// The prompt the columns answer now.
    asked: Option<Prompt>,
    dir: PathBuf,
    markdown: CommonMarkCache,
}

impl ComparePanel {
    /// Two empty columns; comparisons are saved in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        Self {
            columns: vec![Column::default(), Column::default()],
            prompts: Vec::new(),
            current: 0,
            prompt_file: String::new(),
            question: String::new(),
            comparison: Comparison::default(),
            path: None,
            notice: None,
            asked: None,
            dir,
            markdown: CommonMarkCache::default(),
        }
    }

    /// Whether any column is answering.
    pub fn answering(&self) -> bool {
        self.columns.iter().any(|c| c.job.is_some())
    }

    /// Takes an event of column `i`'s job; when the last column finishes,
    /// the answers are recorded and the comparison saved.
    pub fn on_event(&mut self, i: usize, ev: &JobEvent) {
        let col = &mut self.columns[i];
        match ev {
            JobEvent::Text(t) => col.text.push_str(t),
            JobEvent::Answered(a) => col.answer = Some((**a).clone()),
            JobEvent::Failed(e) => col.error = Some(e.clone()),
            JobEvent::Ended => {
                col.job = None;
                if !self.answering() {
                    self.record();
                }
            }
            _ => {}
        }
    }

    /// Loads the prompt list from `prompt_file`.
    pub fn load_prompts(&mut self) {
        match prompts_from_file(&PathBuf::from(self.prompt_file.trim())) {
            Ok(p) => {
                self.notice = Some((format!("{} prompts", p.len()), false));
                self.prompts = p;
                self.show(0);
            }
            Err(e) => self.notice = Some((e.to_string(), true)),
        }
    }

    /// Shows prompt `i` of the list, with its answers if they were recorded.
    fn show(&mut self, i: usize) {
        let Some(p) = self.prompts.get(i) else { return };
        self.current = i;
        self.question = p.question_text().to_string();
        let recorded = self.comparison.items.iter().find(|c| &c.prompt == p).map(|c| c.answers.clone());
        for (k, col) in self.columns.iter_mut().enumerate() {
            col.answer = recorded.as_ref().and_then(|a| a.get(k).cloned().flatten());
            col.text = col.answer.as_ref().map(|a| a.text.clone()).unwrap_or_default();
            col.error = None;
        }
    }

    /// The prompt to ask: the list's current one unless the question was retyped.
    fn prompt(&self) -> Prompt {
        match self.prompts.get(self.current) {
            Some(p) if p.question_text() == self.question.trim() => p.clone(),
            _ => Prompt::question(self.question.trim()),
        }
    }

    /// Every column's question for the current prompt.
    pub fn ask(&mut self) -> Option<CompareAction> {
        if self.answering() {
            return None;
        }
        let prompt = self.prompt();
        if prompt.question_text().is_empty() {
            self.notice = Some(("type a prompt or load a prompt list".into(), true));
            return None;
        }
        let Some(targets) = self.columns.iter().map(|c| c.target.clone()).collect::<Option<Vec<Target>>>() else {
            self.notice = Some(("choose a model for every column".into(), true));
            return None;
        };
        if targets != self.comparison.targets {
            // Other models: a new comparison, keeping the system prompt and settings.
            self.comparison = Comparison { targets, items: Vec::new(), title: String::new(), ..self.comparison.clone() };
            self.path = None;
        }
        let messages = self.comparison.messages_for(&prompt);
        let settings = self.comparison.settings.clone();
        self.notice = None;
        self.asked = Some(prompt);
        let mut asks = Vec::new();
        for (i, col) in self.columns.iter_mut().enumerate() {
            (col.text, col.answer, col.error) = (String::new(), None, None);
            let target = col.target.clone().expect("checked above");
            asks.push((i, Question { target, messages: messages.clone(), settings: settings.clone() }));
        }
        Some(CompareAction::Ask(asks))
    }

    /// Records the asked prompt's answers and saves the comparison.
    fn record(&mut self) {
        let Some(prompt) = self.asked.take() else { return };
        let answers: Vec<Option<Answer>> = self.columns.iter().map(|c| c.answer.clone()).collect();
        if answers.iter().all(Option::is_none) {
            return;
        }
        self.comparison.record(&prompt, answers);
        if self.comparison.title.is_empty() {
            let labels: Vec<String> = self.comparison.targets.iter().map(Target::label).collect();
            self.comparison.title = labels.join(" vs ");
        }
        let path = self.path.clone().unwrap_or_else(|| self.dir.join(engine::documents::new_name(&self.comparison.title)));
        self.notice = Some(match engine::documents::save(&path, &self.comparison) {
            Ok(()) => {
                let n = self.comparison.items.len();
                let shown = super::display_path(&path);
                self.path = Some(path);
                (format!("{n} compared prompt(s) saved in {shown}"), false)
            }
            Err(e) => (format!("cannot save the comparison: {e}"), true),
        });
    }

    /// Draws the tab; `choices` are the models to pick from.
    pub fn ui(&mut self, ui: &mut egui::Ui, choices: &[Target]) -> Option<CompareAction> {
        let mut action = None;
        egui::Panel::top("compare-top").show(ui, |ui| action = self.top_ui(ui, choices));
        egui::CentralPanel::default().show(ui, |ui| self.columns_ui(ui));
        if !ui.ctx().egui_wants_keyboard_input() {
            let (next, prev, enter) = ui.input(|i| {
                (
                    i.key_pressed(egui::Key::N) || i.key_pressed(egui::Key::ArrowDown),
                    i.key_pressed(egui::Key::P) || i.key_pressed(egui::Key::ArrowUp),
                    i.key_pressed(egui::Key::Enter),
                )
            });
            if !self.answering() {
                if next && self.current + 1 < self.prompts.len() {
                    self.show(self.current + 1);
                }
                if prev && self.current > 0 {
                    self.show(self.current - 1);
                }
            }
            if enter {
                action = action.or_else(|| self.ask());
            }
        }
        if self.answering() {
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(50));
        }
        action
    }

    fn top_ui(&mut self, ui: &mut egui::Ui, choices: &[Target]) -> Option<CompareAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            let l = ui.label("Prompt list");
            let edit = egui::TextEdit::singleline(&mut self.prompt_file).desired_width(300.0).hint_text("held-out JSONL file");
            ui.add(edit).labelled_by(l.id);
            if ui.button("Load prompts").clicked() {
                self.load_prompts();
            }
            if ui.button("Prompt file...").clicked() {
                match file_dialog::pick(Pick::Open("JSONL", &["jsonl"])) {
                    Ok(Some(p)) => {
                        self.prompt_file = p.display().to_string();
                        self.load_prompts();
                    }
                    Ok(None) => {}
                    Err(e) => self.notice = Some((e, true)),
                }
            }
            if !self.prompts.is_empty() {
                let idle = !self.answering();
                if ui.add_enabled(idle && self.current > 0, egui::Button::new("Previous")).on_hover_text("P or Up").clicked() {
                    self.show(self.current - 1);
                }
                ui.label(format!("prompt {} of {}", self.current + 1, self.prompts.len()));
                let more = self.current + 1 < self.prompts.len();
                if ui.add_enabled(idle && more, egui::Button::new("Next")).on_hover_text("N or Down").clicked() {
                    self.show(self.current + 1);
                }
            }
        });
        ui.horizontal(|ui| {
            for (i, col) in self.columns.iter_mut().enumerate() {
                super::targets::combo(ui, ("compare-target", i), &format!("Column {}", i + 1), &mut col.target, choices);
            }
            if ui.add_enabled(!self.answering(), egui::Button::new("Add column")).clicked() {
                self.columns.push(Column::default());
            }
            if self.columns.len() > 2 && ui.add_enabled(!self.answering(), egui::Button::new("Remove column")).clicked() {
                self.columns.pop();
            }
        });
        egui::CollapsingHeader::new("System prompt and generation settings").id_salt("compare-gen").show(ui, |ui| {
            let l = ui.label("System prompt");
            let edit =
                egui::TextEdit::multiline(&mut self.comparison.system).desired_rows(2).desired_width(f32::INFINITY).hint_text("none");
            ui.add(edit).labelled_by(l.id);
            settings_ui(ui, "compare", &mut self.comparison.settings);
        });
        ui.horizontal(|ui| {
            let l = ui.label("Prompt");
            let edit = egui::TextEdit::multiline(&mut self.question).desired_rows(2).desired_width(ui.available_width() - 120.0);
            ui.add(edit).labelled_by(l.id);
            if self.answering() {
                if ui.button("Stop all").clicked() {
                    action = Some(CompareAction::Stop(self.columns.iter().filter_map(|c| c.job).collect()));
                }
            } else if ui.button("Ask all models").on_hover_text("Enter").clicked() {
                action = self.ask();
            }
        });
        if let Some(reference) =
            self.prompts.get(self.current).filter(|p| p.question_text() == self.question.trim()).and_then(|p| p.reference.as_ref())
        {
            egui::CollapsingHeader::new("Reference answer (from the file)").id_salt("compare-ref").show(ui, |ui| ui.label(reference));
        }
        if let Some((text, bad)) = &self.notice {
            let color = if *bad { Color32::from_rgb(220, 50, 50) } else { ui.visuals().weak_text_color() };
            ui.label(RichText::new(text).color(color));
        }
        action
    }

    fn columns_ui(&mut self, ui: &mut egui::Ui) {
        let markdown = &mut self.markdown;
        let columns = &self.columns;
        ui.columns(columns.len(), |uis| {
            for (k, (ui, col)) in uis.iter_mut().zip(columns).enumerate() {
                ui.horizontal(|ui| {
                    ui.strong(col.target.as_ref().map_or_else(|| format!("(column {}: choose a model)", k + 1), Target::label));
                    if col.job.is_some() {
                        ui.spinner();
                    }
                });
                if let Some(a) = &col.answer {
                    ui.label(RichText::new(stats_line(&a.stats)).weak().small());
                }
                if let Some(e) = &col.error {
                    ui.label(RichText::new(e).color(Color32::from_rgb(220, 50, 50)));
                }
                ui.separator();
                egui::ScrollArea::vertical().id_salt(("compare-column", k)).auto_shrink([false, false]).show(ui, |ui| {
                    CommonMarkViewer::new().show(ui, markdown, &col.text);
                });
            }
        });
    }
}
