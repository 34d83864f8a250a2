//! Loss and gradients of one micro-batch, layer by layer.
//!
//! The backward pass walks the layers in reverse, one gradient store per
//! layer (candle keeps every intermediate gradient of a backward call until it
//! returns, so one call over the whole model holds a gradient for every
//! activation at once). With gradient checkpointing the forward pass keeps
//! only each layer's input and the backward recomputes the layer (same dropout
//! masks): peak activation memory drops from all layers to one layer plus the
//! saved inputs. On the CPU with only LoRA adapters trained the layers run
//! as [`fused_layer`] (forward with a tape, backward written out) and the
//! head as [`fused_head`], the same walk without candle's autograd.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, Var, backprop::GradStore};

use super::{Model, Pass, fused_head, fused_layer};
use crate::batch::Batch;
use crate::gradients::GradAccumulator;
use crate::kernels::Real;
use crate::kernels::cross_entropy::weighted_nll_sum;

/// Forward and backward of `batch`; the loss is the sum of token losses times
/// `scale` (1 / trained tokens of the whole accumulation window, so that the
/// accumulated gradient is that of the window's mean token loss). Adds the
/// gradients to `acc` and returns the unscaled sum of token losses.
///
/// The backward pass runs layer by layer from the top: each layer's input is
/// a fresh variable, so back-propagating the surrogate
/// `sum(layer_output * grad_output)` yields that layer's parameter gradients
/// and the gradient of its input, and the layer's gradient store is dropped
/// before the next. Without checkpointing each layer's forward graph is kept
/// from the forward pass; with `checkpointing` only its input is kept and the
/// forward is recomputed (same dropout masks).
///
/// On the CPU with only LoRA adapters trained, the layers run as
/// [`fused_layer`] and the head as [`fused_head`], their backward passes
/// written out; elsewhere candle's autograd runs each layer and the head
/// ([`accumulate_composed`]).
pub fn accumulate(model: &Model, batch: &Batch, pass: Pass, scale: f64, checkpointing: bool, acc: &mut GradAccumulator) -> Result<f64> {
    if fused_layer::applies(model) {
        return match model.dtype() {
            DType::F64 => accumulate_fused::<f64>(model, batch, pass, scale, checkpointing, acc),
            _ => accumulate_fused::<f32>(model, batch, pass, scale, checkpointing, acc),
        };
    }
    accumulate_composed(model, batch, pass, scale, checkpointing, acc)
}

/// [`accumulate`] with candle's autograd running each layer (over
/// [`Model::layer_forward`]), whatever the device: what GPUs and full
/// fine-tuning run, callable on the CPU so tests can compare it with the
/// fused layers.
pub(crate) fn accumulate_composed(
    model: &Model,
    batch: &Batch,
    pass: Pass,
    scale: f64,
    checkpointing: bool,
    acc: &mut GradAccumulator,
) -> Result<f64> {
    let (_, t) = batch.inputs.dims2()?;
    let masks = model.masks(t)?;
    let mut inputs: Vec<Var> = Vec::with_capacity(model.num_layers());
    let mut kept: Vec<Tensor> = Vec::new();
    let mut x = model.embed(&batch.inputs)?.detach();
    for (i, mask) in masks.iter().enumerate() {
        let input = Var::from_tensor(&x)?;
        let out = model.layer_forward(i, input.as_tensor(), mask, pass)?;
        x = out.detach();
        if !checkpointing {
            kept.push(out);
        }
        inputs.push(input);
    }
    let (sum, mut grad_out) = head(model, batch, x, scale, acc)?;
    for (i, input) in inputs.iter().enumerate().rev() {
        let out = match kept.pop() {
            Some(out) => out,
            None => model.layer_forward(i, input.as_tensor(), &masks[i], pass)?,
        };
        let store = seeded(&out, &grad_out)?.backward()?;
        acc.add(model, &store)?;
        grad_out = input_grad(&store, input)?;
    }
    if model.trainable().iter().any(|p| p.name == "model.embed_tokens.weight") {
        let embedded = model.embed(&batch.inputs)?;
        acc.add(model, &(embedded * &grad_out)?.sum_all()?.backward()?)?;
    }
    Ok(sum)
}

/// A scalar whose `backward()` gives `out` the gradient `grad`: on the CPU an
/// op that passes `grad` through as it is, elsewhere `sum(out * grad)`.
fn seeded(out: &Tensor, grad: &Tensor) -> Result<Tensor> {
    if out.device().is_cpu() { out.apply_op1(SeedGradient(grad.clone())) } else { (out * grad)?.sum_all() }
}

