//! The head of a LoRA fine-tune on the CPU: final RMSNorm, output projection
//! and weighted cross-entropy, forward and backward together, over blocks of
//! rows, for the rows that carry loss only.
//!
//! Why: the logits are `[tokens, vocab]`, with SmolLM2's 49,152-token
//! vocabulary 200 MB for a batch of 1,024 tokens, and candle's autograd keeps
//! them, their gradient and a zero-filled buffer for it. Here a block of rows
//! (64 MiB of logits) is projected, turned into its gradient in place
//! (`w * scale * (softmax - onehot)`) and multiplied back into the hidden
//! gradient before the next block; rows without loss (prompts, padding) are
//! never projected. Same function and gradients as [`Model::head`] with
//! [`weighted_nll_sum`](crate::kernels::cross_entropy::weighted_nll_sum)
//! under candle's autograd (tested below).

use candle_core::{DType, Result};
use rayon::prelude::*;

use super::Model;
use crate::batch::Batch;
use crate::kernels::cross_entropy::{row_grad_in_place, row_nll};
use crate::kernels::projection::{FrozenWeight, backward_into, forward_into};
use crate::kernels::{Real, held, norm, uninit_output};

const OP: &str = "fused head";
/// Logit values per block of rows (64 MiB of f32)...
const BLOCK_VALUES: usize = 1 << 24;
/// ...but never fewer rows than this: the matrix products of thin blocks are
/// slow (measured on SmolLM2: 21 rows per block 4.8 s a step, 85 rows 3.9 s, 341 rows 3.5 s).
const MIN_BLOCK_ROWS: usize = 256;

/// Rows per block for a vocabulary of `vocab` tokens.
pub(crate) fn block_rows(vocab: usize) -> usize {
    (BLOCK_VALUES / vocab.max(1)).max(MIN_BLOCK_ROWS)
}

