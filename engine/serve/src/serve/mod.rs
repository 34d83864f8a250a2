//! `workbench serve`: an OpenAI-compatible HTTP server, like vLLM's, over
//! the engine's generation: `GET /v1/models`, `POST /v1/chat/completions`
//! and `POST /v1/completions`, streamed as server-sent events ending in
//! `data: [DONE]` or not; the base model and each LoRA adapter addressed by
//! name (vLLM's `--lora-modules NAME=PATH`), adapters applied unmerged on the
//! one copy of the base weights. Binds 127.0.0.1 unless told otherwise, checks
//! an optional API key (`Authorization: Bearer`), answers every bad request
//! with a 4xx and OpenAI's error body, queues requests in arrival order
//! ([`queue`]), cancels a generation whose client goes away, and logs each
//! request's latency and speed.
//!
//! - [`api`]: the request and response bodies and their checks.
//! - [`queue`]: the generation queue and its worker.

pub mod api;
pub mod queue;
pub mod vllm;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::generate::{GenerateRequest, Generation, Loaded};
use api::{ApiError, ChatRequest, Common, CompletionRequest, Usage, finish_text};
use queue::{Piece, Queue, Stats, Ticket};

/// A model the server answers for.
pub struct ServedModel {
    /// The name clients use (`model` in requests).
    pub name: String,
    /// The model, with its adapter attached for a LoRA module.
    pub loaded: Arc<Loaded>,
    /// The base model's name, for an adapter (`parent` in `/v1/models`).
    pub parent: Option<String>,
}

/// How to serve.
pub struct ServeOptions {
    /// Address to bind (`127.0.0.1` by default in the CLI).
    pub host: String,
    /// Port (0: any free one).
    pub port: u16,
    /// Required `Authorization: Bearer` key, if any.
    pub api_key: Option<String>,
    /// The models, the base first.
    pub models: Vec<ServedModel>,
}

struct AppState {
    models: Vec<ServedModel>,
    api_key: Option<String>,
    queue: Queue,
    next_id: AtomicU64,
    created: u64,
}

/// A running server.
pub struct ServerHandle {
    /// The address it listens on.
    pub addr: SocketAddr,
    stats: Arc<Stats>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ServerHandle {
    /// Generations started, cancelled and completed so far.
    pub fn stats(&self) -> (u64, u64, u64) {
        let s = &self.stats;
        (s.started.load(Ordering::Relaxed), s.cancelled.load(Ordering::Relaxed), s.completed.load(Ordering::Relaxed))
    }

    /// Blocks until the server stops.
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }

    /// Stops the server (requests in flight finish first) and waits for it.
    pub fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What to tell the user when a server listens beyond this machine without an
/// API key (`--host 0.0.0.0`): anyone who can reach the address can use the
/// models. None on a loopback address or with a key.
pub fn exposure_warning(addr: SocketAddr, api_key: bool) -> Option<String> {
    (!addr.ip().is_loopback() && !api_key).then(|| {
        format!(
            "warning: listening on {addr} without an API key: anyone on the network who can reach this address can use \
             these models; set --api-key (or WORKBENCH_API_KEY), or listen on 127.0.0.1"
        )
    })
}

/// Binds the address and serves on a thread of its own.
pub fn start(opts: ServeOptions) -> Result<ServerHandle> {
    if opts.models.is_empty() {
        return Err(Error::Other("no model to serve".into()));
    }
    let addr = format!("{}:{}", opts.host, opts.port);
    let listener = std::net::TcpListener::bind(&addr)
        .map_err(|e| Error::Other(format!("cannot listen on {addr} ({e}); choose another --port or --host")))?;
    listener.set_nonblocking(true).map_err(|e| Error::Other(format!("listener: {e}")))?;
    let bound = listener.local_addr().map_err(|e| Error::Other(format!("listener: {e}")))?;
    let queue = Queue::start();
    let stats = Arc::clone(&queue.stats);
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let state = Arc::new(AppState { models: opts.models, api_key: opts.api_key, queue, next_id: AtomicU64::new(1), created });
    let app = Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .fallback(not_found)
        .with_state(state);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the server's runtime: {e}")))?;
    let thread = std::thread::Builder::new()
        .name("serve".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => return eprintln!("serve: {e}"),
                };
                let served = axum::serve(listener, app).with_graceful_shutdown(async {
                    let _ = rx.await;
                });
                if let Err(e) = served.await {
                    eprintln!("serve: {e}");
                }
            })
        })
        .map_err(|e| Error::Other(format!("cannot start the server thread: {e}")))?;
    Ok(ServerHandle { addr: bound, stats, shutdown: Some(tx), thread: Some(thread) })
}

