//! The gradients of an accumulation window: their global norm and clipping.
//! They are summed, micro-batch by micro-batch, by the sink the model's
//! backpropagation writes to (`model::gradients::GradAccumulator`).

use candle_core::{Result, Tensor};

pub use crate::model::gradients::GradAccumulator;

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
