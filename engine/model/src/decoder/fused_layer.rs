//! The decoder layer of a LoRA fine-tune on the CPU, with its backward pass
//! written out: the same fused kernels as the candle ops (`norm`,
//! `projection`, `rope`, `attention`, `gated`) called on slices, and the
//! residual adds accumulated into the `o_proj` and `down_proj` outputs (or,
//! under Gemma's sandwich norms, added after those outputs' norms).
//!
//! Why: candle's reverse pass gives every edge of the graph a zero-filled
//! gradient buffer and adds the incoming gradient to it, even when that is
//! the only contribution; for one layer that is about twenty full-size
//! buffers zero-filled and added. Here each gradient is written once, and
//! the sums (the three projections reading the first norm's output, gate and
//! up reading the second's) are accumulated by the matrix kernel itself.
//!
//! It computes the same function and the same gradients as
//! [`Model::layer_forward`] under candle's autograd (tested below, and by the
//! training tests); training uses it on the CPU when only LoRA adapters are
//! trained ([`super::backprop`]), and candle's autograd elsewhere (GPUs, full
//! fine-tuning). The dropout masks come from [`Model::dropout_masks`], as
//! there.

use candle_core::{DType, Result, Var, WithDType};
use rayon::prelude::*;

use super::{LayerView, Model, Pass};
use crate::kernels::attention::{self, Geometry};
use crate::kernels::projection::{AdapterSlices, DropoutMask, FrozenWeight, backward_into, forward_into};
use crate::kernels::{Real, gated, held, norm, uninit_output};

const OP: &str = "fused layer";

/// Whether training `model` can use the fused layer: on the CPU, in f32 or
/// f64, with LoRA adapters as the only trainable parameters.
pub(crate) fn applies(model: &Model) -> bool {
    let frozen = (0..model.num_layers()).all(|i| {
        let v = model.layer_view(i);
        !v.input_norm.is_variable()
            && !v.post_norm.is_variable()
            && !v.feedforward_norms.is_some_and(|(pre, post)| pre.is_variable() || post.is_variable())
            && !v.qk_norms.is_some_and(|(q, k)| q.is_variable() || k.is_variable())
            && v.projections.iter().all(|p| !p.weight.is_variable() && !p.bias.as_ref().is_some_and(|b| b.is_variable()))
    });
    model.device().is_cpu() && matches!(model.dtype(), DType::F32 | DType::F64) && !model.trainable().is_empty() && frozen
}

/// What the forward pass keeps for the backward pass.
pub(crate) struct Tape<T> {
    hs1: Vec<T>,
    /// The q and k projections before their per-head norms, where the family has them.
    q_raw: Option<Vec<T>>,
    k_raw: Option<Vec<T>>,
    q: Vec<T>,
    k: Vec<T>,
    v: Vec<T>,
    ctx: Vec<T>,
    /// The attention's and the MLP's outputs before their sandwich norms, where the family has them.
    attn_out: Option<Vec<T>>,
    mlp_out: Option<Vec<T>>,
    x2: Vec<T>,
    hs2: Vec<T>,
    gate: Vec<T>,
    up: Vec<T>,
    act: Vec<T>,
    masks: [Option<DropoutMask>; 7],
    /// Each adapter's `s (m ⊙ x) A^T` (the backward pass recomputes one that is missing).
    downs: [Option<Vec<T>>; 7],
}

/// A layer's weights as slices: norms, then per projection `W` and the adapter.
struct Weights<'a, T> {
    input_norm: &'a [T],
    post_norm: &'a [T],
    /// The sandwich norms' weights (before and after the MLP).
    feedforward_norms: Option<(&'a [T], &'a [T])>,
    /// The per-head q and k norms' weights.
    qk_norms: Option<(&'a [T], &'a [T])>,
    projections: Vec<Projection<'a, T>>,
}

/// One projection's frozen weight and bias, its shape and its adapter factors.
struct Projection<'a, T> {
    w: FrozenWeight<'a, T>,
    bias: Option<&'a [T]>,
    fin: usize,
    fout: usize,
    /// `(A, B, rank, scale)`.
    adapter: Option<(&'a [T], &'a [T], usize, f64)>,
}

