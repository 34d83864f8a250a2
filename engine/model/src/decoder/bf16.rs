//! bf16 mixed-precision training on the CPU (`training.precision = "bf16"`):
//! every frozen projection weight and the output layer packed once for the
//! AMX tile unit ([`crate::kernels::amx`]), which the fused layer and
//! head then use for their frozen products. The f32 weights stay: evaluation,
//! generation and the validation passes during training use them.

use std::sync::Arc;

use candle_core::{DType, Result};

use super::Model;
use crate::kernels::projection::Bf16Weight;

impl Model {
    /// Packs the frozen weights for bf16 products, where this CPU has AMX
    /// and the model is an f32 model on the CPU; whether any weight was
    /// packed (false: training stays f32, as it does for weights that are
    /// trained themselves). Call it after the adapters are attached.
    pub fn use_bf16_products(&mut self) -> Result<bool> {
        self.full_precision("compute in bf16")?;
        if !(self.device.is_cpu() && self.dtype == DType::F32 && crate::kernels::amx::available()) {
            return Ok(false);
        }
        for layer in &mut self.layers {
            for (_, _, lin) in layer.named_linears_mut() {
                if !lin.weight.is_variable() {
                    lin.bf16 = Bf16Weight::pack(&lin.weight)?.map(Arc::new);
                }
            }
        }
        if !self.lm_head.is_variable() {
            self.head_bf16 = Bf16Weight::pack(&self.lm_head)?.map(Arc::new);
        }
        Ok(self.bf16_bytes() > 0)
    }

    /// Drops the bf16 packings (before the weights change or become trainable).
    pub(crate) fn drop_bf16_products(&mut self) {
        for layer in &mut self.layers {
            for (_, _, lin) in layer.named_linears_mut() {
                lin.bf16 = None;
            }
        }
        self.head_bf16 = None;
    }

    /// Bytes the bf16 packings hold (0 when training in f32).
    pub fn bf16_bytes(&self) -> usize {
        let layers: usize = (0..self.num_layers())
            .flat_map(|i| self.layer_view(i).projections)
            .filter_map(|lin| lin.bf16.as_ref().map(|b| b.bytes()))
            .sum();
        layers + self.head_bf16.as_ref().map_or(0, |b| b.bytes())
    }
}