/// An error as a response.
fn error(e: ApiError) -> Response {
    (e.status, axum::Json(e.body())).into_response()
}

impl AppState {
    fn authorize(&self, headers: &HeaderMap) -> std::result::Result<(), ApiError> {
        let Some(key) = &self.api_key else { return Ok(()) };
        let sent = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if sent == Some(key.as_str()) {
            return Ok(());
        }
        Err(ApiError {
            status: StatusCode::UNAUTHORIZED,
            message: "missing or wrong API key; send Authorization: Bearer KEY".into(),
            param: None,
        })
    }

    fn model(&self, name: &str) -> std::result::Result<&ServedModel, ApiError> {
        self.models.iter().find(|m| m.name == name).ok_or_else(|| {
            let names: Vec<&str> = self.models.iter().map(|m| m.name.as_str()).collect();
            ApiError {
                status: StatusCode::NOT_FOUND,
                message: format!("the model `{name}` does not exist; served: {}", names.join(", ")),
                param: Some("model".into()),
            }
        })
    }

    fn id(&self, prefix: &str) -> String {
        format!("{prefix}-{}-{:x}", self.next_id.fetch_add(1, Ordering::Relaxed), self.created)
    }
}

/// A JSON body with only known fields (and the endpoint's `field`), or the 400 that names what is wrong with it.
fn parse<T: serde::de::DeserializeOwned>(body: &Bytes, field: &str) -> std::result::Result<T, ApiError> {
    let invalid = |e: serde_json::Error| {
        let param = e.to_string().split('`').nth(1).map(str::to_string);
        ApiError { status: StatusCode::BAD_REQUEST, message: format!("invalid request body: {e}"), param }
    };
    let value: Value = serde_json::from_slice(body).map_err(invalid)?;
    api::check_fields(&value, field)?;
    serde_json::from_value(value).map_err(invalid)
}

async fn models(State(st): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Err(e) = st.authorize(&headers) {
        return error(e);
    }
    let data: Vec<Value> = st
        .models
        .iter()
        .map(|m| {
            json!({"id": m.name, "object": "model", "created": st.created, "owned_by": "lora-workbench",
                   "root": m.parent.as_ref().unwrap_or(&m.name), "parent": m.parent,
                   "max_model_len": m.loaded.model.config.max_position_embeddings})
        })
        .collect();
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

async fn not_found() -> Response {
    error(ApiError {
        status: StatusCode::NOT_FOUND,
        message: "no such endpoint (/v1/models, /v1/chat/completions, /v1/completions)".into(),
        param: None,
    })
}

/// Which endpoint answers: the shapes of their responses differ.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Chat,
    Completion,
}

async fn chat(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let start = Instant::now();
    let prepared = (|| {
        st.authorize(&headers)?;
        let req: ChatRequest = parse(&body, "messages")?;
        let served = st.model(&req.common.model)?;
        let prompt = served.loaded.chat.encode_prompt(&req.messages()?).map_err(|e| ApiError::bad("messages", e.to_string()))?;
        Ok::<_, ApiError>((req.common, prompt))
    })();
    match prepared {
        Ok((common, prompt)) => answer(st, Kind::Chat, common, prompt, start).await,
        Err(e) => error(e),
    }
}

