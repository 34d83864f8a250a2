//! The model layer of LoRA Workbench's engine: a decoder of one of the
//! supported families, with optional LoRA adapters, its kernels and its
//! backpropagation. It depends on `workbench-core` alone: nothing about
//! configs of runs, data files, training loops or front ends.
//!
//! - [`arch`]: the families (Llama, Mistral, Qwen2, Qwen3), one file each: what
//!   each one's checkpoint holds and computes beyond the shared decoder.
//! - [`config`]: the Hugging Face `config.json` fields.
//! - [`presets`]: the shipped sample model's architecture and the tiny one tests use.
//! - [`rope_scaling`]: RoPE frequencies, default, linear or Llama 3 scaled.
//! - [`weights`]: loading and saving safetensors in Hugging Face layout.
//! - [`linear`]: the (optionally LoRA-adapted) linear projection and its dropout.
//! - [`kernels`]: the operations (projection, attention, norm, RoPE, SwiGLU,
//!   cross-entropy), each fused on the CPU and composed elsewhere.
//! - [`decoder`]: the decoder every family shares (tensor names as in the
//!   checkpoint), reading its family's description: its fused CPU layer, the
//!   KV-cache and decode paths, its layer-by-layer backpropagation and its
//!   activation memory count.
//! - [`batch`]: token rows as the tensors a forward pass reads.
//! - [`gradients`]: the sink backpropagation hands each parameter's gradient to.
//! - [`tokenizer`]: loading `tokenizer.json` and checking it against the model.
//! - [`device`]: `cpu` / `cuda:N` / `metal:N`, memory budgets, peak RSS.

pub mod arch;
pub mod batch;
pub mod config;
pub mod decoder;
pub mod device;
pub mod gradients;
pub mod kernels;
pub mod linear;
pub mod presets;
pub mod rope_scaling;
pub mod tokenizer;
pub mod weights;

pub(crate) use workbench_core::{atomic, error};

pub use batch::Batch;
pub use config::ModelConfig;
pub use decoder::{Model, Pass, Trainable};
pub use linear::{LINEAR_MODULES, LoraSpec};
pub use weights::save_model_dir;

/// Comparisons of tensors for the tests of this crate and of the crates above
/// it (not an API: hidden from the docs). They panic (a test's failure) on
/// tensors that cannot be compared.
#[doc(hidden)]
pub mod testing {
    use candle_core::{DType, Tensor, Var};

    /// The largest absolute difference between two tensors (any float dtype).
    pub fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
    }

    /// Adds a LoRA adapter of `rank`, `alpha` and `dropout` (masks from
    /// `seed`) to every projection of `model` and gives every factor random
    /// values of scale 0.3 (B non-zero, as after some training), so that the
    /// adapter shows in outputs and gradients.
    pub fn adapt_every_projection(model: &mut crate::Model, (rank, alpha, dropout): (usize, f64, f64), seed: u64) {
        let targets = crate::linear::LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
        model.add_lora(&crate::LoraSpec { rank, alpha, dropout, targets }, seed).unwrap();
        for p in model.trainable() {
            p.var.set(&p.var.as_tensor().randn_like(0.0, 0.3).unwrap()).unwrap();
        }
    }

    /// Asserts that `fused` and `composed`, applied to `inputs`, give the same
    /// output and the same gradients for every input under a random upstream gradient.
    pub fn assert_same(inputs: &[&Var], fused: impl Fn(&[&Tensor]) -> Tensor, composed: impl Fn(&[&Tensor]) -> Tensor) {
        let xs: Vec<&Tensor> = inputs.iter().map(|v| v.as_tensor()).collect();
        let (f, p) = (fused(&xs), composed(&xs));
        assert!(max_diff(&f, &p) < 1e-12, "outputs differ by {}", max_diff(&f, &p));
        let up = f.randn_like(0.0, 1.0).unwrap();
        let gf = (f * &up).unwrap().sum_all().unwrap().backward().unwrap();
        let gp = (p * &up).unwrap().sum_all().unwrap().backward().unwrap();
        for (i, x) in xs.iter().enumerate() {
            let d = max_diff(gf.get(x).unwrap(), gp.get(x).unwrap());
            assert!(d < 1e-10, "the gradient of input {i} differs by {d}");
        }
    }
}