/// Runs `f` on the layer's weights as slices (read guards held meanwhile).
fn with_weights<T: WithDType, R>(view: &LayerView<'_>, f: impl FnOnce(&Weights<'_, T>) -> Result<R>) -> Result<R> {
    let norms = [view.input_norm.storage_and_layout(), view.post_norm.storage_and_layout()];
    let feedforward_norms = view.feedforward_norms.map(|(pre, post)| (pre.storage_and_layout(), post.storage_and_layout()));
    let qk_norms = view.qk_norms.map(|(q, k)| (q.storage_and_layout(), k.storage_and_layout()));
    let weights: Vec<_> = view.projections.iter().map(|p| p.weight.storage_and_layout()).collect();
    let biases: Vec<_> = view.projections.iter().map(|p| p.bias.as_ref().map(|b| b.storage_and_layout())).collect();
    // Each projection's rows of `B` (all of it but in a fused module's adapter).
    let parts_of_b: Vec<Option<candle_core::Tensor>> =
        view.projections.iter().map(|p| p.lora.as_ref().map(|l| l.b()).transpose()).collect::<Result<_>>()?;
    let adapters: Vec<_> = view
        .projections
        .iter()
        .zip(&parts_of_b)
        .map(|(p, b)| p.lora.as_ref().zip(b.as_ref()).map(|(l, b)| (l.a.as_tensor().storage_and_layout(), b.storage_and_layout(), l.scale)))
        .collect();
    let mut projections = Vec::with_capacity(weights.len());
    for (((p, w), bias), adapter) in view.projections.iter().zip(&weights).zip(&biases).zip(&adapters) {
        let (fout, fin) = p.weight.dims2()?;
        let adapter = match (adapter, &p.lora) {
            (Some((a, b, scale)), Some(l)) => Some((held(a, OP, "lora_A")?, held(b, OP, "lora_B")?, l.a.dim(0)?, *scale)),
            _ => None,
        };
        let bias = bias.as_ref().map(|b| held(b, OP, "bias")).transpose()?;
        let w = FrozenWeight { values: held(w, OP, "weight")?, bf16: p.bf16.as_deref() };
        projections.push(Projection { w, bias, fin, fout, adapter });
    }
    let qk_norms = match &qk_norms {
        Some((q, k)) => Some((held(q, OP, "q_norm")?, held(k, OP, "k_norm")?)),
        None => None,
    };
    let feedforward_norms = match &feedforward_norms {
        Some((pre, post)) => Some((held(pre, OP, "pre_feedforward_layernorm")?, held(post, OP, "post_feedforward_layernorm")?)),
        None => None,
    };
    let (input_norm, post_norm) = (held(&norms[0], OP, "norm")?, held(&norms[1], OP, "norm")?);
    f(&Weights { input_norm, post_norm, feedforward_norms, qk_norms, projections })
}

/// Layer `i` on `x [b * t, hidden]` (row-major): the output and the tape.
pub(crate) fn forward<T: Real>(model: &Model, i: usize, x: &[T], dims: (usize, usize), pass: Pass) -> Result<(Vec<T>, Tape<T>)> {
    let (out, tape) = run(model, i, x, dims, pass, true)?;
    Ok((out.expect("asked for the output"), tape))
}

/// Only the tape of layer `i` (gradient checkpointing's recomputation): the
/// same as [`forward`] without the `down_proj` product and residual add that
/// make the output nobody reads.
pub(crate) fn record<T: Real>(model: &Model, i: usize, x: &[T], dims: (usize, usize), pass: Pass) -> Result<Tape<T>> {
    Ok(run(model, i, x, dims, pass, false)?.1)
}

