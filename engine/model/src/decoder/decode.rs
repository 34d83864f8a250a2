//! New tokens' pass through the decoder on the CPU in f32, on slices: one
//! token for each of a few sequences (a batch of decoding rows, each at its
//! own position with its own [`KvCache`]), where candle's per-op overhead
//! (an allocation, a dispatch and often a thread hand-over for each of some
//! fifty small ops a layer) would cost as much as the weights' reading. The
//! projections read each weight once for all rows
//! ([`rows_times_weight`]: streamed for a few rows, gemm for more); norms,
//! rotation, attention over each row's own cached keys and values
//! ([`attend_row`]) and the MLP's gate run on the rows. Adapters apply
//! unmerged. [`super::kv_cache`] calls it for single-token steps of f32 CPU
//! models and checks it against full recomputation.

use candle_core::quantized::{QMatMul, QTensor};
use candle_core::{Module, Result, Tensor};

use super::kv_cache::KvCache;
use super::{Layer, Model};
use crate::kernels::attention::{Heads, Scoring, attend_row};
use crate::kernels::projection::rows_times_weight;
use crate::kernels::{gated, held, norm};
use crate::linear::Linear;

const OP: &str = "decode step";

/// The f32 elements of a CPU tensor, for the time `f` runs.
fn with_slice<R>(t: &Tensor, what: &str, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let guard = t.storage_and_layout();
    f(held::<f32>(&guard, OP, what)?)
}

/// `x W^T + b + scale (x A^T) B^T` of the `m` rows `x`.
fn project(lin: &Linear, x: &[f32], m: usize) -> Result<Vec<f32>> {
    Ok(project_all(&[lin], x, m)?.remove(0))
}

/// [`project`] for projections sharing their input (q, k, v; gate, up):
/// quantized weights of one row go through candle's fused kernel together
/// (one quantization of `x`, one parallel region).
fn project_all(lins: &[&Linear], x: &[f32], m: usize) -> Result<Vec<Vec<f32>>> {
    let together = if m == 1 { quantized_together(lins, x)? } else { None };
    let mut ys = match together {
        Some(ys) => ys,
        None => lins.iter().map(|lin| weight_product(lin, x, m)).collect::<Result<_>>()?,
    };
    for (lin, y) in lins.iter().zip(&mut ys) {
        add_bias_and_adapter(lin, x, y, m)?;
    }
    Ok(ys)
}

/// The products `x W^T` of quantized weights and one row in one fused call, where candle has one for them.
fn quantized_together(lins: &[&Linear], x: &[f32]) -> Result<Option<Vec<Vec<f32>>>> {
    let tensors: Option<Vec<&QTensor>> = lins
        .iter()
        .map(|l| match l.quantized.as_deref() {
            Some(QMatMul::QTensor(t)) => Some(t.as_ref()),
            _ => None,
        })
        .collect();
    let (Some(tensors), Some(first)) = (tensors, lins.first().and_then(|l| l.quantized.as_deref())) else { return Ok(None) };
    if lins.len() < 2 {
        return Ok(None);
    }
    let xt = super::quantize::pad_input(first, &Tensor::from_slice(x, (1, x.len()), &candle_core::Device::Cpu)?)?;
    match QTensor::gemv_fused_shared_lhs(&tensors, &xt)? {
        Some(outs) => Ok(Some(outs.iter().map(|t| t.flatten_all()?.to_vec1::<f32>()).collect::<Result<_>>()?)),
        None => Ok(None),
    }
}

/// `x W^T` of `m` rows, through the quantized weight or the f32 one.
fn weight_product(lin: &Linear, x: &[f32], m: usize) -> Result<Vec<f32>> {
    let (out, inp) = lin.weight.dims2()?;
    match &lin.quantized {
        Some(q) => {
            let x = super::quantize::pad_input(q, &Tensor::from_slice(x, (m, inp), &candle_core::Device::Cpu)?)?;
            q.forward(&x)?.flatten_all()?.to_vec1::<f32>()
        }
        None => {
            let mut y = vec![0f32; m * out];
            with_slice(&lin.weight, "weight", |w| {
                rows_times_weight(&mut y, x, w, (m, inp, out), 1.0, false);
                Ok(())
            })?;
            Ok(y)
        }
    }
}

