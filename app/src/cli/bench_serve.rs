//! `workbench bench serve`: the OpenAI-compatible server under load. The
//! server runs in this process on 127.0.0.1 (a free port); for each level of
//! concurrency, that many clients (threads with the workbench's own HTTP
//! client, streaming) send chat requests back to back; prints one JSON line
//! per level: requests/s, generated tokens/s, and p50 / p99 of the latency
//! and of the time to first token.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use engine::data::conversation::{Message, Role};
use engine::generate::target::AnswerSettings;
use engine::generate::{Loaded, SamplingParams};
use engine::jobs::CancelFlag;
use engine::model::decoder::quantize::Quantization;
use engine::remote::Endpoint;
use engine::serve::{ServeOptions, ServedModel};

/// Questions the clients ask in turn.
const QUESTIONS: [&str; 4] = [
    "How do I reset my VPN password?",
    "My laptop will not connect to the office printer. What should I try?",
    "How many vacation days do new employees get?",
    "Where do I request access to the internal wiki?",
];

/// The value at quantile `q` of sorted `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Runs the benchmark: `clients` levels, `requests` per level, `max_tokens` each.
pub fn serve(model: &std::path::Path, clients: &[usize], requests: usize, max_tokens: usize, quantize: Option<Quantization>) -> Result<()> {
    let loaded = Arc::new(Loaded::load_with(model, None, "model", quantize)?);
    let models = vec![ServedModel { name: "bench".into(), loaded, parent: None }];
    let server = engine::serve::start(ServeOptions { host: "127.0.0.1".into(), port: 0, api_key: None, models })?;
    let endpoint = Endpoint::new(&format!("http://{}", server.addr), "");
    let settings = AnswerSettings { max_new_tokens: max_tokens, ignore_eos: true, sampling: SamplingParams::default(), stop: Vec::new() };
    for &n in clients {
        let start = Instant::now();
        let per_client = requests.div_ceil(n);
        let results: Vec<Vec<(f64, f64, usize)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..n)
                .map(|c| {
                    let (endpoint, settings) = (endpoint.clone(), settings.clone());
                    s.spawn(move || {
                        (0..per_client)
                            .map(|i| {
                                let question = QUESTIONS[(c + i) % QUESTIONS.len()];
                                let messages = [Message { role: Role::User, content: question.into() }];
                                let t = Instant::now();
                                let a = endpoint.chat("bench", &messages, &settings, &CancelFlag::new(), |_| {})?;
                                Ok((t.elapsed().as_secs_f64(), a.stats.time_to_first_token_s, a.stats.completion_tokens))
                            })
                            .collect::<engine::Result<Vec<_>>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("client thread")).collect::<engine::Result<Vec<_>>>()
        })?;
        let wall = start.elapsed().as_secs_f64();
        let all: Vec<(f64, f64, usize)> = results.into_iter().flatten().collect();
        let mut latency: Vec<f64> = all.iter().map(|r| r.0).collect();
        let mut first: Vec<f64> = all.iter().map(|r| r.1).collect();
        latency.sort_by(f64::total_cmp);
        first.sort_by(f64::total_cmp);
        let tokens: usize = all.iter().map(|r| r.2).sum();
        let line = serde_json::json!({
            "system": "workbench serve",
            "model": model.display().to_string(),
            "weights": quantize.map_or_else(|| "f32".to_string(), |q| q.to_string()),
            "clients": n,
            "requests": all.len(),
            "max_tokens": max_tokens,
            "requests_per_s": all.len() as f64 / wall,
            "generated_tokens_per_s": tokens as f64 / wall,
            "latency_p50_s": quantile(&latency, 0.5),
            "latency_p99_s": quantile(&latency, 0.99),
            "first_token_p50_s": quantile(&first, 0.5),
            "first_token_p99_s": quantile(&first, 0.99),
        });
        println!("{line}");
    }
    server.stop();
    Ok(())
}