/// The forward pass, with the layer's output when `output`.
fn run<T: Real>(model: &Model, i: usize, x: &[T], (b, t): (usize, usize), pass: Pass, output: bool) -> Result<(Option<Vec<T>>, Tape<T>)> {
    let cfg = &model.config;
    let view = model.layer_view(i);
    let n = b * t;
    check_len(x.len(), n, cfg.hidden_size, "input")?;
    let masks = model.dropout_masks(i, n, pass)?;
    let eps = cfg.rms_norm_eps;
    with_weights(&view, |w: &Weights<'_, T>| {
        let downs: std::cell::RefCell<[Option<Vec<T>>; 7]> = Default::default();
        let project = |j: usize, input: &[T], dst: &mut [T], accumulate: bool| {
            let p = &w.projections[j];
            let adapter = p.adapter.map(|(a, b, r, scale)| AdapterSlices { a, b, r, scale, mask: masks[j].as_ref() });
            downs.borrow_mut()[j] = forward_into(dst, input, p.w, (n, p.fin, p.fout), adapter.as_ref(), accumulate);
            if let Some(bias) = p.bias {
                dst.par_chunks_mut(p.fout).for_each(|row| row.iter_mut().zip(bias).for_each(|(y, &b)| *y += b));
            }
        };
        let fresh = |j: usize, input: &[T]| uninit_output(n * w.projections[j].fout, |d| project(j, input, d, false));
        let hs1 = norm::forward(x, w.input_norm, eps);
        // The per-head norm's input is kept for its backward pass.
        let head_norm = |raw: Vec<T>, weight: Option<&[T]>| match weight {
            Some(weight) => (norm::forward(&raw, weight, eps), Some(raw)),
            None => (raw, None),
        };
        let (q, q_raw) = head_norm(fresh(0, &hs1), w.qk_norms.map(|n| n.0));
        let (k, k_raw) = head_norm(fresh(1, &hs1), w.qk_norms.map(|n| n.1));
        let q = view.rope.rotate(&q, t, w.projections[0].fout, false)?;
        let k = view.rope.rotate(&k, t, w.projections[1].fout, false)?;
        let v = fresh(2, &hs1);
        let ctx = attention::forward(&Geometry::of(cfg, i, b, t), &q, &k, &v);
        let (x2, attn_out) = match w.feedforward_norms {
            None => {
                let mut x2 = x.to_vec();
                project(3, &ctx, &mut x2, true);
                (x2, None)
            }
            Some(_) => {
                let o = fresh(3, &ctx);
                let mut x2 = norm::forward(&o, w.post_norm, eps);
                add_into(&mut x2, x);
                (x2, Some(o))
            }
        };
        let hs2 = norm::forward(&x2, w.feedforward_norms.map_or(w.post_norm, |(pre, _)| pre), eps);
        let (gate, up) = (fresh(4, &hs2), fresh(5, &hs2));
        let act = gated::forward(&gate, &up, view.activation);
        // Under sandwich norms the backward pass needs the MLP's output, so it is computed even for the tape alone.
        let (out, mlp_out) = match w.feedforward_norms {
            None => {
                let out = output.then(|| {
                    let mut out = x2.clone();
                    project(6, &act, &mut out, true);
                    out
                });
                (out, None)
            }
            Some((_, post)) => {
                let o = fresh(6, &act);
                let out = output.then(|| {
                    let mut out = norm::forward(&o, post, eps);
                    add_into(&mut out, &x2);
                    out
                });
                (out, Some(o))
            }
        };
        let downs = downs.into_inner();
        Ok((out, Tape { hs1, q_raw, k_raw, q, k, v, ctx, attn_out, mlp_out, x2, hs2, gate, up, act, masks, downs }))
    })
}

