//! `workbench serve`'s engine through a real HTTP client over 127.0.0.1: the
//! OpenAI endpoints streamed and not, every kind of bad request, the API
//! key, 16 concurrent clients, and a client that goes away mid-stream.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine::data::conversation::{Message, Role};
use engine::generate::Loaded;
use engine::generate::target::{Answer, AnswerSettings, Question, Target};
use engine::jobs::{Engine, Job, JobEvent};
use engine::remote::Endpoint;
use engine::serve::{ServeOptions, ServedModel, ServerHandle, start};
use serde_json::{Value, json};

/// One server at a time: the disconnect test must see its generation still
/// running when the client goes away, which 16 concurrent clients of another
/// test on the same cores can make it miss.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// The sample model as "base", and the same model with a fresh adapter as "tuned".
fn server(api_key: Option<&str>) -> ServerHandle {
    server_and_adapter(api_key).0
}

/// [`server`], and the adapter directory "tuned" applies.
fn server_and_adapter(api_key: Option<&str>) -> (ServerHandle, std::path::PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample_data/model");
    let base = Arc::new(Loaded::load(&dir, None, "model").unwrap());
    let adapter_dir = tempfile::tempdir().unwrap().keep();
    let mut with_lora = base.model.clone();
    let targets = engine::config::LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
    let spec = engine::model::LoraSpec { rank: 4, alpha: 8.0, dropout: 0.0, targets };
    with_lora.add_lora(&spec, 3).unwrap();
    for p in with_lora.trainable() {
        p.var.set(&p.var.as_tensor().randn_like(0.0, 0.5).unwrap()).unwrap();
    }
    engine::adapter::save(&with_lora, &spec, &dir, &adapter_dir).unwrap();
    let tuned = Arc::new(base.with_adapter(&adapter_dir).unwrap());
    let models = vec![
        ServedModel { name: "base".into(), loaded: base, parent: None },
        ServedModel { name: "tuned".into(), loaded: tuned, parent: Some("base".into()) },
    ];
    (start(ServeOptions { host: "127.0.0.1".into(), port: 0, api_key: api_key.map(String::from), models }).unwrap(), adapter_dir)
}

fn url(s: &ServerHandle, path: &str) -> String {
    format!("http://{}{path}", s.addr)
}

/// POSTs `body` (raw text), returning the status and the JSON answer.
fn post(s: &ServerHandle, path: &str, body: &str, key: Option<&str>) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut req = agent.post(&url(s, path)).header("Content-Type", "application/json");
    if let Some(k) = key {
        req = req.header("Authorization", &format!("Bearer {k}"));
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

fn chat_body(model: &str, extra: Value) -> String {
    let mut body = json!({"model": model, "messages": [{"role": "user", "content": "How many vacation days do I get?"}], "max_tokens": 12, "temperature": 0});
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    body.to_string()
}

/// The `data:` payloads of a server-sent-event stream.
fn sse(s: &ServerHandle, body: &str) -> Vec<String> {
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let resp = agent.post(&url(s, "/v1/chat/completions")).header("Content-Type", "application/json").send(body).unwrap();
    let reader = BufReader::new(resp.into_body().into_reader());
    reader.lines().map(|l| l.unwrap()).filter_map(|l| l.strip_prefix("data: ").map(str::to_string)).collect()
}

#[test]
fn models_chat_and_completions_streamed_and_whole() {
    let _serial = serial();
    let s = server(None);
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let models: Value = agent.get(&url(&s, "/v1/models")).call().unwrap().body_mut().read_json().unwrap();
    let ids: Vec<&str> = models["data"].as_array().unwrap().iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["base", "tuned"]);
    assert_eq!(models["data"][1]["parent"], "base");

    let (status, whole) = post(&s, "/v1/chat/completions", &chat_body("base", json!({})), None);
    assert_eq!(status, 200, "{whole}");
    assert_eq!(whole["object"], "chat.completion");
    assert_eq!(whole["choices"][0]["message"]["role"], "assistant");
    let text = whole["choices"][0]["message"]["content"].as_str().unwrap().to_string();
    let usage = &whole["usage"];
    assert!(usage["completion_tokens"].as_u64().unwrap() <= 12 && usage["prompt_tokens"].as_u64().unwrap() > 5);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + usage["completion_tokens"].as_u64().unwrap())
    );

    // The same request streamed: the same text, in chunks, then the finish reason, the usage, [DONE].
    let events = sse(&s, &chat_body("base", json!({"stream": true, "stream_options": {"include_usage": true}})));
    assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(|e| serde_json::from_str(e).unwrap()).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let streamed: String = chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(streamed, text);
    assert!(chunks.iter().all(|c| c["id"] == chunks[0]["id"] && c["object"] == "chat.completion.chunk"));
    let finish = chunks.iter().find_map(|c| c["choices"][0]["finish_reason"].as_str()).unwrap();
    assert_eq!(finish, whole["choices"][0]["finish_reason"]);
    assert_eq!(chunks.last().unwrap()["usage"], whole["usage"]);

    // The adapter answers differently from the base model.
    let (_, tuned) = post(&s, "/v1/chat/completions", &chat_body("tuned", json!({})), None);
    assert_ne!(tuned["choices"][0]["message"]["content"], whole["choices"][0]["message"]["content"]);

    let (status, c) = post(
        &s,
        "/v1/completions",
        &json!({"model": "base", "prompt": "<s>[INST] Hi [/INST]", "max_tokens": 5, "temperature": 0}).to_string(),
        None,
    );
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["object"], "text_completion");
    assert!(c["choices"][0]["text"].is_string());
    s.stop();
}

