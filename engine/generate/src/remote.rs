//! A client of OpenAI-compatible servers (vLLM, `workbench serve`, llama.cpp's
//! server, OpenAI itself): the models an endpoint serves, and a chat answer
//! streamed as server-sent events, timed like a local one. Blocking (ureq), so
//! it runs on a job's thread like local generation.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::cancel::CancelFlag;
use crate::data::conversation::Message;
use crate::error::{Error, Result};
use crate::generate::{AnswerStats, FinishReason, SamplingParams};

/// An OpenAI-compatible server.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Endpoint {
    /// Its base URL, with or without `/v1` (`http://127.0.0.1:8000`).
    pub url: String,
    /// Sent as `Authorization: Bearer KEY`; never written to files.
    #[serde(skip)]
    pub api_key: Option<String>,
}

/// How long to wait for a server to accept a connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

impl Endpoint {
    /// The endpoint at `url`, with an API key if not empty.
    pub fn new(url: &str, api_key: &str) -> Self {
        let key = api_key.trim();
        Self { url: url.trim().to_string(), api_key: (!key.is_empty()).then(|| key.to_string()) }
    }

    /// The full URL of an API path (`models`, `chat/completions`).
    fn api(&self, path: &str) -> String {
        let base = self.url.trim_end_matches('/');
        if base.ends_with("/v1") { format!("{base}/{path}") } else { format!("{base}/v1/{path}") }
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder().http_status_as_error(false).timeout_connect(Some(CONNECT_TIMEOUT)).build().into()
    }

    fn authorize<B>(&self, req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
        match &self.api_key {
            Some(key) => req.header("Authorization", format!("Bearer {key}")),
            None => req,
        }
    }

    /// An error about this endpoint: what, and what to do.
    fn error(&self, what: impl std::fmt::Display) -> Error {
        Error::Other(format!("endpoint {}: {what}", self.url))
    }

    /// Checks the status of `resp`; an error carries the server's message.
    fn check(&self, mut resp: ureq::http::Response<ureq::Body>) -> Result<ureq::http::Response<ureq::Body>> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let body: Value = resp.body_mut().read_json().unwrap_or_default();
        let message = body["error"]["message"].as_str().or(body["message"].as_str()).unwrap_or("").to_string();
        let hint = match status.as_u16() {
            401 | 403 => " (check the API key)",
            404 => " (check the URL and the model name)",
            _ => "",
        };
        Err(self.error(format!("HTTP {status}: {message}{hint}")))
    }

    fn unreachable(&self, e: ureq::Error) -> Error {
        self.error(format!("cannot reach it: {e}; is the server running and the URL right?"))
    }

    /// The ids of the models the server serves (`GET /v1/models`).
    pub fn models(&self) -> Result<Vec<String>> {
        let resp = self.authorize(Self::agent().get(self.api("models"))).call().map_err(|e| self.unreachable(e))?;
        let body: Value = self.check(resp)?.body_mut().read_json().map_err(|e| self.error(format!("bad /v1/models body: {e}")))?;
        let ids = body["data"].as_array().ok_or_else(|| self.error("the /v1/models body has no \"data\" list"))?;
        Ok(ids.iter().filter_map(|m| m["id"].as_str().map(str::to_string)).collect())
    }

    /// `model`'s answer to `messages`, streamed: each piece of text goes to
    /// `on_text` as it arrives; `cancel` closes the connection (the server
    /// stops generating). Sampling parameters beyond OpenAI's (top-k, min-p,
    /// repetition penalty) are sent only when set, as vLLM accepts them.
    pub fn chat(
        &self,
        model: &str,
        messages: &[Message],
        settings: &crate::generate::target::AnswerSettings,
        cancel: &CancelFlag,
        mut on_text: impl FnMut(&str),
    ) -> Result<crate::generate::target::Answer> {
        let start = Instant::now();
        let body = request_body(model, messages, settings);
        let resp = self.authorize(Self::agent().post(self.api("chat/completions"))).send_json(&body).map_err(|e| self.unreachable(e))?;
        let resp = self.check(resp)?;
        let reader = BufReader::new(resp.into_body().into_reader());
        let (mut text, mut chunks, mut first_token_s) = (String::new(), 0usize, None);
        let mut finish = FinishReason::Length;
        let mut usage = None;
        for line in reader.lines() {
            if cancel.is_set() {
                finish = FinishReason::Cancelled;
                break;
            }
            let line = line.map_err(|e| self.error(format!("the stream broke: {e}")))?;
            let Some(data) = line.strip_prefix("data:").map(str::trim) else { continue };
            if data == "[DONE]" {
                break;
            }
            let chunk: Value = serde_json::from_str(data).map_err(|e| self.error(format!("bad stream chunk ({e}): {data}")))?;
            if let Some(message) = chunk["error"]["message"].as_str() {
                return Err(self.error(message));
            }
            if chunk["usage"].is_object() {
                usage = Some((chunk["usage"]["prompt_tokens"].as_u64(), chunk["usage"]["completion_tokens"].as_u64()));
            }
            let choice = &chunk["choices"][0];
            if let Some(piece) = choice["delta"]["content"].as_str().filter(|p| !p.is_empty()) {
                first_token_s.get_or_insert(start.elapsed().as_secs_f64());
                chunks += 1;
                text.push_str(piece);
                on_text(piece);
            }
            match choice["finish_reason"].as_str() {
                Some("length") => finish = FinishReason::Length,
                Some(_) => finish = FinishReason::Stop,
                None => {}
            }
        }
        let (prompt_tokens, completion_tokens) = match usage {
            Some((p, c)) => (p.unwrap_or(0) as usize, c.map_or(chunks, |c| c as usize)),
            None => (0, chunks),
        };
        let stats = AnswerStats::timed(start, first_token_s, finish, prompt_tokens, completion_tokens);
        Ok(crate::generate::target::Answer { text, stats })
    }
}