/// The backward pass of layer `i` for the output gradient `g_out`: hands each
/// adapter factor's gradient to `grads` and returns the input's gradient.
pub(crate) fn backward<T: Real>(
    model: &Model,
    i: usize,
    x: &[T],
    (b, t): (usize, usize),
    tape: &Tape<T>,
    g_out: &[T],
    grads: &mut dyn FnMut(&Var, Vec<T>) -> Result<()>,
) -> Result<Vec<T>> {
    let cfg = &model.config;
    let view = model.layer_view(i);
    let n = b * t;
    check_len(x.len(), n, cfg.hidden_size, "input")?;
    check_len(g_out.len(), n, cfg.hidden_size, "output gradient")?;
    let eps = cfg.rms_norm_eps;
    // (projection index, (dA, dB)), handed over once the weights' read guards are released.
    let mut adapter_grads: Vec<(usize, AdapterGrads<T>)> = Vec::new();
    let g_x = with_weights(&view, |w: &Weights<'_, T>| {
        let mut back = |j: usize, input: &[T], g: &[T], dst: &mut [T], accumulate: bool| {
            let p = &w.projections[j];
            let adapter = p.adapter.map(|(a, b, r, scale)| AdapterSlices { a, b, r, scale, mask: tape.masks[j].as_ref() });
            let down = tape.downs[j].as_deref();
            if let Some(pair) = backward_into(dst, input, p.w, g, (n, p.fin, p.fout), adapter.as_ref(), down, accumulate) {
                adapter_grads.push((j, pair));
            }
        };
        let width = |j: usize| w.projections[j].fin;
        // Through the sandwich norm after a block's output, where there is one.
        let through = |out: &Option<Vec<T>>, weight: &[T], g: &[T]| out.as_ref().map(|o| norm::grad_x(o, weight, g, eps));
        let g_mlp = w.feedforward_norms.and_then(|(_, post)| through(&tape.mlp_out, post, g_out));
        let g_act = uninit_output(n * width(6), |d| back(6, &tape.act, g_mlp.as_deref().unwrap_or(g_out), d, false));
        let g_gate = gated::backward(&tape.gate, &tape.up, &g_act, true, view.activation);
        let g_up = gated::backward(&tape.gate, &tape.up, &g_act, false, view.activation);
        let g_hs2 = uninit_output(n * width(4), |d| {
            back(4, &tape.hs2, &g_gate, d, false);
            back(5, &tape.hs2, &g_up, d, true);
        });
        let mut g_x2 = norm::grad_x(&tape.x2, w.feedforward_norms.map_or(w.post_norm, |(pre, _)| pre), &g_hs2, eps);
        add_into(&mut g_x2, g_out);
        let g_attn = w.feedforward_norms.and_then(|_| through(&tape.attn_out, w.post_norm, &g_x2));
        let g_ctx = uninit_output(n * width(3), |d| back(3, &tape.ctx, g_attn.as_deref().unwrap_or(&g_x2), d, false));
        let all = attention::backward(&Geometry::of(cfg, i, b, t), (&tape.q, &tape.k, &tape.v), &tape.ctx, &g_ctx);
        let (gq, rest) = all.split_at(tape.q.len());
        let (gk, gv) = rest.split_at(tape.k.len());
        let head_norm_grad = |g: Vec<T>, raw: &Option<Vec<T>>, weight: Option<&[T]>| match (raw, weight) {
            (Some(raw), Some(weight)) => norm::grad_x(raw, weight, &g, eps),
            _ => g,
        };
        let gq = head_norm_grad(view.rope.rotate(gq, t, w.projections[0].fout, true)?, &tape.q_raw, w.qk_norms.map(|n| n.0));
        let gk = head_norm_grad(view.rope.rotate(gk, t, w.projections[1].fout, true)?, &tape.k_raw, w.qk_norms.map(|n| n.1));
        let g_hs1 = uninit_output(n * width(0), |d| {
            back(0, &tape.hs1, &gq, d, false);
            back(1, &tape.hs1, &gk, d, true);
            back(2, &tape.hs1, gv, d, true);
        });
        let mut g_x = norm::grad_x(x, w.input_norm, &g_hs1, eps);
        add_into(&mut g_x, &g_x2);
        Ok(g_x)
    })?;
    for (j, (ga, gb)) in adapter_grads {
        let lora = view.projections[j].lora.as_ref().expect("gradients come from adapters");
        // The parts of a fused module's adapter hand over the same `A`: the sink sums them.
        grads(&lora.a, ga)?;
        grads(&lora.b, lora.b_grad_in_full(gb))?;
    }
    Ok(g_x)
}

/// An error unless `len` is `n` rows of `width`.
fn check_len(len: usize, n: usize, width: usize, what: &str) -> Result<()> {
    if len != n * width {
        return Err(candle_core::Error::Msg(format!("{OP}: the {what} has {len} values, expected {n} x {width}")));
    }
    Ok(())
}

/// The gradients of one adapter's `A` and `B`.
type AdapterGrads<T> = (Vec<T>, Vec<T>);

