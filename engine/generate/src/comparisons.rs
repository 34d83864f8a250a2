//! Side-by-side comparisons: two or more targets answering the same prompts,
//! kept with their settings as a JSON document ([`workbench_core::documents`]) so a
//! later human evaluation can reuse the answers; and the prompt lists they
//! step through (a held-out split or any JSONL data file).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::data::conversation::{Message, Record, Role};
use crate::error::{Error, Result};
use crate::generate::target::{Answer, AnswerSettings, Target};

/// A prompt to compare answers on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prompt {
    /// The conversation up to the question (system message first if any), ending with the user's.
    pub messages: Vec<Message>,
    /// The answer the data file gives, if it came from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

impl Prompt {
    /// A single question.
    pub fn question(text: &str) -> Self {
        Self { messages: vec![Message { role: Role::User, content: text.to_string() }], reference: None }
    }

    /// The question itself (the last user message).
    pub fn question_text(&self) -> &str {
        self.messages.iter().rev().find(|m| m.role == Role::User).map_or("", |m| m.content.as_str())
    }
}

/// The prompts of a JSONL data file: each conversation up to its last
/// answer, which becomes the reference; plain-text lines are skipped.
pub fn prompts_from_file(path: &Path) -> Result<Vec<Prompt>> {
    let report = crate::data::conversation::read_jsonl(path, false)?;
    let prompts: Vec<Prompt> = report
        .records
        .into_iter()
        .filter_map(|r| match r {
            Record::Chat(mut messages) => {
                let reference = messages.pop().filter(|m| m.role == Role::Assistant).map(|m| m.content)?;
                Some(Prompt { messages, reference: Some(reference) })
            }
            Record::Text(_) => None,
        })
        .collect();
    if prompts.is_empty() {
        return Err(Error::File { path: path.into(), message: "no conversations in this file to take prompts from".into() });
    }
    Ok(prompts)
}

/// One prompt's answers, one per target (none where it was not asked or failed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    /// The prompt.
    pub prompt: Prompt,
    /// `answers[i]` is `targets[i]`'s.
    pub answers: Vec<Option<Answer>>,
}

/// A saved comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Comparison {
    /// Its title.
    pub title: String,
    /// The models compared, in column order.
    pub targets: Vec<Target>,
    /// The system prompt given to every target (none when empty).
    pub system: String,
    /// The generation settings every target used.
    pub settings: AnswerSettings,
    /// The prompts answered so far.
    pub items: Vec<Compared>,
}

impl Comparison {
    /// Records `answers` to `prompt`, replacing an earlier record of the same prompt.
    pub fn record(&mut self, prompt: &Prompt, answers: Vec<Option<Answer>>) {
        match self.items.iter_mut().find(|c| &c.prompt == prompt) {
            Some(c) => c.answers = answers,
            None => self.items.push(Compared { prompt: prompt.clone(), answers }),
        }
    }

    /// The messages `prompt` is asked with: the comparison's system prompt
    /// first unless the prompt has its own.
    pub fn messages_for(&self, prompt: &Prompt) -> Vec<Message> {
        let has_system = prompt.messages.first().is_some_and(|m| m.role == Role::System);
        let system = (!has_system && !self.system.trim().is_empty()).then(|| Message { role: Role::System, content: self.system.clone() });
        system.into_iter().chain(prompt.messages.iter().cloned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::answer;

    #[test]
    fn prompts_come_from_a_data_file_with_their_reference_answers() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("test.jsonl");
        std::fs::write(
            &file,
            "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},{\"role\":\"user\",\"content\":\"Q1\"},{\"role\":\"assistant\",\"content\":\"A1\"}]}\n\
             {\"text\":\"free text\"}\n{\"prompt\":\"Q2\",\"completion\":\"A2\"}\n",
        )
        .unwrap();
        let prompts = prompts_from_file(&file).unwrap();
        assert_eq!(prompts.len(), 2);
        assert_eq!((prompts[0].question_text(), prompts[0].reference.as_deref(), prompts[0].messages.len()), ("Q1", Some("A1"), 2));
        assert_eq!((prompts[1].question_text(), prompts[1].reference.as_deref()), ("Q2", Some("A2")));
        std::fs::write(&file, "{\"text\":\"only text\"}\n").unwrap();
        assert!(prompts_from_file(&file).unwrap_err().to_string().contains("no conversations"));
    }

    #[test]
    fn answers_are_recorded_once_per_prompt_and_the_system_prompt_added_when_missing() {
        let mut c = Comparison { system: "Be brief.".into(), ..Default::default() };
        let q = Prompt::question("Q");
        c.record(&q, vec![Some(answer("a")), None]);
        c.record(&q, vec![Some(answer("b")), Some(answer("c"))]);
        assert_eq!(c.items.len(), 1);
        assert_eq!(c.items[0].answers[1].as_ref().unwrap().text, "c");
        let m = c.messages_for(&q);
        assert_eq!((m[0].role, m[1].content.as_str()), (Role::System, "Q"));
        let own = Prompt { messages: vec![Message { role: Role::System, content: "Own".into() }, q.messages[0].clone()], reference: None };
        assert_eq!(c.messages_for(&own)[0].content, "Own");
    }
}
