//! Chat: a conversation with one model, a local one (a base model or a run's
//! adapter, answered by an engine job, also while a run trains) or one on an
//! OpenAI-compatible endpoint. Answers stream in as Markdown with a Stop
//! button and their time to first token and speed under them; a message can
//! be copied, a question edited and asked again, an answer regenerated. Every
//! conversation is saved after each answer and listed for reloading; one that
//! ends with a good answer can be appended to a JSONL file as training data.

use std::path::{Path, PathBuf};

use eframe::egui::{self, Color32, RichText};
use egui_commonmark::{CommonMarkCache, CommonMarkViewer};
use engine::conversations::{Conversation, Turn};
use engine::data::conversation::Role;
use engine::generate::target::{Answer, Question, Target};
use engine::generate::{AnswerStats, FinishReason};
use engine::jobs::{JobEvent, JobId};

use super::settings::settings_ui;

/// What the user asked the Chat tab to do.
#[derive(Debug, Clone)]
pub enum ChatAction {
    /// Ask this question.
    Ask(Box<Question>),
    /// Stop the answer being generated.
    Stop,
}

/// A message shown in the window, good or bad.
type Notice = (String, bool);

/// The Chat tab's state.
pub struct ChatPanel {
    /// The conversation shown.
    pub conversation: Conversation,
    /// The message being written.
    pub input: String,
    /// The job answering.
    pub job: Option<JobId>,
    /// The answer streaming in.
    pub pending: Option<String>,
    /// Where the conversation is saved (after its first answer).
    pub path: Option<PathBuf>,
    /// The JSONL file "Export as training data" appends to.
    pub export_file: String,
    /// The last message for the user (text, is an error).
    pub notice: Option<Notice>,
    /// The user message being edited, and the draft.
    editing: Option<(usize, String)>,
    dir: PathBuf,
    saved: Vec<(PathBuf, String)>,
    markdown: CommonMarkCache,
}

impl ChatPanel {
    /// An empty chat; conversations are saved in `dir`.
    pub fn new(dir: PathBuf) -> Self {
        let export_file = super::display_path(&dir.join("chat-training-data.jsonl"));
        let mut panel = Self {
            conversation: Conversation::default(),
            input: String::new(),
            job: None,
            pending: None,
            path: None,
            export_file,
            notice: None,
            editing: None,
            dir,
            saved: Vec::new(),
            markdown: CommonMarkCache::default(),
        };
        panel.refresh_saved();
        panel
    }

    /// Whether an answer is being generated.
    pub fn answering(&self) -> bool {
        self.job.is_some()
    }

    fn refresh_saved(&mut self) {
        self.saved = engine::documents::list::<Conversation>(&self.dir)
            .into_iter()
            .map(|(p, c)| {
                let title = c.map_or_else(|e| format!("(unreadable) {e}"), |c| c.title);
                (p, title)
            })
            .collect();
    }

    /// Takes the events of its answering job.
    pub fn on_event(&mut self, ev: &JobEvent) {
        match ev {
            JobEvent::Text(t) => self.pending.get_or_insert_default().push_str(t),
            JobEvent::Answered(a) => self.answered(a),
            JobEvent::Failed(e) => self.notice = Some((e.clone(), true)),
            JobEvent::Ended => {
                self.job = None;
                self.pending = None;
            }
            _ => {}
        }
    }

    /// Adds the answer (a stopped one too, if it has text) and saves the conversation.
    fn answered(&mut self, a: &Answer) {
        self.pending = None;
        if a.text.is_empty() && a.stats.finish_reason == FinishReason::Cancelled {
            return;
        }
        let by = self.conversation.target.as_ref().map(Target::label);
        self.conversation.turns.push(Turn {
            role: Role::Assistant,
            content: a.text.clone(),
            answered_by: by,
            stats: Some(a.stats.clone()),
        });
        if self.conversation.title.is_empty() {
            self.conversation.title = self.conversation.default_title();
        }
        self.save();
    }

    /// Saves the conversation (a new file the first time).
    fn save(&mut self) {
        let path = self.path.clone().unwrap_or_else(|| self.dir.join(engine::documents::new_name(&self.conversation.title)));
        match engine::documents::save(&path, &self.conversation) {
            Ok(()) => {
                self.path = Some(path);
                self.refresh_saved();
            }
            Err(e) => self.notice = Some((format!("cannot save the conversation: {e}"), true)),
        }
    }

    /// Opens the saved conversation in `path`.
    pub fn open(&mut self, path: &Path) {
        match engine::documents::load::<Conversation>(path) {
            Ok(c) => {
                self.conversation = c;
                self.path = Some(path.to_path_buf());
                self.editing = None;
                self.notice = None;
            }
            Err(e) => self.notice = Some((e.to_string(), true)),
        }
    }

