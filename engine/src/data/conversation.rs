//! JSONL conversation records in the common formats:
//! `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}`,
//! `{"prompt": ..., "completion": ...}` and plain `{"text": ...}` (all
//! tokens trained; used for pretraining).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Instructions that precede the conversation.
    System,
    /// The person asking.
    User,
    /// The model's reply (the trained part).
    Assistant,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::System => "system",
            Role::User => "user",
            Role::Assistant => "assistant",
        })
    }
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

/// One line of a data file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A conversation: optional system message, then alternating user and
    /// assistant messages, ending with the assistant.
    Chat(Vec<Message>),
    /// Free text, trained on every token.
    Text(String),
}

/// The records of a file and the lines that were skipped.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Parsed records in file order.
    pub records: Vec<Record>,
    /// `(line number, problem)` of each skipped line; line numbers are the
    /// file's own (blank lines counted).
    pub skipped: Vec<(usize, String)>,
    /// Non-blank lines in the file (records plus skipped lines).
    pub lines: usize,
}

/// Reads a JSONL file; a UTF-8 byte-order mark at its start (as Windows
/// tools write) is ignored. Malformed lines fail the read with one error
/// that names every one of them (file, line, problem), unless
/// `skip_bad_lines`, which records them in [`LoadReport::skipped`] instead.
pub fn read_jsonl(path: &Path, skip_bad_lines: bool) -> Result<LoadReport> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut report = LoadReport::default();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        report.lines += 1;
        match parse_line(line) {
            Ok(r) => report.records.push(r),
            Err(message) => report.skipped.push((i + 1, message)),
        }
    }
    if !skip_bad_lines && !report.skipped.is_empty() {
        return Err(Error::DataLines { path: path.into(), lines: report.lines, bad: report.skipped });
    }
    if report.records.is_empty() {
        return Err(Error::File { path: path.into(), message: "no usable records in this file".into() });
    }
    Ok(report)
}

/// Parses one JSONL line into a record, or says what is wrong with it.
pub fn parse_line(line: &str) -> std::result::Result<Record, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("expected a JSON object")?;
    if let Some(messages) = obj.get("messages") {
        let messages: Vec<Message> = serde_json::from_value(messages.clone()).map_err(|e| {
            format!("\"messages\" must be a list of {{\"role\", \"content\"}} objects with role system, user or assistant: {e}")
        })?;
        check_turns(&messages)?;
        return Ok(Record::Chat(messages));
    }
    if let (Some(p), Some(c)) = (obj.get("prompt"), obj.get("completion")) {
        let (Some(p), Some(c)) = (p.as_str(), c.as_str()) else {
            return Err("\"prompt\" and \"completion\" must be strings".into());
        };
        return Ok(Record::Chat(vec![
            Message { role: Role::User, content: p.into() },
            Message { role: Role::Assistant, content: c.into() },
        ]));
    }
    if let Some(t) = obj.get("text") {
        return t.as_str().map(|t| Record::Text(t.into())).ok_or_else(|| "\"text\" must be a string".into());
    }
    Err("expected a \"messages\" list, \"prompt\" and \"completion\", or \"text\"".into())
}

fn check_turns(messages: &[Message]) -> std::result::Result<(), String> {
    let turns = match messages.first() {
        Some(m) if m.role == Role::System => &messages[1..],
        _ => messages,
    };
    if turns.is_empty() {
        return Err("conversation has no user or assistant messages".into());
    }
    for (i, m) in turns.iter().enumerate() {
        let want = if i % 2 == 0 { Role::User } else { Role::Assistant };
        if m.role != want {
            return Err(format!(
                "message {} has role {}; after an optional system message, roles must alternate user, assistant, user, ...",
                i + 1,
                m.role
            ));
        }
    }
    if turns.len() % 2 != 0 {
        return Err("conversation must end with an assistant message".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_all_three_formats() {
        assert!(
            matches!(parse_line(r#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#), Ok(Record::Chat(m)) if m.len() == 2)
        );
        assert!(matches!(parse_line(r#"{"prompt":"a","completion":"b"}"#), Ok(Record::Chat(m)) if m.len() == 2));
        assert_eq!(parse_line(r#"{"text":"hello"}"#), Ok(Record::Text("hello".into())));
    }

    #[test]
    fn rejects_wrong_turn_order_and_roles() {
        assert!(parse_line(r#"{"messages":[{"role":"assistant","content":"b"}]}"#).unwrap_err().contains("alternate"));
        assert!(parse_line(r#"{"messages":[{"role":"user","content":"a"}]}"#).unwrap_err().contains("end with an assistant"));
        assert!(parse_line(r#"{"messages":[{"role":"bot","content":"a"}]}"#).is_err());
        assert!(parse_line("{not json").unwrap_err().contains("invalid JSON"));
    }

    #[test]
    fn bad_line_error_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("d.jsonl");
        std::fs::write(&p, "{\"text\":\"ok\"}\n\n{\"oops\":1}\n").unwrap();
        let err = read_jsonl(&p, false).unwrap_err().to_string();
        assert!(err.contains("d.jsonl:3:"), "{err}");
        let report = read_jsonl(&p, true).unwrap();
        assert_eq!(report.records.len(), 1);
        assert_eq!(report.skipped.len(), 1);
        assert_eq!(report.skipped[0].0, 3);
    }

    #[test]
    fn a_byte_order_mark_is_accepted() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bom.jsonl");
        std::fs::write(&p, "\u{feff}{\"text\":\"first\"}\n{\"text\":\"second\"}\n").unwrap();
        let report = read_jsonl(&p, false).unwrap();
        assert_eq!(report.records, vec![Record::Text("first".into()), Record::Text("second".into())]);
    }

    #[test]
    fn every_bad_line_is_named_with_the_files_own_numbers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("many.jsonl");
        // 20 non-blank lines, 6 of them bad, and blank lines that still count for numbering.
        let mut text = String::new();
        let bad_at = [2, 5, 9, 13, 17, 20];
        for i in 1..=20 {
            text += if bad_at.contains(&i) { "{broken\n" } else { "{\"text\":\"ok\"}\n" };
            if i == 4 {
                text += "\n";
            }
        }
        std::fs::write(&p, &text).unwrap();
        let err = read_jsonl(&p, false).unwrap_err().to_string();
        assert!(err.contains("6 of 20 lines are malformed"), "{err}");
        for line in [2, 6, 10, 14, 18, 21] {
            assert!(err.contains(&format!("many.jsonl:{line}: invalid JSON")), "line {line} missing from {err}");
        }
        let report = read_jsonl(&p, true).unwrap();
        assert_eq!((report.records.len(), report.lines), (14, 20));
        assert_eq!(report.skipped.iter().map(|s| s.0).collect::<Vec<_>>(), vec![2, 6, 10, 14, 18, 21]);
    }

    #[test]
    fn a_long_list_of_bad_lines_shows_the_first_fifty_and_a_count() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bad.jsonl");
        std::fs::write(&p, "{\"text\":\"ok\"}\n".to_string() + &"nope\n".repeat(70)).unwrap();
        let err = read_jsonl(&p, false).unwrap_err().to_string();
        assert!(err.contains("70 of 71 lines are malformed"), "{err}");
        assert!(err.contains("bad.jsonl:51:") && !err.contains("bad.jsonl:52:"), "{err}");
        assert!(err.contains("... and 20 more"), "{err}");
    }
}