/// See [`seeded`]; its forward value is 0 (only its backward is used).
struct SeedGradient(Tensor);

impl CustomOp1 for SeedGradient {
    fn name(&self) -> &'static str {
        "seed-gradient"
    }

    fn cpu_fwd(&self, s: &CpuStorage, _l: &Layout) -> Result<(CpuStorage, Shape)> {
        let zero = CpuStorage::F64(vec![0.0]).to_dtype(&Layout::contiguous(()), s.dtype())?;
        Ok((zero, Shape::from(())))
    }

    /// `backward()` seeds the scalar with 1, so `grad` is 1 and the input's
    /// gradient is the held tensor.
    fn bwd(&self, _out: &Tensor, _res: &Tensor, _grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(self.0.clone()))
    }
}

/// [`accumulate`] with the layers run by [`fused_layer`]: activations are
/// plain buffers of `T`, gradients of the adapters go straight to `acc`.
fn accumulate_fused<T: Real>(
    model: &Model,
    batch: &Batch,
    pass: Pass,
    scale: f64,
    checkpointing: bool,
    acc: &mut GradAccumulator,
) -> Result<f64> {
    let (b, t) = batch.inputs.dims2()?;
    let mut x: Vec<T> = model.embed(&batch.inputs)?.flatten_all()?.to_vec1()?;
    let mut inputs = Vec::with_capacity(model.num_layers());
    let mut tapes = Vec::new();
    for i in 0..model.num_layers() {
        let (out, tape) = fused_layer::forward(model, i, &x, (b, t), pass)?;
        if !checkpointing {
            tapes.push(tape);
        }
        inputs.push(std::mem::replace(&mut x, out));
    }
    let (sum, mut grad) = fused_head::loss_and_grad(model, &x, batch, scale)?;
    for (i, input) in inputs.iter().enumerate().rev() {
        let tape = match tapes.pop() {
            Some(tape) => tape,
            None => fused_layer::record(model, i, input, (b, t), pass)?,
        };
        let mut hand_over = |var: &Var, g: Vec<T>| acc.add_one(model, var, Tensor::from_vec(g, var.shape(), model.device())?);
        grad = fused_layer::backward(model, i, input, (b, t), &tape, &grad, &mut hand_over)?;
    }
    Ok(sum)
}

/// The head (final norm, output projection, loss) on the last layer's output
/// `x`, with candle's autograd: adds its parameters' gradients (if trained) to
/// `acc`, returns the unscaled loss sum and the gradient of `x`.
fn head(model: &Model, batch: &Batch, x: Tensor, scale: f64, acc: &mut GradAccumulator) -> Result<(f64, Tensor)> {
    let top = Var::from_tensor(&x)?;
    let nll = weighted_nll_sum(&model.head(top.as_tensor())?, &batch.targets, &batch.weights)?;
    let sum = nll.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    let store = (nll * scale)?.backward()?;
    acc.add(model, &store)?;
    Ok((sum, input_grad(&store, &top)?))
}

