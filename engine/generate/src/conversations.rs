//! Saved chats: a conversation with the model it was held with, its system
//! prompt and generation settings, and how each answer went; kept as JSON
//! documents ([`workbench_core::documents`]) and exportable as a training line, so a
//! good answer becomes training data.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::conversation::{Message, Role};
use crate::error::{Error, Result};
use crate::generate::AnswerStats;
use crate::generate::target::{AnswerSettings, Target};

/// One message of a saved chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Turn {
    /// User or assistant.
    pub role: Role,
    /// What was said.
    pub content: String,
    /// Who answered (an assistant turn's target label).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_by: Option<String>,
    /// How the answer went (an assistant turn).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<AnswerStats>,
}

impl Turn {
    /// A user's message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into(), answered_by: None, stats: None }
    }
}

/// A chat as the chat pane holds and saves it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Conversation {
    /// Its title (the first question, unless renamed).
    pub title: String,
    /// The model it is held with.
    pub target: Option<Target>,
    /// The system prompt (none when empty).
    pub system: String,
    /// Generation settings.
    pub settings: AnswerSettings,
    /// The messages, user and assistant in turn.
    pub turns: Vec<Turn>,
}

impl Conversation {
    /// The messages as a model sees them: the system prompt first when set.
    pub fn messages(&self) -> Vec<Message> {
        let system = (!self.system.trim().is_empty()).then(|| Message { role: Role::System, content: self.system.clone() });
        system.into_iter().chain(self.turns.iter().map(|t| Message { role: t.role, content: t.content.clone() })).collect()
    }

    /// A title from the first user message (its first 60 characters).
    pub fn default_title(&self) -> String {
        let first = self.turns.iter().find(|t| t.role == Role::User).map_or("", |t| t.content.as_str());
        let line = first.lines().next().unwrap_or("").trim();
        if line.chars().count() > 60 { format!("{}...", line.chars().take(60).collect::<String>()) } else { line.to_string() }
    }

    /// The conversation as one line of a training file (`{"messages": [...]}`,
    /// the workbench's and LLaMA-Factory's format); it must end with an answer.
    pub fn training_line(&self) -> Result<String> {
        match self.turns.last() {
            Some(t) if t.role == Role::Assistant && !t.content.trim().is_empty() => {}
            _ => return Err(Error::Other("only a conversation that ends with an answer can become training data".into())),
        }
        Ok(serde_json::json!({ "messages": self.messages() }).to_string())
    }

    /// Appends [`Self::training_line`] to the JSONL file `path` (fsynced).
    pub fn export_training_line(&self, path: &Path) -> Result<()> {
        crate::atomic::append_line(path, &self.training_line()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::conversation::{Record, parse_line};

    fn chat() -> Conversation {
        let mut answer = Turn::user("Open Settings, then VPN.");
        answer.role = Role::Assistant;
        Conversation {
            title: String::new(),
            target: Some(Target::base(Path::new("/m/smollm2"), "model")),
            system: "You are the help desk.".into(),
            settings: AnswerSettings::default(),
            turns: vec![Turn::user("How do I reset my VPN password?\nThanks"), answer],
        }
    }

    #[test]
    fn a_conversation_becomes_a_training_line_the_data_reader_accepts() {
        let c = chat();
        assert_eq!(c.default_title(), "How do I reset my VPN password?");
        let line = c.training_line().unwrap();
        let Record::Chat(messages) = parse_line(&line).unwrap() else { panic!("not a chat: {line}") };
        assert_eq!(messages, c.messages());
        assert_eq!(messages[0].role, Role::System);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("more.jsonl");
        c.export_training_line(&file).unwrap();
        c.export_training_line(&file).unwrap();
        assert_eq!(crate::data::conversation::read_jsonl(&file, false).unwrap().records.len(), 2);
    }

    #[test]
    fn an_unanswered_conversation_is_refused_and_a_saved_one_reads_back() {
        let mut c = chat();
        c.turns.pop();
        assert!(c.training_line().unwrap_err().to_string().contains("ends with an answer"));
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(workbench_core::documents::new_name("vpn"));
        workbench_core::documents::save(&path, &c).unwrap();
        assert_eq!(workbench_core::documents::load::<Conversation>(&path).unwrap(), c);
    }
}