/// The summed weighted token loss of `batch` (unscaled) for the last layer's
/// output `x [tokens, hidden]`, and the gradient of `scale` times it with
/// respect to `x`. The head's weights are frozen.
pub(crate) fn loss_and_grad<T: Real>(model: &Model, x: &[T], batch: &Batch, scale: f64) -> Result<(f64, Vec<T>)> {
    let (h, v, eps) = (model.config.hidden_size, model.config.vocab_size, model.config.rms_norm_eps);
    let n = x.len() / h;
    let targets: Vec<u32> = batch.targets.flatten_all()?.to_vec1()?;
    let weights: Vec<f64> = batch.weights.flatten_all()?.to_dtype(DType::F64)?.to_vec1()?;
    if targets.len() != n || weights.len() != n {
        candle_core::bail!("{OP}: {} targets and {} weights for {n} rows", targets.len(), weights.len());
    }
    let rows: Vec<usize> = (0..n).filter(|&r| weights[r] != 0.0).collect();
    let norm_guard = model.norm.storage_and_layout();
    let head_guard = model.lm_head.storage_and_layout();
    let w_norm = held::<T>(&norm_guard, OP, "norm")?;
    let w_head = FrozenWeight { values: held::<T>(&head_guard, OP, "lm_head")?, bf16: model.head_bf16.as_deref() };

    let hs = norm::forward(x, w_norm, eps);
    let mut g_hs = vec![T::zero(); n * h];
    let mut sum = 0f64;
    for block in rows.chunks(block_rows(v)) {
        let c = block.len();
        let input: Vec<T> = block.iter().flat_map(|&r| hs[r * h..(r + 1) * h].iter().copied()).collect();
        let mut logits = uninit_output(c * v, |d| {
            forward_into(d, &input, w_head, (c, h, v), None, false);
        });
        let cap = model.config.final_logit_softcapping.map(T::from_f64);
        sum += logits
            .par_chunks_mut(v)
            .zip(block.par_iter())
            // One buffer of the cap's slopes per worker, reused row after row.
            .map_init(Vec::<T>::new, |slopes, (row, &r)| {
                let (t, w) = (targets[r] as usize, weights[r]);
                // Gemma 2's soft cap: the loss of `cap * tanh(l / cap)`, its
                // gradient times the cap's slope `1 - tanh^2`.
                slopes.clear();
                if let Some(cap) = cap {
                    slopes.extend(row.iter_mut().map(|l| {
                        let th = (*l / cap).tanh();
                        *l = th * cap;
                        T::one() - th * th
                    }));
                }
                let nll = row_nll(row, t).to_f64() * w;
                row_grad_in_place(row, t, T::from_f64(scale * w));
                if cap.is_some() {
                    row.iter_mut().zip(slopes.iter()).for_each(|(g, &s)| *g *= s);
                }
                nll
            })
            .sum::<f64>();
        let g = uninit_output(c * h, |d| {
            backward_into(d, &input, w_head, &logits, (c, h, v), None, None, false);
        });
        for (k, &r) in block.iter().enumerate() {
            g_hs[r * h..(r + 1) * h].copy_from_slice(&g[k * h..(k + 1) * h]);
        }
    }
    Ok((sum, norm::grad_x(x, w_norm, &g_hs, eps)))
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor, Var};

    use super::*;
    use crate::kernels::cross_entropy::weighted_nll_sum;
    use crate::testing::max_diff;

    /// Loss and input gradient equal to candle's autograd over the composed
    /// head, with rows without loss, tied and untied heads, a vocabulary
    /// large enough to need several blocks, and a soft cap (Gemma 2) small
    /// enough to bend the logits.
    #[test]
    fn matches_candle_autograd_on_the_head() {
        for (vocab, tied, softcap) in [(64, false, None), (40_000, true, None), (64, true, Some(0.7))] {
            let mut cfg = crate::presets::tiny_model_config(vocab);
            cfg.tie_word_embeddings = tied;
            cfg.final_logit_softcapping = softcap;
            let model = Model::random(cfg, 3, DType::F64, &Device::Cpu).unwrap();
            let (b, t, h) = (2, 150, model.config.hidden_size);
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (b, t, h), &Device::Cpu).unwrap()).unwrap();
            let targets: Vec<u32> = (0..b * t).map(|i| ((7 * i + 3) % vocab) as u32).collect();
            let targets = Tensor::from_vec(targets, b * t, &Device::Cpu).unwrap();
            let weights: Vec<f32> = (0..b * t).map(|i| if i % 3 == 0 { 0.0 } else { 1.0 }).collect();
            let batch = Batch {
                inputs: Tensor::zeros((b, t), DType::U32, &Device::Cpu).unwrap(),
                targets: targets.reshape((b, t)).unwrap(),
                weights: Tensor::from_vec(weights, (b, t), &Device::Cpu).unwrap(),
                n_targets: 200,
                n_tokens: b * t,
            };
            let scale = 1.0 / 200.0;
            let logits = model.head(x.as_tensor()).unwrap();
            let nll = weighted_nll_sum(&logits, &batch.targets.flatten_all().unwrap(), &batch.weights.flatten_all().unwrap()).unwrap();
            let want_sum = nll.to_scalar::<f64>().unwrap();
            let store = (nll * scale).unwrap().backward().unwrap();
            let want_grad = store.get(x.as_tensor()).unwrap();

            let xs: Vec<f64> = x.as_tensor().flatten_all().unwrap().to_vec1().unwrap();
            let (sum, grad) = loss_and_grad(&model, &xs, &batch, scale).unwrap();
            assert!((sum - want_sum).abs() < 1e-9 * want_sum.abs(), "vocab {vocab}: loss {sum} vs {want_sum}");
            let grad = Tensor::from_vec(grad, (b, t, h), &Device::Cpu).unwrap();
            let d = max_diff(&grad, want_grad);
            assert!(d < 1e-12, "vocab {vocab}: the input gradient differs by {d}");
        }
    }
}
