//! Hugging Face chat templates: the Jinja text in a model's
//! `tokenizer_config.json` (`chat_template`) or `chat_template.jinja`,
//! rendered with minijinja as transformers' `apply_chat_template` renders it
//! (`messages`, `add_generation_prompt`, `bos_token`, `eos_token`,
//! `raise_exception`, Python string methods such as `.strip()`).

use minijinja::{Environment, ErrorKind, Value};
use serde::Serialize;

use crate::data::conversation::Message;

/// A compiled chat template with the special tokens it refers to.
#[derive(Debug, Clone)]
pub struct JinjaTemplate {
    env: Environment<'static>,
    /// Where the template came from (for messages).
    pub origin: String,
    /// The text of `bos_token`.
    pub bos: String,
    /// The text of `eos_token`.
    pub eos: String,
}

/// What the template sees.
#[derive(Serialize)]
struct Context<'a> {
    messages: &'a [Message],
    add_generation_prompt: bool,
    bos_token: &'a str,
    eos_token: &'a str,
}

const NAME: &str = "chat_template";

impl JinjaTemplate {
    /// Compiles `source`; the error names `origin` and the template's problem.
    pub fn new(source: &str, origin: &str, bos: &str, eos: &str) -> Result<Self, String> {
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.add_function("raise_exception", |message: String| -> Result<Value, minijinja::Error> {
            Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
        });
        env.add_template_owned(NAME, source.to_string()).map_err(|e| format!("chat template of {origin}: {e:#}"))?;
        Ok(Self { env, origin: origin.into(), bos: bos.into(), eos: eos.into() })
    }

    /// Renders `messages`, ending with the assistant's opening when `add_generation_prompt`.
    pub fn render(&self, messages: &[Message], add_generation_prompt: bool) -> Result<String, String> {
        let ctx = Context { messages, add_generation_prompt, bos_token: &self.bos, eos_token: &self.eos };
        let template = self.env.get_template(NAME).map_err(|e| e.to_string())?;
        template.render(minijinja::value::Serde(&ctx)).map_err(|e| format!("chat template of {}: {}", self.origin, describe(&e)))
    }
}

/// The message of a template error (a `raise_exception` text as it is).
fn describe(e: &minijinja::Error) -> String {
    match e.kind() {
        ErrorKind::InvalidOperation => e.detail().unwrap_or("invalid operation").to_string(),
        _ => format!("{e:#}"),
    }
}