/// The gradient of `input` in `store` (zeros when it got none).
fn input_grad(store: &GradStore, input: &Var) -> Result<Tensor> {
    match store.get(input.as_tensor()) {
        Some(g) => Ok(g.clone()),
        None => input.as_tensor().zeros_like(),
    }
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::LoraSpec;

    /// The loss and every adapter gradient of the fused layers and of candle's
    /// autograd ([`accumulate_composed`]) on a tiny random model with LoRA
    /// dropout on all seven projections and non-zero B factors: the largest
    /// differences relative to the loss and to the largest gradient value.
    /// With `bf16` the fused side runs its frozen products in bf16 (f32
    /// models, where the CPU has AMX), the composed side stays f32.
    fn fused_vs_composed(dtype: DType, checkpointing: bool, bf16: bool, (seed, b_std): (u64, f64)) -> (f64, f64) {
        let mut model = Model::random(crate::presets::tiny_model_config(64), 4, dtype, &Device::Cpu).unwrap();
        let targets = crate::linear::LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
        model.add_lora(&LoraSpec { rank: 3, alpha: 6.0, dropout: 0.2, targets }, 5).unwrap();
        // Adapter factors from a fixed seed: A of scale 0.3, B of scale `b_std` (non-zero, as after some training).
        let mut rng = crate::linear::seeded_rng(seed);
        for p in model.trainable() {
            let std = if p.name.contains("lora_B") { b_std } else { 0.3 };
            let values: Vec<f64> = (0..p.var.elem_count())
                .map(|_| std * rand_distr::Distribution::<f64>::sample(&rand_distr::StandardNormal, &mut rng))
                .collect();
            p.var.set(&Tensor::from_vec(values, p.var.shape(), &Device::Cpu).unwrap().to_dtype(dtype).unwrap()).unwrap();
        }
        if bf16 {
            assert!(model.use_bf16_products().unwrap(), "packed where the CPU has AMX");
        }
        assert!(fused_layer::applies(&model));
        let ids: Vec<Vec<u32>> = (0..2u32).map(|e| (0..20u32).map(|i| (i * 5 + e * 11 + 1) % 64).collect()).collect();
        let trained: Vec<bool> = (0..20).map(|i| i % 3 != 0).collect();
        let rows: Vec<(&[u32], &[bool])> = ids.iter().map(|r| (&r[..], &trained[..])).collect();
        let batch = crate::Batch::new(&rows, &Device::Cpu).unwrap();
        let pass = Pass::Train { seed: 7 };
        let run = |composed: bool| {
            let mut acc = GradAccumulator::new(model.trainable().len());
            let f = if composed { accumulate_composed } else { accumulate };
            let loss = f(&model, &batch, pass, 0.05, checkpointing, &mut acc).unwrap();
            (loss, acc.finish(&model).unwrap())
        };
        let ((fused_loss, fused), (composed_loss, composed)) = (run(false), run(true));
        let value = |t: Tensor| t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap();
        let largest = composed.iter().map(|g| value(g.abs().unwrap().max_all().unwrap())).fold(0.0, f64::max);
        assert_eq!(fused.len(), 2 * 7 * model.num_layers());
        let mut worst = 0f64;
        for ((f, c), p) in fused.iter().zip(&composed).zip(model.trainable()) {
            let d = value((f - c).unwrap().abs().unwrap().max_all().unwrap());
            assert!(value(c.abs().unwrap().max_all().unwrap()) > 0.0, "no gradient for {}", p.name);
            worst = worst.max(d / largest);
        }
        ((fused_loss - composed_loss).abs() / composed_loss, worst)
    }

    #[test]
    fn composed_autograd_matches_fused_layers_in_f64() {
        for checkpointing in [false, true] {
            let (loss, grads) = fused_vs_composed(DType::F64, checkpointing, false, (1, 0.3));
            assert!(loss < 1e-9 && grads < 1e-9, "checkpointing {checkpointing}: loss {loss:e}, gradients {grads:e}");
        }
    }

    /// f32: relative tolerance 1e-4 for the loss and 1e-3 for the gradients
    /// (relative to the largest gradient value), summation orders differ.
    #[test]
    fn composed_autograd_matches_fused_layers_in_f32() {
        for checkpointing in [false, true] {
            let (loss, grads) = fused_vs_composed(DType::F32, checkpointing, false, (1, 0.3));
            assert!(loss < 1e-4 && grads < 1e-3, "checkpointing {checkpointing}: loss {loss:e}, gradients {grads:e}");
        }
    }

    /// bf16 products (AMX): within bf16's rounding of f32 autograd, and
    /// measurably not f32 (so the bf16 path did run). bf16 keeps 8
    /// significant bits; through the attention of two layers the adapters'
    /// gradients stay within 5e-2 of the largest one (1e-2 typical over
    /// seeds with B factors of 0.05; larger B factors amplify the rounding),
    /// the loss within 1e-3. Where the CPU has no
    /// AMX nothing is packed and training stays f32, which is what is checked there.
    #[test]
    fn bf16_products_stay_within_bf16_rounding_of_f32() {
        let mut model = Model::random(crate::presets::tiny_model_config(64), 4, DType::F32, &Device::Cpu).unwrap();
        let targets = crate::linear::LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
        model.add_lora(&LoraSpec { rank: 3, alpha: 6.0, dropout: 0.0, targets }, 5).unwrap();
        let packed = model.use_bf16_products().unwrap();
        assert_eq!(packed, crate::kernels::amx::available());
        assert_eq!(packed, model.bf16_bytes() > 0);
        if crate::kernels::amx::skip_without_amx("bf16 training falls back to f32, checked above") {
            return;
        }
        for checkpointing in [false, true] {
            let (loss, grads) = fused_vs_composed(DType::F32, checkpointing, true, (1, 0.05));
            assert!(loss < 1e-3 && grads < 5e-2, "checkpointing {checkpointing}: loss {loss:e}, gradients {grads:e}");
            assert!(loss > 1e-6 || grads > 1e-5, "bf16 products gave f32 results: loss {loss:e}, gradients {grads:e}");
        }
    }
}
