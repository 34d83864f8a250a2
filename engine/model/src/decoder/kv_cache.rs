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
    use crate::testing::max_diff;
    use crate::{LoraSpec, Pass};

    /// Prefill then token by token (the slice path, [`super::super::decode`]),
    /// with a LoRA adapter and grouped-query heads, with a sliding window
    /// shorter than the sequence, with Qwen2's q/k/v biases and with Qwen3's
    /// per-head q/k norms (all norms away from one): each step's
    /// logits equal the full forward pass's at that position.
    #[test]
    fn cached_steps_equal_full_recomputation() {
        let models = [
            (None, "mistral"),
            (Some(5), "mistral"),
            (None, "qwen2"),
            (None, "qwen3"),
            (Some(6), "phi3"),
            (Some(3), "gemma2"),
            (Some(4), "gemma3_text"),
        ];
        for (window, model_type) in models {
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
            let targets = crate::linear::LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
            model.add_lora(&LoraSpec { rank: 2, alpha: 4.0, dropout: 0.1, targets }, 1).unwrap();
            for p in model.trainable() {
                p.var.set(&p.var.as_tensor().randn_like(0.0, 0.3).unwrap()).unwrap();
            }
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
                assert!(d < 1e-4, "{model_type}, window {window:?}, position {}: differs by {d}", prefill - 1 + k);
            }
            assert!(max_diff(&got[0], &got[1]) > 1e-3, "different positions gave the same logits");
        }
    }
}
