//! Gradients summed over the micro-batches of an accumulation window, their
//! global norm and clipping. The gradients of one micro-batch come from the
//! model's backpropagation (`model::decoder::backprop`).

use candle_core::{Result, Tensor, Var, backprop::GradStore};

use crate::model::Model;

/// Gradients of the trainable parameters, summed over micro-batches.
pub struct GradAccumulator {
    grads: Vec<Option<Tensor>>,
}

impl GradAccumulator {
    /// An empty accumulator for `n` parameters.
    pub fn new(n: usize) -> Self {
        Self { grads: vec![None; n] }
    }

    /// Adds the gradients in `store` of the model's trainable parameters.
    pub(crate) fn add(&mut self, model: &Model, store: &GradStore) -> Result<()> {
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
    pub(crate) fn add_one(&mut self, model: &Model, var: &Var, grad: Tensor) -> Result<()> {
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
