//! The chat template that turns a conversation into the model's text, cut
//! into segments that are trained (the assistant's replies with their
//! end-of-turn) or not (everything else), and tokenised into ids plus a
//! per-token "trained" flag (the loss mask).
//!
//! Two kinds: a Hugging Face template (Jinja, [`super::jinja`]): the model's
//! own, or, for a model directory without one (a base model's GGUF file), its
//! family's chat format (Gemma's turns; `arch::ChatFormat`); and the built-in
//! Mistral template, `<s>[INST] user [/INST] assistant</s>...` with a system
//! message prepended to the first user message, the fallback for the other
//! families. `data.chat_template` chooses: `"model"`, `"mistral"` or a Jinja
//! file.
//!
//! The assistant spans of a Jinja template are found by rendering, not by
//! knowing its tags: for each assistant message `i`, the conversation up to
//! `i` with the generation prompt is the untrained prefix, and what rendering
//! message `i` as well adds to it is the trained reply (ChatML's
//! `reply<|im_end|>\n`, Llama 3's `reply<|eot_id|>`, Mistral's `reply</s>`).
//!
//! Each segment is tokenised on its own and the pieces are concatenated, so
//! the boundary between prompt and reply is exact.

use std::path::{Path, PathBuf};

use tokenizers::Tokenizer;

use super::jinja::JinjaTemplate;
use crate::config::TrainOn;
use crate::data::conversation::{Message, Record, Role};
use crate::error::{Error, Result};
use crate::model::arch::ChatFormat;

/// Beginning of sequence of the built-in Mistral template.
pub const BOS: &str = "<s>";
/// End of sequence of the built-in Mistral template.
pub const EOS: &str = "</s>";

/// A tokenised record: `ids[i]` and whether the model is trained to predict it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids.
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
    /// Whether it is one special token given by its text (`<s>`, `</s>`),
    /// looked up as such rather than tokenised.
    pub special: bool,
}

impl Segment {
    fn text(text: impl Into<String>, trained: bool) -> Self {
        Self { text: text.into(), trained, special: false }
    }

    fn special(text: &str, trained: bool) -> Self {
        Self { text: text.into(), trained, special: true }
    }
}

/// How conversations are rendered for a model.
#[derive(Debug, Clone)]
pub enum ChatTemplate {
    /// The built-in Mistral template.
    Mistral,
    /// A Hugging Face Jinja template.
    Jinja(Box<JinjaTemplate>),
}

impl ChatTemplate {
    /// The template `choice` names for the model in `model_dir`: `"model"` (its
    /// `chat_template`, else its family's chat format, else the built-in
    /// Mistral one), `"mistral"`, or the path of a Jinja file (with the
    /// model's special tokens).
    pub fn resolve(choice: &str, model_dir: &Path) -> Result<Self> {
        if choice == "mistral" {
            return Ok(Self::Mistral);
        }
        let tokens = SpecialTokens::read(model_dir)?;
        let (source, origin, file) = match choice {
            "model" => match tokens.template {
                Some((source, origin)) => {
                    let file = model_dir.join(&origin);
                    (source, origin, file)
                }
                // The family's format is looked up only for a model without a template of its own.
                None => match family_format(model_dir) {
                    Some((family, format)) => {
                        (format.template.to_string(), format!("built in for {family}"), model_dir.join("config.json"))
                    }
                    None => return Ok(Self::Mistral),
                },
            },
            file => {
                let path = PathBuf::from(file);
                let source = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                (source, path.display().to_string(), path)
            }
        };
        let template =
            JinjaTemplate::new(&source, &origin, &tokens.bos, &tokens.eos).map_err(|m| Error::File { path: file, message: m })?;
        Ok(Self::Jinja(Box::new(template)))
    }

    /// What the template is, for the views ("the model's (tokenizer_config.json)", "Mistral (built in)").
    pub fn describe(&self) -> String {
        match self {
            Self::Mistral => "Mistral (built in)".into(),
            Self::Jinja(j) => format!("the model's ({})", j.origin),
        }
    }