/// The streamed `/v1/chat/completions` body for these settings.
fn request_body(model: &str, messages: &[Message], settings: &crate::generate::target::AnswerSettings) -> Value {
    let s: &SamplingParams = &settings.sampling;
    let mut body = json!({
        "model": model,
        "messages": messages,
        "max_tokens": settings.max_new_tokens,
        "temperature": s.temperature,
        "top_p": s.top_p,
        "stream": true,
        "stream_options": {"include_usage": true},
    });
    let extra = [
        ("seed", s.seed.map(|v| json!(v))),
        ("top_k", (s.top_k > 0).then(|| json!(s.top_k))),
        ("min_p", (s.min_p > 0.0).then(|| json!(s.min_p))),
        ("repetition_penalty", (s.repetition_penalty != 1.0).then(|| json!(s.repetition_penalty))),
        ("stop", (!settings.stop.is_empty()).then(|| json!(settings.stop))),
        ("ignore_eos", settings.ignore_eos.then_some(json!(true))),
    ];
    for (key, value) in extra {
        if let Some(v) = value {
            body[key] = v;
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::conversation::Role;
    use crate::generate::target::AnswerSettings;

    #[test]
    fn api_paths_work_with_or_without_v1() {
        assert_eq!(Endpoint::new("http://h:8000", "").api("models"), "http://h:8000/v1/models");
        assert_eq!(Endpoint::new(" http://h:8000/v1/ ", " ").api("models"), "http://h:8000/v1/models");
        assert_eq!(Endpoint::new("http://h", "k").api_key.as_deref(), Some("k"));
    }

    #[test]
    fn only_set_extras_are_sent() {
        let messages = [Message { role: Role::User, content: "hi".into() }];
        let plain = request_body("m", &messages, &AnswerSettings::default());
        for key in ["seed", "top_k", "min_p", "repetition_penalty", "stop", "ignore_eos"] {
            assert!(plain.get(key).is_none(), "{key} sent: {plain}");
        }
        assert_eq!(plain["messages"][0], json!({"role": "user", "content": "hi"}));
        let settings = AnswerSettings {
            sampling: SamplingParams { top_k: 5, seed: Some(2), repetition_penalty: 1.1, ..Default::default() },
            stop: vec!["###".into()],
            ..Default::default()
        };
        let body = request_body("m", &messages, &settings);
        assert_eq!((body["top_k"].clone(), body["seed"].clone(), body["stop"][0].clone()), (json!(5), json!(2), json!("###")));
    }

    #[test]
    fn an_unreachable_server_is_named_with_what_to_do() {
        let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let e = Endpoint::new(&format!("http://{free}"), "").models().unwrap_err().to_string();
        assert!(e.contains(&free.to_string()) && e.contains("is the server running"), "{e}");
    }
}