/// `dst += src`, in parallel.
fn add_into<T: Real>(dst: &mut [T], src: &[T]) {
    dst.par_chunks_mut(1 << 14).zip(src.par_chunks(1 << 14)).for_each(|(d, s)| d.iter_mut().zip(s).for_each(|(d, &s)| *d += s));
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use candle_core::{Device, Tensor};

    use super::*;
    use crate::testing::max_diff;

    /// The fused layer and candle's autograd over `Model::layer_forward`
    /// agree on the output, the input's gradient and every adapter gradient:
    /// two row blocks of attention, grouped-query heads, a sliding window
    /// (Mistral) or q/k/v biases (Qwen2), LoRA dropout, non-zero B factors.
    #[test]
    fn matches_candle_autograd_on_layer_forward() {
        let mut mistral = crate::presets::tiny_model_config(64);
        mistral.sliding_window = Some(40);
        let mut qwen2 = crate::presets::tiny_model_config(64);
        qwen2.model_type = "qwen2".into();
        for cfg in [mistral, qwen2, qwen3_config(), phi3_config(), gemma_config("gemma2"), gemma_config("gemma3_text")] {
            check_layer_against_autograd(cfg);
        }
    }

    /// A tiny Gemma 2 or Gemma 3: layer 1 (the one checked) slides, with
    /// sandwich norms, GELU-tanh, soft caps (Gemma 2) or per-head norms and a
    /// local RoPE base (Gemma 3).
    fn gemma_config(model_type: &str) -> crate::ModelConfig {
        let mut cfg = crate::presets::tiny_model_config(64);
        cfg.model_type = model_type.into();
        cfg.sliding_window = Some(40);
        crate::decoder::gemma_like(&mut cfg);
        cfg
    }

    /// A tiny Phi-4-mini-like Phi-3: fused q/k/v and gate/up adapters (one
    /// `A` per fused module, dropout shared), a partial rotary embedding.
    fn phi3_config() -> crate::ModelConfig {
        let mut cfg = crate::presets::tiny_model_config(64);
        cfg.model_type = "phi3".into();
        cfg.architectures = vec!["Phi3ForCausalLM".into()];
        cfg.partial_rotary_factor = Some(0.5);
        cfg
    }

    /// A tiny Qwen3: per-head q/k norms, a head width that does not divide the hidden size.
    fn qwen3_config() -> crate::ModelConfig {
        let mut cfg = crate::presets::tiny_model_config(64);
        cfg.model_type = "qwen3".into();
        cfg.architectures = vec!["Qwen3ForCausalLM".into()];
        cfg.head_dim = Some(cfg.hidden_size / cfg.num_attention_heads + 2);
        cfg
    }

    fn check_layer_against_autograd(cfg: crate::ModelConfig) {
        let mut model = Model::random(cfg, 5, DType::F64, &Device::Cpu).unwrap();
        model.perturb_norms(0.3);
        crate::testing::adapt_every_projection(&mut model, (3, 6.0, 0.2), 9);
        assert!(applies(&model));
        assert_eq!(model.layer_view(1).projections[0].bias.is_some(), model.config.model_type == "qwen2");
        let (b, t, h) = (2, 70, model.config.hidden_size);
        let pass = Pass::Train { seed: 11 };
        let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (b, t, h), &Device::Cpu).unwrap()).unwrap();
        let up = Tensor::randn(0f64, 1.0, (b, t, h), &Device::Cpu).unwrap();

        let out = model.layer_forward(1, x.as_tensor(), &model.masks(t).unwrap()[1], pass).unwrap();
        let store = (&out * &up).unwrap().sum_all().unwrap().backward().unwrap();

        let xs: Vec<f64> = x.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
        let (fused_out, tape) = forward::<f64>(&model, 1, &xs, (b, t), pass).unwrap();
        let mut grads = HashMap::new();
        let g: Vec<f64> = up.flatten_all().unwrap().to_vec1().unwrap();
        let gx = backward(&model, 1, &xs, (b, t), &tape, &g, &mut |var: &Var, g: Vec<f64>| {
            let g = Tensor::from_vec(g, var.shape(), &Device::Cpu)?;
            let sum = match grads.remove(&var.as_tensor().id()) {
                Some(acc) => (acc + g)?,
                None => g,
            };
            grads.insert(var.as_tensor().id(), sum);
            Ok(())
        })
        .unwrap();

        let as_tensor = |v: Vec<f64>| Tensor::from_vec(v, (b, t, h), &Device::Cpu).unwrap();
        assert!(max_diff(&as_tensor(fused_out), &out) < 1e-12);
        assert!(max_diff(&as_tensor(gx), store.get(x.as_tensor()).unwrap()) < 1e-10);
        let layer_params: Vec<_> = model.trainable().iter().filter(|p| p.name.contains("layers.1.")).collect();
        assert_eq!(layer_params.len(), 2 * model.config.family().modules().len());
        for p in layer_params {
            let fused = grads.get(&p.var.as_tensor().id()).unwrap_or_else(|| panic!("no gradient for {}", p.name));
            let d = max_diff(fused, store.get(p.var.as_tensor()).unwrap());
            assert!(d < 1e-10, "{} differs by {d}", p.name);
        }
    }
}
