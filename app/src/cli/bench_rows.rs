//! `workbench bench decode-rows`: sequences decoded together, a token of
//! each per step through `Model::decode_rows` (every weight read once per
//! step for all rows), against the same sequences one at a time: aggregate
//! tokens/s and the time of a step, per row count.

use anyhow::Result;
use candle_core::{Device, Tensor};
use engine::generate::Loaded;
use engine::model::decoder::kv_cache::KvCache;
use engine::model::decoder::quantize::Quantization;

/// Prints one JSON line per row count in `rows`: `rows` sequences of
/// `prompt_tokens` prefilled, then `new_tokens` greedy steps of all of them
/// together (median of `rounds` after a warm-up).
pub fn decode_rows(
    dir: &std::path::Path,
    rows: &[usize],
    prompt_tokens: usize,
    new_tokens: usize,
    rounds: usize,
    quantize: Option<Quantization>,
) -> Result<()> {
    let loaded = Loaded::load_with(dir, None, "model", quantize)?;
    let ids = loaded.chat.tokenizer.encode(super::bench::DECODE_PROMPT, false).map_err(anyhow::Error::msg)?.get_ids().to_vec();
    anyhow::ensure!(ids.len() >= prompt_tokens, "the benchmark text has only {} tokens", ids.len());
    let starts = ids.len() - prompt_tokens + 1;
    let model = &loaded.model;
    for &n in rows {
        let mut times = Vec::new();
        for round in 0..=rounds {
            // Row r starts r tokens into the text (modulo what the text allows): the rows differ.
            let mut caches: Vec<KvCache> = Vec::with_capacity(n);
            let mut next = Vec::with_capacity(n);
            for r in 0..n {
                let mut cache = KvCache::new(model);
                let at = r % starts;
                let prompt = Tensor::new(&ids[at..at + prompt_tokens], &Device::Cpu)?.unsqueeze(0)?;
                next.push(argmax(&model.forward_cached(&prompt, &mut cache)?, 0)?);
                caches.push(cache);
            }
            let start = std::time::Instant::now();
            for _ in 0..new_tokens {
                let mut batch: Vec<&mut KvCache> = caches.iter_mut().collect();
                let logits = model.decode_rows(&next, &mut batch)?;
                next = (0..n).map(|r| argmax(&logits, r)).collect::<Result<_>>()?;
            }
            if round > 0 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        let median = super::bench::median(times);
        let line = serde_json::json!({
            "system": "workbench decode_rows",
            "model": dir.display().to_string(),
            "weights": quantize.map_or_else(|| "f32".to_string(), |q| q.to_string()),
            "rows": n,
            "prompt_tokens": prompt_tokens,
            "new_tokens": new_tokens,
            "step_ms": 1e3 * median / new_tokens as f64,
            "tokens_per_s": (n * new_tokens) as f64 / median,
            "threads": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        });
        println!("{line}");
    }
    Ok(())
}

/// The most likely token of row `r` of `logits [rows, vocab]`.
fn argmax(logits: &Tensor, r: usize) -> Result<u32> {
    Ok(logits.narrow(0, r, 1)?.flatten_all()?.argmax(0)?.to_scalar::<u32>()?)
}