#[test]
fn every_bad_request_is_a_4xx_with_an_openai_error() {
    let _serial = serial();
    let s = server(Some("sekret"));
    let key = Some("sekret");
    let cases: Vec<(String, u16, &str)> = vec![
        ("{not json".into(), 400, "invalid request body"),
        (chat_body("nope", json!({})), 404, "does not exist"),
        (chat_body("base", json!({"max_tokens": "many"})), 400, "invalid type"),
        (json!({"model": "base", "messages": [], "max_tokens": 4}).to_string(), 400, "messages is empty"),
        (chat_body("base", json!({"n": 2})), 400, "n = 1"),
        (chat_body("base", json!({"frequency_penalty": 0.5})), 400, "frequency_penalty"),
        (chat_body("base", json!({"top_p": 3.0})), 400, "top_p"),
        (chat_body("base", json!({"max_tokens": 1_000_000})), 400, "maximum context length"),
        (chat_body("base", json!({"tools": []})), 400, "unknown field `tools`"),
        (json!({"model": "base", "messages": [{"role": "robot", "content": "x"}]}).to_string(), 400, "robot"),
    ];
    for (body, status, says) in cases {
        let (got, answer) = post(&s, "/v1/chat/completions", &body, key);
        assert_eq!(got, status, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(says), "{body}: {message}");
        assert!(answer["error"]["type"].is_string());
    }
    let (status, answer) = post(&s, "/v1/chat/completions", &chat_body("base", json!({})), None);
    assert_eq!((status, answer["error"]["type"].as_str()), (401, Some("authentication_error")));
    let (status, _) = post(&s, "/v1/chat/completions", &chat_body("base", json!({})), Some("wrong"));
    assert_eq!(status, 401);
    let (status, _) = post(&s, "/v1/chat/completions", &chat_body("base", json!({})), key);
    assert_eq!(status, 200);
    s.stop();
}

#[test]
fn sixteen_concurrent_clients_all_get_their_answers() {
    let _serial = serial();
    let s = Arc::new(server(None));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let s = Arc::clone(&s);
            std::thread::spawn(move || {
                let body = chat_body(if i % 2 == 0 { "base" } else { "tuned" }, json!({"seed": i, "temperature": 0.8, "max_tokens": 6}));
                if i % 4 == 0 {
                    sse(&s, &body.replace("\"seed\"", "\"stream\":true,\"seed\"")).last().cloned().unwrap()
                } else {
                    post(&s, "/v1/chat/completions", &body, None).1["object"].to_string()
                }
            })
        })
        .collect();
    for t in threads {
        let last = t.join().unwrap();
        assert!(last == "[DONE]" || last == "\"chat.completion\"", "{last}");
    }
    let (started, cancelled, completed) = s.stats();
    assert_eq!((started, cancelled, completed), (16, 0, 16));
}

