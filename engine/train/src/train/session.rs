//! Setting a run up from a config: device, model (with LoRA attached or made
//! fully trainable), tokenizer, training and validation data.

use candle_core::DType;

use crate::config::{Precision, TrainConfig, TrainMode};
use crate::data::Dataset;
use crate::error::Result;
use crate::model::{LoraSpec, Model};

/// Everything a training loop needs, loaded and checked.
pub struct Session {
    /// The resolved config.
    pub config: TrainConfig,
    /// The model with its trainable parameters.
    pub model: Model,
    /// Training examples.
    pub train: Dataset,
    /// Validation examples.
    pub validation: Dataset,
    /// The adapter's shape (LoRA mode).
    pub lora: Option<LoraSpec>,
    /// Whether the frozen weights' products run in bf16 (`training.precision
    /// = "bf16"` on a CPU with AMX).
    pub bf16: bool,
}

impl Session {
    /// Loads model, tokenizer and data for `config` (already validated).
    pub fn prepare(config: &TrainConfig) -> Result<Self> {
        let device = crate::device::open(&config.model.device)?;
        let mut model = Model::load(&config.model.path, DType::F32, &device)?;
        let chat = crate::chat::ChatFormat::load(&config.model.path, &model.config, &config.data.chat_template)?;
        let (train, validation) = Dataset::for_training(config, &chat)?;
        let lora = match config.training.mode {
            TrainMode::Lora => {
                let l = &config.lora;
                let spec = LoraSpec { rank: l.rank, alpha: l.alpha, dropout: l.dropout, targets: l.resolved_targets() };
                model.add_lora(&spec, config.training.seed)?;
                Some(spec)
            }
            TrainMode::Full => {
                model.make_fully_trainable()?;
                None
            }
        };
        let bf16 = config.training.precision == Precision::Bf16 && model.use_bf16_products()?;
        Ok(Self { config: config.clone(), model, train, validation, lora, bf16 })
    }

    /// The log line on the precision of a run that asked for bf16: whether
    /// it got it.
    pub fn precision_note(&self) -> Option<String> {
        (self.config.training.precision == Precision::Bf16).then(|| {
            if self.bf16 {
                format!("precision: bf16 products of the frozen weights on AMX ({} MiB packed)", self.model.bf16_bytes() >> 20)
            } else {
                "precision: bf16 was asked for, but it needs a CPU with AMX (Intel Xeon since Sapphire Rapids) and LoRA \
                 on the CPU: training in f32"
                    .to_string()
            }
        })
    }

    /// Optimizer steps in one epoch (the last accumulation window may be short).
    pub fn steps_per_epoch(&self) -> usize {
        let t = &self.config.training;
        self.train.num_batches(t.batch_size).div_ceil(t.grad_accum).max(1)
    }

    /// Optimizer steps of the whole run.
    pub fn total_steps(&self) -> usize {
        self.config.training.total_steps(self.steps_per_epoch())
    }
}
