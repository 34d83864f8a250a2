//! JSONL conversation records in the common formats, detected per line:
//! `{"messages": [{"role": "system"|"user"|"assistant", "content": ...}]}`
//! (OpenAI), ShareGPT's `{"conversations": [{"from": "human"|"gpt"|"system",
//! "value": ...}]}`, Alpaca's `{"instruction", "input", "output"}` (with
//! LLaMA-Factory's optional `system` and `history`), `{"prompt": ...,
//! "completion": ...}` and plain `{"text": ...}` (all tokens trained; used
//! for pretraining).

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
    if let Some(turns) = obj.get("conversations") {
        return sharegpt(turns, obj.get("system")).map(Record::Chat);
    }
    if obj.contains_key("instruction") {
        return alpaca(obj).map(Record::Chat);
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
    Err("expected \"messages\" (OpenAI), \"conversations\" (ShareGPT), \"instruction\" and \"output\" (Alpaca), \
         \"prompt\" and \"completion\", or \"text\""
        .into())
}

/// A ShareGPT conversation: `[{"from": "system"|"human"|"gpt", "value": ...}]`
/// (`user` and `assistant` are accepted for `from` too), with an optional
/// top-level `system` string.
fn sharegpt(turns: &Value, system: Option<&Value>) -> std::result::Result<Vec<Message>, String> {
    let turns = turns.as_array().ok_or("\"conversations\" must be a list of {\"from\", \"value\"} objects")?;
    let mut messages = Vec::with_capacity(turns.len() + 1);
    if let Some(system) = system {
        let system = system.as_str().ok_or("\"system\" must be a string")?;
        messages.push(Message { role: Role::System, content: system.into() });
    }
    for (i, t) in turns.iter().enumerate() {
        let field = |key: &str| t.get(key).and_then(Value::as_str).ok_or_else(|| format!("conversations[{i}] needs a string \"{key}\""));
        let role = match field("from")? {
            "system" => Role::System,
            "human" | "user" => Role::User,
            "gpt" | "assistant" => Role::Assistant,
            other => {
                return Err(format!("conversations[{i}] is from {other:?}; ShareGPT turns must be from system, human or gpt"));
            }
        };
        messages.push(Message { role, content: field("value")?.into() });
    }
    check_turns(&messages)?;
    Ok(messages)
}

/// An Alpaca record: `instruction` and optional `input` (joined by a newline)
/// as the user's message, `output` as the reply; LLaMA-Factory's optional
/// `system` string and `history` of `[question, answer]` pairs before it.
fn alpaca(obj: &serde_json::Map<String, Value>) -> std::result::Result<Vec<Message>, String> {
    let text = |key: &str, required: bool| match obj.get(key) {
        Some(Value::String(s)) => Ok(Some(s.clone())),
        None | Some(Value::Null) if !required => Ok(None),
        None => Err(format!("an Alpaca record (it has \"instruction\") needs \"{key}\"")),
        Some(_) => Err(format!("\"{key}\" must be a string")),
    };
    let mut messages = Vec::new();
    if let Some(system) = text("system", false)?.filter(|s| !s.is_empty()) {
        messages.push(Message { role: Role::System, content: system });
    }
    for (i, pair) in obj.get("history").and_then(Value::as_array).into_iter().flatten().enumerate() {
        match pair.as_array().map(|p| p.as_slice()) {
            Some([Value::String(q), Value::String(a)]) => {
                messages.push(Message { role: Role::User, content: q.clone() });
                messages.push(Message { role: Role::Assistant, content: a.clone() });
            }
            _ => return Err(format!("history[{i}] must be a [question, answer] pair of strings")),
        }
    }
    let instruction = text("instruction", true)?.unwrap_or_default();
    let prompt = match text("input", false)?.filter(|s| !s.is_empty()) {
        Some(input) => format!("{instruction}\n{input}"),
        None => instruction,
    };
    messages.push(Message { role: Role::User, content: prompt });
    messages.push(Message { role: Role::Assistant, content: text("output", true)?.unwrap_or_default() });
    Ok(messages)
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
    fn reads_openai_prompt_completion_and_text() {
        assert!(
            matches!(parse_line(r#"{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}"#), Ok(Record::Chat(m)) if m.len() == 2)
        );
        assert!(matches!(parse_line(r#"{"prompt":"a","completion":"b"}"#), Ok(Record::Chat(m)) if m.len() == 2));
        assert_eq!(parse_line(r#"{"text":"hello"}"#), Ok(Record::Text("hello".into())));
    }

    fn chat(line: &str) -> Vec<(Role, String)> {
        match parse_line(line) {
            Ok(Record::Chat(m)) => m.into_iter().map(|m| (m.role, m.content)).collect(),
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn reads_sharegpt_with_its_roles_and_a_top_level_system() {
        let line = r#"{"system":"Be brief.","conversations":[{"from":"human","value":"Hi"},{"from":"gpt","value":"Hello"},
            {"from":"human","value":"VPN?"},{"from":"gpt","value":"Reset it."}]}"#;
        let want = [
            (Role::System, "Be brief."),
            (Role::User, "Hi"),
            (Role::Assistant, "Hello"),
            (Role::User, "VPN?"),
            (Role::Assistant, "Reset it."),
        ];
        assert_eq!(chat(&line.replace('\n', "")), want.map(|(r, c)| (r, c.to_string())));
        let err = parse_line(r#"{"conversations":[{"from":"tool","value":"x"}]}"#).unwrap_err();
        assert!(err.contains("conversations[0]") && err.contains("\"tool\""), "{err}");
        let err = parse_line(r#"{"conversations":[{"from":"human"}]}"#).unwrap_err();
        assert!(err.contains("conversations[0] needs a string \"value\""), "{err}");
        assert!(parse_line(r#"{"conversations":[{"from":"human","value":"a"}]}"#).unwrap_err().contains("end with an assistant"));
    }

    #[test]
    fn reads_alpaca_with_input_system_and_history() {
        assert_eq!(
            chat(r#"{"instruction":"Summarise","input":"The VPN is down.","output":"VPN outage."}"#),
            [(Role::User, "Summarise\nThe VPN is down.".to_string()), (Role::Assistant, "VPN outage.".to_string())]
        );
        let full = chat(
            r#"{"system":"IT desk","instruction":"And now?","input":"","output":"Reboot.","history":[["Printer jam?","Open tray B."]]}"#,
        );
        let roles: Vec<Role> = full.iter().map(|(r, _)| *r).collect();
        assert_eq!(roles, [Role::System, Role::User, Role::Assistant, Role::User, Role::Assistant]);
        assert_eq!(full[3].1, "And now?");
        assert!(parse_line(r#"{"instruction":"x"}"#).unwrap_err().contains("needs \"output\""));
        assert!(parse_line(r#"{"instruction":"x","output":3}"#).unwrap_err().contains("\"output\" must be a string"));
        assert!(parse_line(r#"{"instruction":"x","output":"y","history":[["only one"]]}"#).unwrap_err().contains("history[0]"));
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