    /// The template's segments of a record; all are trained with [`TrainOn::All`].
    pub fn segments(&self, record: &Record, train_on: TrainOn) -> Result<Vec<Segment>> {
        let mut out = match (self, record) {
            (Self::Mistral, Record::Text(t)) => vec![Segment::special(BOS, false), Segment::text(t, true), Segment::special(EOS, true)],
            (Self::Mistral, Record::Chat(messages)) => mistral_segments(messages),
            (Self::Jinja(j), Record::Text(t)) => {
                vec![Segment::text(j.bos.clone(), false), Segment::text(t, true), Segment::text(j.eos.clone(), true)]
            }
            (Self::Jinja(j), Record::Chat(messages)) => jinja_segments(j, messages)?,
        };
        out.retain(|s| !s.text.is_empty());
        if train_on == TrainOn::All {
            out.iter_mut().for_each(|s| s.trained = true);
        }
        Ok(out)
    }

    /// The record's full text as the model sees it (for previews).
    pub fn render(&self, record: &Record) -> Result<String> {
        Ok(render_segments(&self.segments(record, TrainOn::Assistant)?))
    }
}

/// The chat format of the family of the model in `model_dir`, with the
/// family's `model_type`, where the family has one (an unreadable config has none).
fn family_format(model_dir: &Path) -> Option<(&'static str, &'static ChatFormat)> {
    let family = crate::model::ModelConfig::load(model_dir).ok()?.family();
    family.chat_format.as_ref().map(|f| (family.model_type, f))
}

/// The model's own Jinja chat template (`tokenizer_config.json`'s
/// `chat_template`, else `chat_template.jinja`), if it has one.
pub fn model_template_source(model_dir: &Path) -> Result<Option<String>> {
    Ok(SpecialTokens::read(model_dir)?.template.map(|(source, _)| source))
}

/// The special tokens and chat template of a model directory
/// (`tokenizer_config.json`, `chat_template.jinja`).
struct SpecialTokens {
    bos: String,
    eos: String,
    /// The template's source and where it came from.
    template: Option<(String, String)>,
}

impl SpecialTokens {
    fn read(model_dir: &Path) -> Result<Self> {
        let path = model_dir.join("tokenizer_config.json");
        let config: serde_json::Value = match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("invalid JSON: {e}")))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
            Err(e) => return Err(Error::io(&path, e)),
        };
        // A token is a string or an AddedToken object with its text in "content".
        let token = |key: &str| match &config[key] {
            serde_json::Value::String(s) => s.clone(),
            v => v["content"].as_str().unwrap_or_default().to_string(),
        };
        let jinja = model_dir.join("chat_template.jinja");
        let template = match &config["chat_template"] {
            serde_json::Value::String(s) => Some((s.clone(), "tokenizer_config.json".to_string())),
            // Several named templates: the one called "default".
            serde_json::Value::Array(named) => named
                .iter()
                .find(|t| t["name"] == "default")
                .and_then(|t| t["template"].as_str())
                .map(|s| (s.to_string(), "tokenizer_config.json".to_string())),
            _ if jinja.is_file() => {
                Some((std::fs::read_to_string(&jinja).map_err(|e| Error::io(&jinja, e))?, "chat_template.jinja".into()))
            }
            _ => None,
        };
        Ok(Self { bos: token("bos_token"), eos: token("eos_token"), template })
    }
}

/// The built-in Mistral template's segments of a conversation.
fn mistral_segments(messages: &[Message]) -> Vec<Segment> {
    let (system, turns) = match messages.first() {
        Some(m) if m.role == Role::System => (Some(m.content.as_str()), &messages[1..]),
        _ => (None, messages),
    };
    let mut out = vec![Segment::special(BOS, false)];
    for (i, pair) in turns.chunks(2).enumerate() {
        let user = match (i, system) {
            (0, Some(sys)) => format!("{sys}\n\n{}", pair[0].content),
            _ => pair[0].content.clone(),
        };
        out.push(Segment::text(format!("[INST] {user} [/INST]"), false));
        if let Some(reply) = pair.get(1) {
            out.push(Segment::text(format!(" {}", reply.content), true));
            out.push(Segment::special(EOS, true));
        }
    }
    out
}