/// Adds the bias and the unmerged adapter's `scale (x A^T) B^T` to the `m` rows `y`.
fn add_bias_and_adapter(lin: &Linear, x: &[f32], y: &mut [f32], m: usize) -> Result<()> {
    let (out, inp) = lin.weight.dims2()?;
    if let Some(b) = &lin.bias {
        with_slice(b, "bias", |b| {
            y.chunks_mut(out).for_each(|row| row.iter_mut().zip(b).for_each(|(v, b)| *v += b));
            Ok(())
        })?;
    }
    if let Some(l) = &lin.lora {
        let r = l.a.as_tensor().dim(0)?;
        let mut down = vec![0f32; m * r];
        with_slice(l.a.as_tensor(), "lora_A", |a| {
            rows_times_weight(&mut down, x, a, (m, inp, r), 1.0, false);
            Ok(())
        })?;
        with_slice(&l.b()?, "lora_B", |b| {
            rows_times_weight(y, &down, b, (m, r, out), l.scale as f32, true);
            Ok(())
        })?;
    }
    Ok(())
}

/// RMSNorm of each row of `x` (rows as wide as `w`) with the weight `w`.
fn rms_norm(x: &[f32], w: &Tensor, eps: f64) -> Result<Vec<f32>> {
    with_slice(w, "norm weight", |w| Ok(norm::forward(x, w, eps)))
}

impl Model {
    /// Whether [`Model::decode_step`] runs this model (f32 on the CPU).
    pub(crate) fn decodes_on_slices(&self) -> bool {
        self.device.is_cpu() && self.dtype == candle_core::DType::F32
    }

    /// The logits `[1, vocab]` after token `id` at the position after those
    /// in `cache`, whose keys and values it adds to `cache`.
    pub(crate) fn decode_step(&self, id: u32, cache: &mut KvCache) -> Result<Tensor> {
        self.decode_rows(&[id], &mut [cache])
    }

    /// The logits `[n, vocab]` after the `n` tokens `ids`, one for each
    /// sequence of `caches` (each at the position after those in its cache,
    /// whose keys and values it adds there): every weight is read once for
    /// all of them. Each row's logits are those [`Model::decode_step`] gives
    /// it alone (up to the summation order of more than a few rows' products).
    pub fn decode_rows(&self, ids: &[u32], caches: &mut [&mut KvCache]) -> Result<Tensor> {
        let (cfg, m) = (&self.config, ids.len());
        if caches.len() != m || m == 0 {
            candle_core::bail!("{OP}: {m} tokens for {} caches", caches.len());
        }
        if !self.decodes_on_slices() {
            candle_core::bail!("{OP}: decoding rows runs f32 models on the CPU");
        }
        let h = cfg.hidden_size;
        let mut x = with_slice(&self.embed_tokens, "embedding", |e| {
            let mut rows = Vec::with_capacity(m * h);
            for &id in ids {
                let row = e.get(id as usize * h..(id as usize + 1) * h);
                rows.extend_from_slice(row.ok_or_else(|| candle_core::Error::Msg(format!("{OP}: token {id} is outside the vocabulary")))?);
            }
            Ok(rows)
        })?;
        if let Some(scale) = self.embedding_scale() {
            x.iter_mut().for_each(|v| *v *= scale);
        }
        let positions: Vec<usize> = caches.iter().map(|c| c.len()).collect();
        for (i, layer) in self.layers.iter().enumerate() {
            self.attention_residual_rows(layer, &mut x, &positions, caches, i)?;
            self.mlp_residual_rows(layer, &mut x, m)?;
        }
        caches.iter_mut().for_each(|c| c.advance(1));
        let last = rms_norm(&x, &self.norm, cfg.rms_norm_eps)?;
        if self.head_quantized.is_some() {
            return self.output_logits(&Tensor::from_vec(last, (m, h), &self.device)?);
        }
        let (vocab, _) = self.lm_head.dims2()?;
        let mut logits = vec![0f32; m * vocab];
        with_slice(&self.lm_head, "lm_head", |w| {
            rows_times_weight(&mut logits, &last, w, (m, h, vocab), 1.0, false);
            Ok(())
        })?;
        if let Some(cap) = cfg.final_logit_softcapping {
            let cap = cap as f32;
            logits.iter_mut().for_each(|l| *l = (*l / cap).tanh() * cap);
        }
        Tensor::from_vec(logits, (m, vocab), &self.device)
    }