#[test]
fn a_client_that_goes_away_mid_stream_cancels_its_generation() {
    let _serial = serial();
    let s = server(None);
    let body = chat_body("base", json!({"stream": true, "max_tokens": 400, "temperature": 1.0, "seed": 1}));
    let mut tcp = std::net::TcpStream::connect(s.addr).unwrap();
    write!(
        tcp,
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    // Read until the first piece of the answer, the chunk after the role's
    // (the generation has started: the headers and the role's chunk are sent
    // while the request may still wait in the queue).
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while String::from_utf8_lossy(&seen).matches("data: ").count() < 2 {
        let n = tcp.read(&mut buf).unwrap();
        assert!(n > 0, "the stream ended before its first piece: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(String::from_utf8_lossy(&seen).contains("200 OK"));
    drop(tcp);
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.stats().1 == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let (started, cancelled, completed) = s.stats();
    assert_eq!((started, cancelled, completed), (1, 1, 0), "the generation was not cancelled");
    s.stop();
}

/// Runs `job` on an engine to its end: the streamed text and the answer.
fn ask(engine: &Engine, question: Question) -> (String, Answer) {
    let id = engine.start(Job::Ask(Box::new(question))).unwrap();
    let (mut streamed, mut answer) = (String::new(), None);
    loop {
        let ev = engine.events().recv_timeout(Duration::from_secs(120)).unwrap();
        assert_eq!(ev.job, id);
        match ev.event {
            JobEvent::Text(t) => streamed.push_str(&t),
            JobEvent::Answered(a) => answer = Some(*a),
            JobEvent::Failed(e) => panic!("{e}"),
            JobEvent::Ended => return (streamed, answer.expect("an answer before the end")),
            _ => {}
        }
    }
}

/// The workbench's own client (the chat pane's remote target) against the
/// server: the models listed, a wrong key refused with advice, and a greedy
/// answer streamed over HTTP equal to the same model asked locally through
/// the engine's job, which loads the base once for base and adapter.
#[test]
fn the_client_gets_over_http_what_the_local_model_answers() {
    let _serial = serial();
    let (s, adapter) = server_and_adapter(Some("k3y"));
    let endpoint = Endpoint::new(&format!("http://{}", s.addr), "k3y");
    assert_eq!(endpoint.models().unwrap(), ["base", "tuned"]);
    let wrong = Endpoint::new(&format!("http://{}/v1", s.addr), "nope").models().unwrap_err().to_string();
    assert!(wrong.contains("401") && wrong.contains("API key"), "{wrong}");

    let messages = vec![Message { role: Role::User, content: "How many vacation days do I get?".into() }];
    let settings = AnswerSettings { max_new_tokens: 12, ..Default::default() };
    let remote =
        Question { target: Target::Remote { endpoint, model: "tuned".into() }, messages: messages.clone(), settings: settings.clone() };
    let engine = Engine::new();
    let (streamed, over_http) = ask(&engine, remote);
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample_data/model");
    let local = Target::Local { model: sample.clone(), adapter: Some(adapter), chat_template: "model".into(), name: "tuned".into() };
    let (_, here) = ask(&engine, Question { target: local, messages: messages.clone(), settings: settings.clone() });
    assert_eq!(streamed, over_http.text);
    assert_eq!(over_http.text, here.text);
    assert!(!here.text.is_empty());
    assert_eq!(
        (over_http.stats.completion_tokens, over_http.stats.prompt_tokens),
        (here.stats.completion_tokens, here.stats.prompt_tokens)
    );
    assert_eq!(over_http.stats.finish_reason, here.stats.finish_reason);
    let (_, base) = ask(&engine, Question { target: Target::base(&sample, "model"), messages: messages.clone(), settings });
    assert_ne!(base.text, here.text, "the adapter changed nothing");
    assert_eq!(engine.models().len(), 2, "base loaded once, plus the adapter's view of it");

    // vLLM's ignore_eos: exactly max_new_tokens, here and over HTTP alike.
    let settings = AnswerSettings { max_new_tokens: 300, ignore_eos: true, ..Default::default() };
    let endpoint = Endpoint::new(&format!("http://{}", s.addr), "k3y");
    for target in [Target::base(&sample, "model"), Target::Remote { endpoint, model: "base".into() }] {
        let (_, a) = ask(&engine, Question { target, messages: messages.clone(), settings: settings.clone() });
        assert_eq!((a.stats.completion_tokens, a.stats.finish_reason), (300, engine::generate::FinishReason::Length));
    }
}