/// A Jinja template's segments, found by rendering the conversation up to
/// each assistant message with and without it.
fn jinja_segments(j: &JinjaTemplate, messages: &[Message]) -> Result<Vec<Segment>> {
    let render = |upto: usize, prompt: bool| j.render(&messages[..upto], prompt).map_err(Error::Other);
    let not_incremental = || {
        Error::Other(format!(
            "the chat template of {} does not render a conversation as its earlier turns followed by the next one, \
             so the assistant's replies cannot be found; set data.chat_template = \"mistral\" or to a template file that does",
            j.origin
        ))
    };
    let mut out = Vec::new();
    let mut done = String::new();
    for (i, _) in messages.iter().enumerate().filter(|(_, m)| m.role == Role::Assistant) {
        let prompt = render(i, true)?;
        let with_reply = render(i + 1, false)?;
        let (Some(context), Some(reply)) = (prompt.strip_prefix(done.as_str()), with_reply.strip_prefix(prompt.as_str())) else {
            return Err(not_incremental());
        };
        out.push(Segment::text(context, false));
        out.push(Segment::text(reply, true));
        done = with_reply;
    }
    let all = render(messages.len(), false)?;
    out.push(Segment::text(all.strip_prefix(done.as_str()).ok_or_else(not_incremental)?, false));
    Ok(out)
}

/// The text of template segments.
pub fn render_segments(segments: &[Segment]) -> String {
    segments.iter().map(|s| s.text.as_str()).collect()
}

/// The segments of a generation prompt: `messages`, which end with the
/// user's, then the assistant's opening (Jinja's `add_generation_prompt`; the
/// Mistral template's `[/INST]`).
pub fn prompt_segments(template: &ChatTemplate, messages: &[Message]) -> Result<Vec<Segment>> {
    match messages.last() {
        Some(m) if m.role == Role::User => {}
        _ => return Err(Error::Other("a generation prompt must end with a user message".into())),
    }
    Ok(match template {
        ChatTemplate::Mistral => mistral_segments(messages),
        ChatTemplate::Jinja(j) => vec![Segment::text(j.render(messages, true).map_err(Error::Other)?, false)],
    })
}

/// The token ids of a generation prompt ([`prompt_segments`]).
pub fn encode_prompt(tok: &Tokenizer, template: &ChatTemplate, messages: &[Message]) -> Result<Vec<u32>> {
    tokenize_segments(tok, &prompt_segments(template, messages)?).map(|e| e.ids)
}

/// Tokenises a record with `template`; special-token segments become their ids.
pub fn encode(tok: &Tokenizer, template: &ChatTemplate, record: &Record, train_on: TrainOn) -> Result<Encoded> {
    tokenize_segments(tok, &template.segments(record, train_on)?)
}

