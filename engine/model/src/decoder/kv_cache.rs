//! The forward pass of generation: the prompt once (prefill), then one new
//! token at a time, each layer's keys and values kept in a [`KvCache`] so
//! that a step computes only the new positions. A single-token step of an
//! f32 CPU model runs on slices ([`super::decode`]); the prefill, and every
//! step on other devices or dtypes, runs candle's ops (the projections still
//! take the fused CPU kernel). LoRA adapters apply unmerged, without dropout.

use candle_core::{DType, Result, Tensor};

use super::Model;
use crate::kernels::attention::{Heads, Scoring, attend_cached};
use crate::kernels::norm::rms_norm;

/// Each layer's keys (rotated) and values for the positions seen so far, of
/// one sequence: `[positions, kv_heads * head_dim]` f32 rows that grow in
/// place (amortised), so a step copies only its own row.
#[derive(Debug, Clone)]
pub struct KvCache {
    keys: Vec<Vec<f32>>,
    values: Vec<Vec<f32>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `model`.
    pub fn new(model: &Model) -> Self {
        Self { keys: vec![Vec::new(); model.num_layers()], values: vec![Vec::new(); model.num_layers()], len: 0 }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Layer `i`'s cached keys and values.
    pub(crate) fn layer(&self, i: usize) -> (&[f32], &[f32]) {
        (&self.keys[i], &self.values[i])
    }

    /// Appends rows of keys and values to layer `i` (then [`Self::advance`] once for all layers).
    pub(crate) fn push(&mut self, i: usize, k: &[f32], v: &[f32]) {
        self.keys[i].extend_from_slice(k);
        self.values[i].extend_from_slice(v);
    }

    /// Counts `n` more positions, once every layer has pushed them.
    pub(crate) fn advance(&mut self, n: usize) {
        self.len += n;
    }
}

impl Model {
    /// The logits `[1, vocab]` of the last of `ids [1, t]`, which continue the
    /// positions in `cache` (all of them when it is empty); the new keys and
    /// values are added to `cache`. One sequence at a time.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let (b, t) = ids.dims2()?;
        if b != 1 {
            candle_core::bail!("generation caches one sequence at a time, not a batch of {b}");
        }
        if t == 1 && self.decodes_on_slices() {
            let id = ids.flatten_all()?.to_vec1::<u32>()?[0];
            return self.decode_step(id, cache);
        }
        let offset = cache.len;
        let cfg = &self.config;
        let mut x = self.embed(ids)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let a = &layer.self_attn;
            let hs = rms_norm(&x, &layer.input_layernorm, cfg.rms_norm_eps)?;
            let (q, k, v) = self.queries_keys_values(i, &hs, [None, None, None], Some(offset))?;
            let rows = |t: &Tensor| t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>();
            let (new_k, new_v) = (rows(&k)?, rows(&v)?);
            let (k, v) = if offset == 0 {
                (k, v)
            } else {
                let width = k.dim(2)?;
                let cached = |rows: &[f32]| Tensor::from_slice(rows, (1, offset, width), &self.device)?.to_dtype(self.dtype);
                let (ck, cv) = cache.layer(i);
                (Tensor::cat(&[&cached(ck)?, &k], 1)?, Tensor::cat(&[&cached(cv)?, &v], 1)?)
            };
            let ctx = attend_cached(&q, &k, &v, Heads::of(cfg), Scoring::of(cfg, i))?;
            cache.push(i, &new_k, &new_v);
            x = self.attention_residual(layer, &x, &a.o_proj.forward(&ctx, None)?)?;
            x = self.mlp_residual(layer, &x, [None, None, None])?;
        }
        cache.advance(t);
        let last = x.narrow(1, t - 1, 1)?;
        self.head(&last)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;
    use crate::Pass;
    use crate::testing::max_diff;

    /// Tiny models of each family with a LoRA adapter on every projection
    /// (B non-zero, dropout set but off when decoding), grouped-query heads
    /// and norms away from one: with a sliding window shorter than the
    /// sequence, Qwen2's q/k/v biases, Qwen3's per-head q/k norms, Phi-3's
    /// fused adapters and partial rotation, Gemma's layer.
    fn tiny_models() -> Vec<(String, Model)> {
        let models = [
            (None, "mistral"),
            (Some(5), "mistral"),
            (None, "qwen2"),
            (None, "qwen3"),
            (Some(6), "phi3"),
            (Some(3), "gemma2"),
            (Some(4), "gemma3_text"),
        ];
        models
            .into_iter()
            .map(|(window, model_type)| {
                let mut cfg = crate::presets::tiny_model_config(64);
                cfg.sliding_window = window;
                cfg.model_type = model_type.into();
                if model_type == "qwen3" {
                    cfg.head_dim = Some(10); // four heads of 10: a query width other than the hidden size
                }
                if model_type == "phi3" {
                    cfg.partial_rotary_factor = Some(0.5); // fused q/k/v and gate/up adapters, half of each head rotated
                }
                if model_type.starts_with("gemma") {
                    crate::decoder::gemma_like(&mut cfg);
                }
                let mut model = Model::random(cfg, 4, DType::F32, &Device::Cpu).unwrap();
                model.perturb_norms(0.3);
                crate::testing::adapt_every_projection(&mut model, (2, 4.0, 0.1), 1);
                (format!("{model_type}, window {window:?}"), model)
            })
            .collect()
    }