    /// The question for the conversation as it stands, if a model is chosen.
    fn question(&mut self) -> Option<ChatAction> {
        let Some(target) = self.conversation.target.clone() else {
            self.notice = Some(("choose a model to ask first".into(), true));
            return None;
        };
        self.notice = None;
        self.pending = Some(String::new());
        let c = &self.conversation;
        Some(ChatAction::Ask(Box::new(Question { target, messages: c.messages(), settings: c.settings.clone() })))
    }

    /// Adds the typed message and asks for the answer.
    pub fn send(&mut self) -> Option<ChatAction> {
        let text = self.input.trim().to_string();
        if text.is_empty() || self.answering() {
            return None;
        }
        if self.conversation.target.is_none() {
            self.notice = Some(("choose a model to ask first".into(), true));
            return None;
        }
        self.conversation.turns.push(Turn::user(text));
        self.input.clear();
        self.question()
    }

    /// Draws the tab; `choices` are the models to pick from.
    pub fn ui(&mut self, ui: &mut egui::Ui, choices: &[Target]) -> Option<ChatAction> {
        let mut action = None;
        egui::Panel::left("chat-list").default_size(220.0).show(ui, |ui| self.list_ui(ui));
        egui::Panel::top("chat-settings").show(ui, |ui| self.settings_ui(ui, choices));
        egui::Panel::bottom("chat-input").show(ui, |ui| action = self.input_ui(ui).or(action.take()));
        egui::CentralPanel::default().show(ui, |ui| {
            egui::ScrollArea::vertical().stick_to_bottom(true).auto_shrink([false, false]).show(ui, |ui| {
                if let Some(a) = self.messages_ui(ui) {
                    action = Some(a);
                }
            });
        });
        if self.answering() {
            ui.ctx().request_repaint_after(std::time::Duration::from_millis(50));
            if ui.input(|i| i.key_pressed(egui::Key::Escape)) {
                action = Some(ChatAction::Stop);
            }
        }
        action
    }

    fn list_ui(&mut self, ui: &mut egui::Ui) {
        if ui.add_enabled(!self.answering(), egui::Button::new("New chat")).clicked() {
            let keep = Conversation {
                target: self.conversation.target.clone(),
                system: self.conversation.system.clone(),
                settings: self.conversation.settings.clone(),
                ..Default::default()
            };
            self.conversation = keep;
            self.path = None;
            self.editing = None;
        }
        ui.label(RichText::new(format!("Saved in {}", super::display_path(&self.dir))).weak().small());
        let mut open = None;
        egui::ScrollArea::vertical().show(ui, |ui| {
            for (path, title) in &self.saved {
                let current = self.path.as_ref() == Some(path);
                let title = if title.is_empty() { "(untitled)" } else { title.as_str() };
                if ui.add_enabled(!self.answering(), egui::Button::selectable(current, title)).clicked() {
                    open = Some(path.clone());
                }
            }
        });
        if let Some(p) = open {
            self.open(&p);
        }
    }

    fn settings_ui(&mut self, ui: &mut egui::Ui, choices: &[Target]) {
        ui.horizontal(|ui| {
            super::targets::combo(ui, "chat-target", "Model", &mut self.conversation.target, choices);
        });
        if let Some(Target::Local { model, adapter: Some(dir), name, .. }) = &self.conversation.target
            && let Ok(cfg) = engine::adapter::load_config(dir)
        {
            let cmd = engine::serve::vllm::command(model, name, dir, cfg.r);
            ui.horizontal(|ui| {
                ui.label("Serve with vLLM:");
                ui.code(&cmd);
                if ui.small_button("Copy command").clicked() {
                    ui.ctx().copy_text(cmd.clone());
                }
            });
        }
        egui::CollapsingHeader::new("System prompt and generation settings").id_salt("chat-gen").show(ui, |ui| {
            let l = ui.label("System prompt");
            ui.add(egui::TextEdit::multiline(&mut self.conversation.system).desired_rows(2).desired_width(f32::INFINITY).hint_text("none"))
                .labelled_by(l.id);
            settings_ui(ui, "chat", &mut self.conversation.settings);
        });
        if let Some((text, bad)) = &self.notice {
            let color = if *bad { Color32::from_rgb(220, 50, 50) } else { ui.visuals().weak_text_color() };
            ui.label(RichText::new(text).color(color));
        }
    }