/// Token ids of segments, each marked trained or not.
fn tokenize_segments(tok: &Tokenizer, segments: &[Segment]) -> Result<Encoded> {
    let mut enc = Encoded { ids: Vec::new(), trained: Vec::new() };
    for seg in segments {
        let ids = if seg.special {
            vec![crate::model::tokenizer::special_id(tok, &seg.text)?]
        } else {
            tok.encode(seg.text.as_str(), false).map_err(|e| Error::Other(format!("tokenizer: {e}")))?.get_ids().to_vec()
        };
        enc.trained.extend(std::iter::repeat_n(seg.trained, ids.len()));
        enc.ids.extend(ids);
    }
    Ok(enc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::conversation::parse_line;

    const MULTI_TURN_WITH_SYSTEM: &str = r#"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Bye"},{"role":"assistant","content":"Ciao"}]}"#;
    const MULTI_TURN: &str = r#"{"messages":[{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Bye"},{"role":"assistant","content":"Ciao"}]}"#;

    /// SmolLM2-135M-Instruct's template (ChatML with a default system message).
    const SMOLLM2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    /// Qwen2-Instruct's template (ChatML).
    const QWEN2: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    /// Meta-Llama-3-8B-Instruct's template.
    const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
    /// Mistral-7B-Instruct-v0.1's template (no system role).
    const MISTRAL: &str = "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token + ' ' }}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    fn jinja(source: &str, bos: &str, eos: &str) -> ChatTemplate {
        ChatTemplate::Jinja(Box::new(JinjaTemplate::new(source, "test", bos, eos).unwrap()))
    }

    fn trained(t: &ChatTemplate, line: &str) -> Vec<String> {
        t.segments(&parse_line(line).unwrap(), TrainOn::Assistant).unwrap().into_iter().filter(|s| s.trained).map(|s| s.text).collect()
    }

    #[test]
    fn renders_mistral_multi_turn_with_system() {
        let r = parse_line(MULTI_TURN_WITH_SYSTEM).unwrap();
        assert_eq!(ChatTemplate::Mistral.render(&r).unwrap(), "<s>[INST] Be brief.\n\nHi [/INST] Hello</s>[INST] Bye [/INST] Ciao</s>");
    }

    #[test]
    fn train_on_all_marks_prompts_trained() {
        let r = parse_line(r#"{"prompt":"a","completion":"b"}"#).unwrap();
        assert!(ChatTemplate::Mistral.segments(&r, TrainOn::All).unwrap().iter().all(|s| s.trained));
        let t = ChatTemplate::Mistral.segments(&r, TrainOn::Assistant).unwrap();
        assert_eq!(t.iter().filter(|s| s.trained).map(|s| s.text.as_str()).collect::<Vec<_>>(), vec![" b", "</s>"]);
    }

    #[test]
    fn chatml_templates_train_each_reply_with_its_end_of_turn() {
        for (source, system) in [(SMOLLM2, "named SmolLM"), (QWEN2, "You are a helpful assistant.")] {
            let t = jinja(source, "<|im_start|>", "<|im_end|>");
            assert_eq!(trained(&t, MULTI_TURN), vec!["Hello<|im_end|>\n", "Ciao<|im_end|>\n"]);
            let r = parse_line(MULTI_TURN).unwrap();
            let text = t.render(&r).unwrap();
            assert!(text.starts_with("<|im_start|>system\n") && text.contains(system), "the default system message: {text}");
            assert!(text.ends_with("<|im_start|>assistant\nCiao<|im_end|>\n"), "{text}");
            // With a system message of its own, no default one.
            let text = t.render(&parse_line(MULTI_TURN_WITH_SYSTEM).unwrap()).unwrap();
            assert!(text.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n") && !text.contains(system), "{text}");
            assert_eq!(trained(&t, MULTI_TURN_WITH_SYSTEM), vec!["Hello<|im_end|>\n", "Ciao<|im_end|>\n"]);
        }
    }

    #[test]
    fn llama3_template_trains_replies_up_to_eot() {
        let t = jinja(LLAMA3, "<|begin_of_text|>", "<|eot_id|>");
        assert_eq!(trained(&t, MULTI_TURN_WITH_SYSTEM), vec!["Hello<|eot_id|>", "Ciao<|eot_id|>"]);
        let text = t.render(&parse_line(MULTI_TURN_WITH_SYSTEM).unwrap()).unwrap();
        assert_eq!(
            text,
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n\
             Hi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n\
             Bye<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nCiao<|eot_id|>"
        );
    }

    #[test]
    fn mistral_jinja_template_matches_the_built_in_one_and_raises_on_a_system_message() {
        let t = jinja(MISTRAL, "<s>", "</s>");
        assert_eq!(trained(&t, MULTI_TURN), vec!["Hello</s> ", "Ciao</s> "]);
        assert_eq!(t.render(&parse_line(MULTI_TURN).unwrap()).unwrap(), "<s>[INST] Hi [/INST]Hello</s> [INST] Bye [/INST]Ciao</s> ");
        let err = t.segments(&parse_line(MULTI_TURN_WITH_SYSTEM).unwrap(), TrainOn::Assistant).unwrap_err().to_string();
        assert!(err.contains("Conversation roles must alternate"), "{err}");
    }

    #[test]
    fn a_template_that_rewrites_earlier_turns_is_refused_with_what_to_do() {
        // Puts the number of messages in front: every render changes the beginning.
        let t = jinja("{{ messages | length }}{% for m in messages %}{{ m['content'] }}{% endfor %}", "", "");
        let err = t.segments(&parse_line(MULTI_TURN).unwrap(), TrainOn::Assistant).unwrap_err().to_string();
        assert!(err.contains("data.chat_template = \"mistral\""), "{err}");
    }

    /// A Gemma directory without a template (a base model's GGUF import)
    /// renders Gemma's turns: the system message before the first user
    /// message, `model` for the assistant, each reply trained with its
    /// `<end_of_turn>`; a Llama one falls back to the Mistral template.
    #[test]
    fn a_model_without_a_template_gets_its_familys_chat_format() {
        let dir = tempfile::tempdir().unwrap();
        let config = |model_type: &str, class: &str| {
            serde_json::json!({"model_type": model_type, "architectures": [class], "vocab_size": 64, "hidden_size": 32,
                "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4})
            .to_string()
        };
        std::fs::write(dir.path().join("config.json"), config("gemma3_text", "Gemma3ForCausalLM")).unwrap();
        std::fs::write(dir.path().join("tokenizer_config.json"), r#"{"bos_token": "<bos>", "eos_token": "<eos>"}"#).unwrap();
        let t = ChatTemplate::resolve("model", dir.path()).unwrap();
        assert!(t.describe().contains("built in for gemma3_text"), "{}", t.describe());
        assert_eq!(
            t.render(&parse_line(MULTI_TURN_WITH_SYSTEM).unwrap()).unwrap(),
            "<bos><start_of_turn>user\nBe brief.\n\nHi<end_of_turn>\n<start_of_turn>model\nHello<end_of_turn>\n\
             <start_of_turn>user\nBye<end_of_turn>\n<start_of_turn>model\nCiao<end_of_turn>\n"
        );
        assert_eq!(trained(&t, MULTI_TURN), vec!["Hello<end_of_turn>\n", "Ciao<end_of_turn>\n"]);
        std::fs::write(dir.path().join("config.json"), config("llama", "LlamaForCausalLM")).unwrap();
        assert!(matches!(ChatTemplate::resolve("model", dir.path()).unwrap(), ChatTemplate::Mistral));
    }

    #[test]
    fn the_model_template_comes_from_tokenizer_config_else_mistral() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(ChatTemplate::resolve("model", dir.path()).unwrap(), ChatTemplate::Mistral));
        let config = serde_json::json!({"chat_template": SMOLLM2, "bos_token": "<|im_start|>", "eos_token": {"content": "<|im_end|>"}});
        std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
        let ChatTemplate::Jinja(j) = ChatTemplate::resolve("model", dir.path()).unwrap() else { panic!("expected the model's template") };
        assert_eq!((j.bos.as_str(), j.eos.as_str()), ("<|im_start|>", "<|im_end|>"));
        assert!(matches!(ChatTemplate::resolve("mistral", dir.path()).unwrap(), ChatTemplate::Mistral));
        let file = dir.path().join("llama3.jinja");
        std::fs::write(&file, LLAMA3).unwrap();
        assert!(ChatTemplate::resolve(file.to_str().unwrap(), dir.path()).unwrap().describe().contains("llama3.jinja"));
        std::fs::write(&file, "{% for %}").unwrap();
        let err = ChatTemplate::resolve(file.to_str().unwrap(), dir.path()).unwrap_err().to_string();
        assert!(err.contains("llama3.jinja"), "{err}");
    }
}
