//! Loss and gradients of one micro-batch.
//!
//! The backward pass walks the layers in reverse, one gradient store per
//! layer (candle keeps every intermediate gradient of a backward call until it
//! returns, so one call over the whole model holds a gradient for every
//! activation at once). With gradient checkpointing the forward pass keeps
//! only each layer's input and the backward recomputes the layer (same dropout
//! masks): peak activation memory drops from all layers to one layer plus the
//! saved inputs. On the CPU with only LoRA adapters trained the layers run
//! as `model::fused_layer` (forward with a tape, backward written out), the
//! same walk without candle's autograd; the head always uses candle's.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, Var, backprop::GradStore};

use crate::data::Batch;
use crate::model::mistral::Pass;
use crate::model::ops::weighted_nll_sum;
use crate::model::{Model, fused_layer};

/// Gradients of the trainable parameters, summed over micro-batches.
pub struct GradAccumulator {
    grads: Vec<Option<Tensor>>,
}

impl GradAccumulator {
    /// An empty accumulator for `n` parameters.
    pub fn new(n: usize) -> Self {
        Self { grads: vec![None; n] }
    }

    fn add(&mut self, model: &Model, store: &GradStore) -> Result<()> {
        for (slot, p) in self.grads.iter_mut().zip(model.trainable()) {
            if let Some(g) = store.get(p.var.as_tensor()) {
                *slot = Some(match slot.take() {
                    Some(acc) => (acc + g)?,
                    None => g.clone(),
                });
            }
        }
        Ok(())
    }

    /// Adds the gradient of one trainable variable.
    fn add_one(&mut self, model: &Model, var: &Var, grad: Tensor) -> Result<()> {
        let id = var.as_tensor().id();
        let Some(slot) = model.trainable().iter().position(|p| p.var.as_tensor().id() == id) else {
            return Err(candle_core::Error::Msg("a gradient for a variable that is not trained".into()));
        };
        self.grads[slot] = Some(match self.grads[slot].take() {
            Some(acc) => (acc + grad)?,
            None => grad,
        });
        Ok(())
    }

    /// The summed gradients (zeros for parameters that got none).
    pub fn finish(self, model: &Model) -> Result<Vec<Tensor>> {
        self.grads
            .into_iter()
            .zip(model.trainable())
            .map(|(g, p)| match g {
                Some(g) => Ok(g),
                None => p.var.as_tensor().zeros_like(),
            })
            .collect()
    }
}

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
/// [`fused_layer`] with their backward passes written out (the head still
/// uses candle's autograd); elsewhere candle's autograd runs each layer.
pub fn accumulate(model: &Model, batch: &Batch, pass: Pass, scale: f64, checkpointing: bool, acc: &mut GradAccumulator) -> Result<f64> {
    if fused_layer::applies(model) {
        return match model.dtype() {
            DType::F64 => accumulate_fused::<f64>(model, batch, pass, scale, checkpointing, acc),
            _ => accumulate_fused::<f32>(model, batch, pass, scale, checkpointing, acc),
        };
    }
    let (_, t) = batch.inputs.dims2()?;
    let mask = model.mask(t)?;
    let mut inputs: Vec<Var> = Vec::with_capacity(model.num_layers());
    let mut kept: Vec<Tensor> = Vec::new();
    let mut x = model.embed(&batch.inputs)?.detach();
    for i in 0..model.num_layers() {
        let input = Var::from_tensor(&x)?;
        let out = model.layer_forward(i, input.as_tensor(), &mask, pass)?;
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
            None => model.layer_forward(i, input.as_tensor(), &mask, pass)?,
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
fn accumulate_fused<T: fused_layer::Real>(
    model: &Model,
    batch: &Batch,
    pass: Pass,
    scale: f64,
    checkpointing: bool,
    acc: &mut GradAccumulator,
) -> Result<f64> {
    let (b, t) = batch.inputs.dims2()?;
    let shape = (b, t, model.config.hidden_size);
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
    let (sum, grad) = head(model, batch, Tensor::from_vec(x, shape, model.device())?, scale, acc)?;
    let mut grad: Vec<T> = grad.flatten_all()?.to_vec1()?;
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

fn input_grad(store: &GradStore, input: &Var) -> Result<Tensor> {
    match store.get(input.as_tensor()) {
        Some(g) => Ok(g.clone()),
        None => input.as_tensor().zeros_like(),
    }
}

/// Global L2 norm of a set of gradients.
pub fn global_norm(grads: &[Tensor]) -> Result<f64> {
    let mut sum = 0.0;
    for g in grads {
        sum += g.sqr()?.sum_all()?.to_dtype(candle_core::DType::F64)?.to_scalar::<f64>()?;
    }
    Ok(sum.sqrt())
}

/// Scales gradients so their global norm is at most `max_norm` (0: no clipping).
pub fn clip(grads: Vec<Tensor>, norm: f64, max_norm: f64) -> Result<Vec<Tensor>> {
    if max_norm <= 0.0 || norm <= max_norm {
        return Ok(grads);
    }
    let factor = max_norm / (norm + 1e-6);
    grads.into_iter().map(|g| g * factor).collect()
}