    fn input_ui(&mut self, ui: &mut egui::Ui) -> Option<ChatAction> {
        let mut action = None;
        ui.horizontal(|ui| {
            let l = ui.label("Message");
            let edit = egui::TextEdit::multiline(&mut self.input)
                .desired_rows(2)
                .desired_width(ui.available_width() - 60.0)
                .hint_text("Ask something (Ctrl+Enter sends)");
            let response = ui.add(edit).labelled_by(l.id);
            let send_key = response.has_focus() && ui.input(|i| i.modifiers.command && i.key_pressed(egui::Key::Enter));
            if self.answering() {
                if ui.button("Stop").on_hover_text("stop the answer (Esc)").clicked() {
                    action = Some(ChatAction::Stop);
                }
            } else if ui.button("Send").clicked() || send_key {
                action = self.send();
            }
        });
        ui.horizontal(|ui| {
            let l = ui.label("Export to");
            ui.add(egui::TextEdit::singleline(&mut self.export_file).desired_width(320.0)).labelled_by(l.id);
            if ui.button("Export as training data").on_hover_text("append this conversation as one JSONL training line").clicked() {
                let file = PathBuf::from(self.export_file.trim());
                self.notice = Some(match self.conversation.export_training_line(&file) {
                    Ok(()) => (format!("appended to {}", super::display_path(&file)), false),
                    Err(e) => (e.to_string(), true),
                });
            }
        });
        action
    }

    fn messages_ui(&mut self, ui: &mut egui::Ui) -> Option<ChatAction> {
        let mut action = None;
        let last = self.conversation.turns.len().saturating_sub(1);
        let mut edit_done = None;
        let mut regenerate = false;
        let mut ask_again = false;
        for (i, turn) in self.conversation.turns.iter().enumerate() {
            let who = match (turn.role, &turn.answered_by) {
                (Role::User, _) => "You".to_string(),
                (_, Some(by)) => by.clone(),
                _ => "Assistant".to_string(),
            };
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    ui.strong(who);
                    if ui.small_button("Copy").clicked() {
                        ui.ctx().copy_text(turn.content.clone());
                    }
                    let idle = self.job.is_none() && self.editing.is_none();
                    if turn.role == Role::User && idle && ui.small_button("Edit").clicked() {
                        self.editing = Some((i, turn.content.clone()));
                    }
                    if turn.role == Role::Assistant && i == last && idle && ui.small_button("Regenerate").clicked() {
                        regenerate = true;
                    }
                    if turn.role == Role::User && i == last && idle && ui.small_button("Answer").clicked() {
                        ask_again = true;
                    }
                });
                match &mut self.editing {
                    Some((at, draft)) if *at == i => {
                        ui.add(egui::TextEdit::multiline(draft).desired_width(f32::INFINITY));
                        ui.horizontal(|ui| {
                            if ui.button("Send edited").clicked() {
                                edit_done = Some(Some(draft.clone()));
                            }
                            if ui.button("Cancel edit").clicked() {
                                edit_done = Some(None);
                            }
                        });
                    }
                    _ => {
                        CommonMarkViewer::new().show(ui, &mut self.markdown, &turn.content);
                    }
                }
                if let Some(stats) = &turn.stats {
                    ui.label(RichText::new(stats_line(stats)).weak().small());
                }
            });
        }
        if let Some(text) = &self.pending {
            egui::Frame::group(ui.style()).show(ui, |ui| {
                ui.set_width(ui.available_width());
                ui.horizontal(|ui| {
                    ui.strong(self.conversation.target.as_ref().map_or_else(|| "Assistant".into(), Target::label));
                    ui.spinner();
                });
                CommonMarkViewer::new().show(ui, &mut self.markdown, text);
            });
        }
        if regenerate {
            self.conversation.turns.pop();
        }
        if regenerate || ask_again {
            action = self.question();
        }
        match edit_done {
            Some(Some(text)) => {
                let (at, _) = self.editing.take().expect("editing");
                self.conversation.turns.truncate(at);
                self.conversation.turns.push(Turn::user(text));
                action = self.question();
            }
            Some(None) => self.editing = None,
            None => {}
        }
        if self.conversation.turns.is_empty() && self.pending.is_none() {
            ui.label(RichText::new("Pick a model, write a message and press Send.").weak());
        }
        action
    }
}

/// "first token 0.21 s · 38.5 tokens/s · 57 tokens · stop".
pub fn stats_line(s: &AnswerStats) -> String {
    let finish = match s.finish_reason {
        FinishReason::Stop => "finished",
        FinishReason::Length => "token limit",
        FinishReason::Cancelled => "stopped",
    };
    format!(
        "first token {:.2} s · {:.1} tokens/s · {} tokens · {:.1} s · {finish}",
        s.time_to_first_token_s, s.tokens_per_s, s.completion_tokens, s.elapsed_s
    )
}