async fn completions(State(st): State<Arc<AppState>>, headers: HeaderMap, body: Bytes) -> Response {
    let start = Instant::now();
    let prepared = (|| {
        st.authorize(&headers)?;
        let req: CompletionRequest = parse(&body, "prompt")?;
        let served = st.model(&req.common.model)?;
        let text = req.prompt()?;
        let prompt = served
            .loaded
            .chat
            .tokenizer
            .encode(text.as_str(), true)
            .map_err(|e| ApiError::bad("prompt", e.to_string()))?
            .get_ids()
            .to_vec();
        Ok::<_, ApiError>((req.common, prompt))
    })();
    match prepared {
        Ok((common, prompt)) => answer(st, Kind::Completion, common, prompt, start).await,
        Err(e) => error(e),
    }
}

/// Queues the generation and answers, streamed or whole.
async fn answer(st: Arc<AppState>, kind: Kind, common: Common, prompt: Vec<u32>, start: Instant) -> Response {
    let served = match st.model(&common.model) {
        Ok(m) => m,
        Err(e) => return error(e),
    };
    let prepared = (|| {
        let sampling = common.sampling()?;
        let max_new_tokens = common.max_new_tokens(prompt.len(), served.loaded.model.config.max_position_embeddings)?;
        Ok::<_, ApiError>(GenerateRequest {
            prompt,
            max_new_tokens,
            sampling,
            stop: common.stop(),
            stop_token_ids: if common.ignore_eos { Vec::new() } else { served.loaded.stop_token_ids.clone() },
        })
    })();
    let request = match prepared {
        Ok(r) => r,
        Err(e) => return error(e),
    };
    let ticket = st.queue.submit(Arc::clone(&served.loaded), request);
    let reply =
        Reply { id: st.id(if kind == Kind::Chat { "chatcmpl" } else { "cmpl" }), created: now(), model: common.model.clone(), kind, start };
    if common.stream {
        let include_usage = common.stream_options.as_ref().is_some_and(|o| o.include_usage);
        return stream(reply, ticket, include_usage).into_response();
    }
    whole(reply, ticket).await
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// What every response of one request shares.
struct Reply {
    id: String,
    created: u64,
    model: String,
    kind: Kind,
    start: Instant,
}

impl Reply {
    fn chunk(&self, delta: Value, finish: Option<&str>) -> Value {
        let choice = match self.kind {
            Kind::Chat => json!({"index": 0, "delta": delta, "finish_reason": finish}),
            Kind::Completion => {
                json!({"index": 0, "text": delta.get("content").cloned().unwrap_or(json!("")), "finish_reason": finish, "logprobs": null})
            }
        };
        let object = if self.kind == Kind::Chat { "chat.completion.chunk" } else { "text_completion" };
        json!({"id": self.id, "object": object, "created": self.created, "model": self.model, "choices": [choice]})
    }

    fn log(&self, g: &Generation) {
        eprintln!(
            "{} model={} prompt={} completion={} finish={} latency={:.2}s first_token={:.2}s {:.1} tokens/s",
            if self.kind == Kind::Chat { "POST /v1/chat/completions" } else { "POST /v1/completions" },
            self.model,
            g.stats.prompt_tokens,
            g.tokens.len(),
            finish_text(g.stats.finish_reason),
            self.start.elapsed().as_secs_f64(),
            g.stats.time_to_first_token_s,
            g.stats.tokens_per_s
        );
    }
}

/// The whole answer in one body.
async fn whole(reply: Reply, mut ticket: Ticket) -> Response {
    loop {
        match ticket.pieces.recv().await {
            Some(Piece::Text(_)) => {}
            Some(Piece::Done(Ok(g))) => {
                reply.log(&g);
                let usage = Usage::new(g.stats.prompt_tokens, g.tokens.len());
                let finish = finish_text(g.stats.finish_reason);
                let choice = match reply.kind {
                    Kind::Chat => json!({"index": 0, "message": {"role": "assistant", "content": g.text}, "finish_reason": finish}),
                    Kind::Completion => json!({"index": 0, "text": g.text, "finish_reason": finish, "logprobs": null}),
                };
                let object = if reply.kind == Kind::Chat { "chat.completion" } else { "text_completion" };
                return axum::Json(json!({"id": reply.id, "object": object, "created": reply.created, "model": reply.model,
                                         "choices": [choice], "usage": usage}))
                .into_response();
            }
            Some(Piece::Done(Err(e))) => {
                return error(ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e, param: None });
            }
            None => {
                return error(ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    message: "the generation worker stopped".into(),
                    param: None,
                });
            }
        }
    }
}

