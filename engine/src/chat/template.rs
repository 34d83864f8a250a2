//! The Mistral chat template, `<s>[INST] user [/INST] assistant</s>[INST] ...`,
//! with a system message prepended to the first user message, and its
//! tokenisation into ids plus a per-token "trained" flag (the loss mask).
//!
//! Each segment (prompt, reply) is tokenised on its own and the pieces are
//! concatenated, so the boundary between prompt and reply is exact.

use tokenizers::Tokenizer;

use crate::config::TrainOn;
use crate::data::conversation::{Message, Record, Role};
use crate::error::{Error, Result};

/// Beginning of sequence.
pub const BOS: &str = "<s>";
/// End of sequence.
pub const EOS: &str = "</s>";

/// A tokenised record: `ids[i]` and whether the model is trained to predict it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids, starting with BOS.
    pub ids: Vec<u32>,
    /// `trained[i]`: token i is a prediction target (carries loss).
    pub trained: Vec<bool>,
}

/// A piece of rendered text and whether it is trained.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Text of the piece, with the template's tags.
    pub text: String,
    /// Whether the model learns to produce it.
    pub trained: bool,
    /// Whether it is a reply (or free text), which EOS follows.
    pub reply: bool,
}

/// The template's segments of a record, special tokens excluded. A reply's
/// segment is followed by EOS, which is trained too.
pub fn segments(record: &Record, train_on: TrainOn) -> Vec<Segment> {
    let all = train_on == TrainOn::All;
    match record {
        Record::Text(t) => vec![Segment { text: t.clone(), trained: true, reply: true }],
        Record::Chat(messages) => {
            let (system, turns) = split_system(messages);
            turns
                .chunks(2)
                .enumerate()
                .flat_map(|(i, pair)| {
                    let user = match (i, system) {
                        (0, Some(sys)) => format!("{sys}\n\n{}", pair[0].content),
                        _ => pair[0].content.clone(),
                    };
                    let mut out = vec![Segment { text: format!("[INST] {user} [/INST]"), trained: all, reply: false }];
                    if let Some(reply) = pair.get(1) {
                        out.push(Segment { text: format!(" {}", reply.content), trained: true, reply: true });
                    }
                    out
                })
                .collect()
        }
    }
}

fn split_system(messages: &[Message]) -> (Option<&str>, &[Message]) {
    match messages.first() {
        Some(m) if m.role == Role::System => (Some(m.content.as_str()), &messages[1..]),
        _ => (None, messages),
    }
}

/// The full prompt text as the model sees it, for previews: `<s>[INST] ... [/INST] reply</s>...`.
pub fn render(record: &Record) -> String {
    render_segments(&segments(record, TrainOn::Assistant))
}

/// The text of template segments with BOS and each reply's EOS.
pub fn render_segments(segments: &[Segment]) -> String {
    let mut out = String::from(BOS);
    for s in segments {
        out.push_str(&s.text);
        if s.reply {
            out.push_str(EOS);
        }
    }
    out
}

/// Tokenises a record with the template. Every trained segment ends with EOS.
pub fn encode(tok: &Tokenizer, record: &Record, train_on: TrainOn) -> Result<Encoded> {
    let bos = crate::model::tokenizer::special_id(tok, BOS)?;
    let eos = crate::model::tokenizer::special_id(tok, EOS)?;
    let mut enc = Encoded { ids: vec![bos], trained: vec![false] };
    for seg in segments(record, train_on) {
        let ids = tok.encode(seg.text.as_str(), false).map_err(|e| Error::Other(format!("tokenizer: {e}")))?;
        enc.ids.extend_from_slice(ids.get_ids());
        enc.trained.extend(std::iter::repeat_n(seg.trained, ids.len()));
        if seg.reply {
            enc.ids.push(eos);
            enc.trained.push(true);
        }
    }
    Ok(enc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::conversation::parse_line;

    #[test]
    fn renders_mistral_multi_turn_with_system() {
        let r = parse_line(r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Bye"},{"role":"assistant","content":"Ciao"}]}"#).unwrap();
        assert_eq!(render(&r), "<s>[INST] Be brief.\n\nHi [/INST] Hello</s>[INST] Bye [/INST] Ciao</s>");
    }

    #[test]
    fn train_on_all_marks_prompts_trained() {
        let r = parse_line(r#"{"prompt":"a","completion":"b"}"#).unwrap();
        assert!(segments(&r, TrainOn::All).iter().all(|s| s.trained));
        assert_eq!(segments(&r, TrainOn::Assistant).iter().filter(|s| s.trained).count(), 1);
    }
}
