//! The sink of backpropagation: each trainable parameter's gradient, summed
//! over the micro-batches of an accumulation window. The model's
//! backpropagation ([`crate::decoder::backprop`]) writes to it; the training
//! loop above takes the sums.

use candle_core::{Result, Tensor, Var, backprop::GradStore};

use crate::Model;

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