/// Where a stream is.
enum Phase {
    Opening,
    Pieces,
    Usage(Usage),
    Done,
    End,
}

/// The answer as server-sent events: the role, the pieces, the finish reason,
/// the usage if asked, then `[DONE]`. Dropping it (the client went away)
/// drops the ticket, which cancels the generation.
fn stream(
    reply: Reply,
    ticket: Ticket,
    include_usage: bool,
) -> Sse<impl futures_util::Stream<Item = std::result::Result<Event, Infallible>>> {
    let state = (reply, ticket, Phase::Opening, include_usage);
    Sse::new(futures_util::stream::unfold(state, |(reply, mut ticket, phase, include_usage)| async move {
        let data = |v: Value| Ok(Event::default().data(v.to_string()));
        match phase {
            Phase::Opening if reply.kind == Kind::Chat => {
                let ev = data(reply.chunk(json!({"role": "assistant", "content": ""}), None));
                Some((ev, (reply, ticket, Phase::Pieces, include_usage)))
            }
            Phase::Opening | Phase::Pieces => match ticket.pieces.recv().await {
                Some(Piece::Text(t)) => {
                    let ev = data(reply.chunk(json!({"content": t}), None));
                    Some((ev, (reply, ticket, Phase::Pieces, include_usage)))
                }
                Some(Piece::Done(Ok(g))) => {
                    reply.log(&g);
                    let ev = data(reply.chunk(json!({}), Some(finish_text(g.stats.finish_reason))));
                    let usage = Usage::new(g.stats.prompt_tokens, g.tokens.len());
                    Some((ev, (reply, ticket, if include_usage { Phase::Usage(usage) } else { Phase::Done }, include_usage)))
                }
                Some(Piece::Done(Err(e))) => {
                    let body = ApiError { status: StatusCode::INTERNAL_SERVER_ERROR, message: e, param: None }.body();
                    Some((data(body), (reply, ticket, Phase::Done, include_usage)))
                }
                None => None,
            },
            Phase::Usage(usage) => {
                let object = if reply.kind == Kind::Chat { "chat.completion.chunk" } else { "text_completion" };
                let v = json!({"id": reply.id, "object": object, "created": reply.created, "model": reply.model, "choices": [], "usage": usage});
                Some((data(v), (reply, ticket, Phase::Done, include_usage)))
            }
            Phase::Done => Some((Ok(Event::default().data("[DONE]")), (reply, ticket, Phase::End, include_usage))),
            Phase::End => None,
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::exposure_warning;

    #[test]
    fn listening_beyond_loopback_without_a_key_is_warned_about() {
        let warned = |addr: &str, key: bool| exposure_warning(addr.parse().unwrap(), key);
        assert!(warned("0.0.0.0:8000", false).unwrap().contains("anyone on the network"));
        assert!(warned("[::]:8000", false).is_some());
        assert!(warned("192.168.1.4:8000", false).is_some());
        assert_eq!(warned("0.0.0.0:8000", true), None);
        assert_eq!(warned("127.0.0.1:8000", false), None);
        assert_eq!(warned("[::1]:8000", false), None);
    }
}
