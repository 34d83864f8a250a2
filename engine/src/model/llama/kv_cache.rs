//! The forward pass of generation: the prompt once (prefill), then one new
//! token at a time, each layer's keys and values kept in a [`KvCache`] so
//! that a step computes only the new positions. Candle's ops on any device
//! (the projections still take the fused CPU kernel); LoRA adapters apply
//! unmerged, without dropout.

use candle_core::{Result, Tensor};

use super::Model;
use crate::model::kernels::attention::{Heads, attend_cached};
use crate::model::kernels::norm::rms_norm;

/// Each layer's keys and values `[batch, positions, kv_heads * head_dim]`
/// (keys rotated) for the positions seen so far.
#[derive(Debug, Clone)]
pub struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

impl KvCache {
    /// An empty cache for `model`.
    pub fn new(model: &Model) -> Self {
        Self { layers: vec![None; model.num_layers()], len: 0 }
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is cached yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Model {
    /// The logits `[batch, vocab]` of the last of `ids [batch, t]`, which
    /// continue the positions in `cache` (all of them when it is empty); the
    /// new keys and values are added to `cache`.
    pub fn forward_cached(&self, ids: &Tensor, cache: &mut KvCache) -> Result<Tensor> {
        let (_, t) = ids.dims2()?;
        let offset = cache.len;
        let cfg = &self.config;
        let mut x = self.embed(ids)?;
        for (i, entry) in cache.layers.iter_mut().enumerate() {
            let layer = &self.layers[i];
            let a = &layer.self_attn;
            let hs = rms_norm(&x, &layer.input_layernorm, cfg.rms_norm_eps)?;
            let q = self.rope.apply_from(&a.q_proj.forward(&hs, None)?, offset)?;
            let k = self.rope.apply_from(&a.k_proj.forward(&hs, None)?, offset)?;
            let v = a.v_proj.forward(&hs, None)?;
            let (k, v) = match entry.take() {
                Some((pk, pv)) => (Tensor::cat(&[&pk, &k], 1)?, Tensor::cat(&[&pv, &v], 1)?),
                None => (k, v),
            };
            let ctx = attend_cached(&q, &k, &v, Heads::of(cfg), cfg.attention_scale(), cfg.attention_window())?;
            *entry = Some((k, v));
            x = (&x + a.o_proj.forward(&ctx, None)?)?;
            x = self.mlp_residual(layer, &x, [None, None, None])?;
        }
        cache.len = offset + t;
        let last = x.narrow(1, t - 1, 1)?;
        self.head(&last)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;
    use crate::model::fused_check::max_diff;
    use crate::model::{LoraSpec, Pass};

    /// Prefill then token by token, with a LoRA adapter and grouped-query
    /// heads, and with a sliding window shorter than the sequence: each
    /// step's logits equal the full forward pass's at that position.
    #[test]
    fn cached_steps_equal_full_recomputation() {
        for window in [None, Some(5)] {
            let mut cfg = crate::sample_build::tiny_model_config(64);
            cfg.sliding_window = window;
            let mut model = Model::random(cfg, 4, DType::F32, &Device::Cpu).unwrap();
            let targets = crate::config::LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
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
                assert!(d < 1e-4, "window {window:?}, position {}: differs by {d}", prefill - 1 + k);
            }
            assert!(max_diff(&got[0], &got[1]) > 1e-3, "different positions gave the same logits");
        }
    }
}