    /// Adds layer `layer`'s attention output to each row of `x` (row `r` at
    /// position `positions[r]`, over its own cache's positions and this one)
    /// and pushes each row's key and value to its cache.
    fn attention_residual_rows(
        &self,
        layer: &Layer,
        x: &mut [f32],
        positions: &[usize],
        caches: &mut [&mut KvCache],
        i: usize,
    ) -> Result<()> {
        let (cfg, m) = (&self.config, positions.len());
        let a = &layer.self_attn;
        let hs = rms_norm(x, &layer.input_layernorm, cfg.rms_norm_eps)?;
        let [mut q, mut k, v]: [Vec<f32>; 3] =
            project_all(&[&a.q_proj, &a.k_proj, &a.v_proj], &hs, m)?.try_into().expect("three projections");
        if let (Some(qn), Some(kn)) = (&a.q_norm, &a.k_norm) {
            q = rms_norm(&q, qn, cfg.rms_norm_eps)?;
            k = rms_norm(&k, kn, cfg.rms_norm_eps)?;
        }
        let (qw, kw) = (q.len() / m, k.len() / m);
        let (heads, scoring) = (Heads::of(cfg), Scoring::of(cfg, i));
        let mut ctx = Vec::with_capacity(q.len());
        for (r, (&pos, cache)) in positions.iter().zip(caches.iter_mut()).enumerate() {
            let (qr, kr, vr) = (&mut q[r * qw..(r + 1) * qw], &mut k[r * kw..(r + 1) * kw], &v[r * kw..(r + 1) * kw]);
            self.ropes[i].rotate_at(qr, pos)?;
            self.ropes[i].rotate_at(kr, pos)?;
            ctx.extend(attend_row(qr, cache.layer(i), (kr, vr), (heads, pos), scoring));
            cache.push(i, kr, vr);
        }
        let mut o = project(&a.o_proj, &ctx, m)?;
        if layer.feedforward_norms.is_some() {
            o = rms_norm(&o, &layer.post_attention_layernorm, cfg.rms_norm_eps)?;
        }
        x.iter_mut().zip(&o).for_each(|(x, o)| *x += o);
        Ok(())
    }

    /// Adds layer `layer`'s MLP output to the `m` rows `x` (with the MLP's own
    /// norms before and after under sandwich norms).
    fn mlp_residual_rows(&self, layer: &Layer, x: &mut [f32], m: usize) -> Result<()> {
        let (mlp, eps) = (&layer.mlp, self.config.rms_norm_eps);
        let pre = layer.feedforward_norms.as_ref().map_or(&layer.post_attention_layernorm, |(pre, _)| pre);
        let hs = rms_norm(x, pre, eps)?;
        let [gate, up]: [Vec<f32>; 2] = project_all(&[&mlp.gate_proj, &mlp.up_proj], &hs, m)?.try_into().expect("two projections");
        let act = gated::forward(&gate, &up, self.activation);
        let mut down = project(&mlp.down_proj, &act, m)?;
        if let Some((_, post)) = &layer.feedforward_norms {
            down = rms_norm(&down, post, eps)?;
        }
        x.iter_mut().zip(&down).for_each(|(x, d)| *x += d);
        Ok(())
    }
}