    /// Prefill then token by token (the slice path, [`super::super::decode`]):
    /// each step's logits equal the full forward pass's at that position.
    #[test]
    fn cached_steps_equal_full_recomputation() {
        for (label, model) in tiny_models() {
            let ids: Vec<u32> = vec![1, 7, 33, 12, 5, 60, 2, 9, 41, 17, 3];
            let full = model.forward(&Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap(), Pass::Eval).unwrap();
            let mut cache = KvCache::new(&model);
            let prefill = 4;
            let first = Tensor::new(&ids[..prefill], &Device::Cpu).unwrap().unsqueeze(0).unwrap();
            let mut got = vec![model.forward_cached(&first, &mut cache).unwrap()];
            for &id in &ids[prefill..] {
                got.push(model.forward_cached(&Tensor::new(&[[id]], &Device::Cpu).unwrap(), &mut cache).unwrap());
            }
            assert_eq!(cache.len(), ids.len());
            for (k, logits) in got.iter().enumerate() {
                let want = full.narrow(0, prefill - 1 + k, 1).unwrap();
                let d = max_diff(logits, &want);
                assert!(d < 1e-4, "{label}, position {}: differs by {d}", prefill - 1 + k);
            }
            assert!(max_diff(&got[0], &got[1]) > 1e-3, "different positions gave the same logits");
        }
    }

    /// Sequences of different lengths decoded together, a token of each per
    /// step (six rows through gemm, then four streamed after two are dropped
    /// midway, as a cancelled or finished sequence is): each row's logits are
    /// those it gets decoded alone, and the rows differ from each other.
    #[test]
    fn rows_decoded_together_equal_each_decoded_alone() {
        let prompts: [&[u32]; 6] = [&[1, 7, 33], &[5], &[2, 9, 41, 17, 3, 8, 11], &[60, 12], &[4, 4, 4, 4], &[30, 31, 32, 33, 34]];
        let token = |row: usize, step: usize| ((row * 7 + step * 3 + 1) % 64) as u32;
        let (steps, dropped_at, dropped) = (6, 3, [1, 4]);
        for (label, model) in tiny_models() {
            let prefilled = |p: &[u32]| {
                let mut cache = KvCache::new(&model);
                model.forward_cached(&Tensor::new(p, &Device::Cpu).unwrap().unsqueeze(0).unwrap(), &mut cache).unwrap();
                cache
            };
            let alone: Vec<Vec<Tensor>> = prompts
                .iter()
                .enumerate()
                .map(|(r, p)| {
                    let mut cache = prefilled(p);
                    (0..steps).map(|s| model.decode_step(token(r, s), &mut cache).unwrap()).collect()
                })
                .collect();
            let mut caches: Vec<KvCache> = prompts.iter().map(|p| prefilled(p)).collect();
            let mut rows: Vec<usize> = (0..prompts.len()).collect();
            for s in 0..steps {
                if s == dropped_at {
                    rows.retain(|r| !dropped.contains(r));
                }
                let ids: Vec<u32> = rows.iter().map(|&r| token(r, s)).collect();
                let mut batch: Vec<&mut KvCache> =
                    caches.iter_mut().enumerate().filter(|(r, _)| rows.contains(r)).map(|(_, c)| c).collect();
                let logits = model.decode_rows(&ids, &mut batch).unwrap();
                assert_eq!(logits.dims2().unwrap().0, rows.len());
                for (k, &r) in rows.iter().enumerate() {
                    let d = max_diff(&logits.narrow(0, k, 1).unwrap(), alone[r].get(s).unwrap());
                    assert!(d < 1e-4, "{label}: row {r} at step {s} ({} rows) differs by {d}", rows.len());
                }
                assert!(max_diff(&logits.narrow(0, 0, 1).unwrap(), &logits.narrow(0, 1, 1).unwrap()) > 1e-3, "{label}: rows alike");
            }
            for (r, cache) in caches.iter().enumerate() {
                let decoded = if dropped.contains(&r) { dropped_at } else { steps };
                assert_eq!(cache.len(), prompts[r].len() + decoded, "{label}: row {r}'s cache");
            }
        }
    }
}
