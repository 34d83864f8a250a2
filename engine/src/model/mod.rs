//! The model: a Llama/Mistral-family decoder with optional LoRA adapters.
//!
//! - [`config`]: the Hugging Face `config.json` fields.
//! - [`weights`]: loading and saving safetensors in Hugging Face layout.
//! - [`linear`]: the (optionally LoRA-adapted) linear projection, the hot path.
//! - [`attention`]: the fused causal softmax of the attention scores.
//! - [`norm`]: RMSNorm (fused on the CPU).
//! - [`rope`]: rotary position embeddings (fused on the CPU).
//! - [`swiglu`]: the MLP's gated activation (fused on the CPU).
//! - [`ops`]: causal masks and the token cross-entropy.
//! - [`mistral`]: the decoder layers top-down, tensor names as in the checkpoint.
//! - [`tokenizer`]: loading `tokenizer.json` and checking it against the model.

pub mod attention;
pub mod config;
pub mod linear;
pub mod mistral;
pub mod norm;
pub mod ops;
pub mod rope;
pub mod swiglu;
pub mod tokenizer;
pub mod weights;

pub use config::ModelConfig;
pub use weights::save_model_dir;
pub use mistral::{Model, Trainable};
