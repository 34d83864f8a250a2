//! The training configuration (LoRA Workbench engine, the layer above the
//! model): one TOML file with `[model]`, `[data]`, `[lora]`, `[training]` and
//! `[run]` tables, validated field by field.
//!
//! Relative paths in a config file are resolved against the file's own
//! directory, so a config works from any working directory. The copy stored in
//! a run directory holds absolute paths.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use workbench_core::error::{Error, FieldError, Result};

pub use workbench_model::LINEAR_MODULES;

/// A complete training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    /// The base model and where it runs.
    pub model: ModelSection,
    /// The conversation data.
    pub data: DataSection,
    /// The LoRA adapter (ignored when `training.mode = "full"`).
    #[serde(default)]
    pub lora: LoraSection,
    /// Optimisation settings.
    #[serde(default)]
    pub training: TrainingSection,
    /// Where and under which name the run is stored.
    #[serde(default)]
    pub run: RunSection,
}

/// `[model]`: the Hugging Face model directory and the device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Directory with `config.json`, safetensors weights and `tokenizer.json`.
    pub path: PathBuf,
    /// `cpu`, `cuda:N` or `metal:N`.
    #[serde(default = "default_device")]
    pub device: String,
}

/// `[data]`: training, validation and held-out files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataSection {
    /// JSONL conversations to train on.
    pub train_file: PathBuf,
    /// Separate validation file; when absent, `validation_ratio` of the
    /// training file is held out (shuffled with `training.seed`).
    #[serde(default)]
    pub validation_file: Option<PathBuf>,
    /// Fraction of the training file used for validation when there is no
    /// validation file.
    #[serde(default = "default_validation_ratio")]
    pub validation_ratio: f64,
    /// Held-out test set for `workbench eval`.
    #[serde(default)]
    pub test_file: Option<PathBuf>,
    /// Longest tokenised example; longer ones are truncated (and counted).
    #[serde(default = "default_max_seq_len")]
    pub max_seq_len: usize,
    /// Which tokens carry loss: `assistant` (default) or `all`.
    #[serde(default)]
    pub train_on: TrainOn,
    /// Skip malformed lines (and report how many) instead of failing.
    #[serde(default)]
    pub skip_bad_lines: bool,
    /// The chat template: `model` (the model's own, else the built-in
    /// Mistral one), `mistral`, or the path of a Jinja template file.
    #[serde(default = "default_chat_template")]
    pub chat_template: String,
}

/// `data.chat_template` values that are not file paths.
pub const CHAT_TEMPLATE_NAMES: [&str; 2] = ["model", "mistral"];

fn default_chat_template() -> String {
    "model".into()
}

/// Which tokens of a conversation contribute to the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainOn {
    /// Only assistant replies (and their end-of-sequence token).
    #[default]
    Assistant,
    /// Every token, prompts included.
    All,
}

/// `[lora]`: the adapter's shape; a missing field takes its default
/// (rank 16, alpha 32, dropout 0.05, all seven projections).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoraSection {
    /// Rank r of the low-rank update.
    pub rank: usize,
    /// Scale numerator: the update is scaled by alpha / r.
    pub alpha: f64,
    /// Dropout on the adapter's input.
    pub dropout: f64,
    /// Projections to adapt; `all-linear` means all seven.
    pub target_modules: Vec<String>,
}

/// Full fine-tuning or LoRA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrainMode {
    /// Train LoRA adapters only; base weights are frozen.
    #[default]
    Lora,
    /// Train every weight of the model.
    Full,
}

/// Learning-rate schedule after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Schedule {
    /// Cosine decay to zero.
    #[default]
    Cosine,
    /// Linear decay to zero.
    Linear,
    /// Constant after warmup.
    Constant,
}

/// The precision of a training step's matrix products with the frozen
/// weights (the forward product and the input gradient).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Everything in f32.
    #[default]
    F32,
    /// bf16 mixed precision: the frozen weights' products in bfloat16 with
    /// f32 accumulation on a CPU with AMX (Intel Xeon since Sapphire Rapids);
    /// the adapters' weights and weight gradients, norms, attention and the
    /// optimizer stay f32.
    /// Elsewhere training runs in f32 and says so.
    Bf16,
}

impl Precision {
    /// Both, in the order offered.
    pub const ALL: [Precision; 2] = [Precision::F32, Precision::Bf16];

    /// The name in a config file.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl std::str::FromStr for Precision {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        Self::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| format!("unknown precision {s:?}: f32 or bf16"))
    }
}

/// `[training]`: optimisation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingSection {
    /// `lora` or `full`.
    pub mode: TrainMode,
    /// Examples per micro-batch (per device).
    pub batch_size: usize,
    /// Micro-batches per optimizer step.
    pub grad_accum: usize,
    /// Peak learning rate.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// AdamW beta1.
    pub beta1: f64,
    /// AdamW beta2.
    pub beta2: f64,
    /// AdamW epsilon.
    pub eps: f64,
    /// Schedule after warmup.
    pub schedule: Schedule,
    /// Warmup as a fraction of all optimizer steps (ignored if `warmup_steps` is set).
    pub warmup_ratio: f64,
    /// Warmup in optimizer steps.
    pub warmup_steps: Option<usize>,
    /// Passes over the training data.
    pub epochs: usize,
    /// Stop after this many optimizer steps (overrides `epochs` when smaller).
    pub max_steps: Option<usize>,
    /// Global gradient-norm clipping threshold (0 disables clipping).
    pub max_grad_norm: f64,
    /// Evaluate every N optimizer steps (0: only at each epoch end).
    pub eval_every: usize,
    /// Stop when validation loss has not improved for this many evaluations (0 disables).
    pub early_stopping_patience: usize,
    /// Smallest decrease of validation loss that counts as an improvement.
    pub early_stopping_min_delta: f64,
    /// Recompute each layer's activations in the backward pass to save memory.
    pub gradient_checkpointing: bool,
    /// Precision of the frozen weights' matrix products (`f32` or `bf16`).
    pub precision: Precision,
    /// Seed for initialisation, shuffling, splitting and dropout.
    pub seed: u64,
    /// Write a metrics record every N optimizer steps.
    pub log_every: usize,
    /// Save a resumable checkpoint every N optimizer steps (0: only at the end or on cancel).
    pub checkpoint_every: usize,
    /// How many step checkpoints to keep.
    pub keep_checkpoints: usize,
}

/// `[run]`: naming and storage of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunSection {
    /// Human name; the directory is `NAME-YYYYMMDD-HHMMSS`.
    pub name: String,
    /// Folder holding run directories.
    pub runs_dir: PathBuf,
    /// Memory budget in GiB for the estimate (default: the device's memory).
    pub memory_limit_gb: Option<f64>,
}

fn default_device() -> String {
    "cpu".into()
}
fn default_validation_ratio() -> f64 {
    0.1
}
fn default_max_seq_len() -> usize {
    256
}

impl Default for LoraSection {
    fn default() -> Self {
        Self { rank: 16, alpha: 32.0, dropout: 0.05, target_modules: vec!["all-linear".into()] }
    }
}

impl Default for TrainingSection {
    fn default() -> Self {
        Self {
            mode: TrainMode::Lora,
            batch_size: 8,
            grad_accum: 1,
            learning_rate: 2e-4,
            weight_decay: 0.0,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            schedule: Schedule::Cosine,
            warmup_ratio: 0.1,
            warmup_steps: None,
            epochs: 1,
            max_steps: None,
            max_grad_norm: 1.0,
            eval_every: 0,
            early_stopping_patience: 0,
            early_stopping_min_delta: 0.0,
            gradient_checkpointing: false,
            precision: Precision::F32,
            seed: 42,
            log_every: 1,
            checkpoint_every: 0,
            keep_checkpoints: 2,
        }
    }
}

impl Default for RunSection {
    fn default() -> Self {
        Self { name: "run".into(), runs_dir: PathBuf::from("runs"), memory_limit_gb: None }
    }
}

/// Whether `module` may be a LoRA target: a projection, a fused module of
/// some family (`qkv_proj`), or `all-linear`.
pub fn is_target_name(module: &str) -> bool {
    module == "all-linear" || LINEAR_MODULES.contains(&module) || workbench_model::arch::fused_parts(module).is_some()
}

impl LoraSection {
    /// The targeted projections, [`LINEAR_MODULES`] names in their order:
    /// `all-linear` expanded, and a fused module (Phi-3's `qkv_proj`) as its parts.
    pub fn resolved_targets(&self) -> Vec<String> {
        if self.target_modules.iter().any(|m| m == "all-linear") {
            return LINEAR_MODULES.iter().map(|s| s.to_string()).collect();
        }
        let named =
            |m: &str| self.target_modules.iter().any(|t| t == m || workbench_model::arch::fused_parts(t).is_some_and(|p| p.contains(&m)));
        LINEAR_MODULES.iter().filter(|m| named(m)).map(|s| s.to_string()).collect()
    }

    /// The targets as PEFT matches them by module name, whatever the family:
    /// the projections ([`LoraSection::resolved_targets`]) and each fused
    /// module (Phi-3's `qkv_proj`) whose parts are all targeted. A name the
    /// model lacks matches nothing, so one list serves every family.
    pub fn peft_target_names(&self) -> Vec<String> {
        let mut names = self.resolved_targets();
        for fused in workbench_model::arch::FAMILIES.into_iter().flat_map(|f| f.fused) {
            let whole = fused.parts.iter().all(|p| names.iter().any(|n| n == p));
            if whole && !names.iter().any(|n| n == fused.module) {
                names.push(fused.module.to_string());
            }
        }
        names
    }

    /// Scale applied to the low-rank update: alpha / rank.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

impl TrainingSection {
    /// Examples per optimizer step: batch size times accumulation.
    pub fn effective_batch(&self) -> usize {
        self.batch_size * self.grad_accum
    }

    /// Optimizer steps of a run whose epoch has `steps_per_epoch` steps:
    /// the epochs' steps, or `max_steps` when smaller (or without epochs).
    pub fn total_steps(&self, steps_per_epoch: usize) -> usize {
        let by_epochs = (self.epochs > 0).then(|| steps_per_epoch * self.epochs);
        match (by_epochs, self.max_steps) {
            (Some(e), Some(m)) => e.min(m),
            (Some(e), None) => e,
            (None, m) => m.unwrap_or(0),
        }
    }
}

impl TrainConfig {
    /// Reads, resolves and validates a config file. Errors name the file and
    /// every bad field.
    pub fn load(path: &Path) -> Result<Self> {
        let cfg = Self::load_unchecked(path)?;
        cfg.check()?;
        Ok(cfg)
    }

    /// Reads `path` with paths resolved against its folder but its values
    /// not validated: a config with bad values still opens, for an editor
    /// to show what is wrong ([`TrainConfig::validate`]).
    pub fn load_unchecked(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let mut cfg = Self::from_toml(&text).map_err(|msg| Error::File { path: path.into(), message: msg })?;
        cfg.resolve_paths(path.parent().unwrap_or(Path::new(".")));
        Ok(cfg)
    }

    /// Parses TOML text without resolving paths or validating.
    pub fn from_toml(text: &str) -> std::result::Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// TOML text of this config.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).expect("config serialises to TOML")
    }

    /// Makes every relative path absolute against `base`, without `.` or
    /// `..` parts (`configs/../model` becomes `model`).
    pub fn resolve_paths(&mut self, base: &Path) {
        let base = std::path::absolute(base).unwrap_or_else(|_| base.to_path_buf());
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = without_dot_parts(&base.join(&*p));
            }
        };
        fix(&mut self.model.path);
        fix(&mut self.data.train_file);
        if let Some(p) = self.data.validation_file.as_mut() {
            fix(p);
        }
        if let Some(p) = self.data.test_file.as_mut() {
            fix(p);
        }
        if !CHAT_TEMPLATE_NAMES.contains(&self.data.chat_template.as_str()) {
            let mut file = PathBuf::from(&self.data.chat_template);
            fix(&mut file);
            self.data.chat_template = file.display().to_string();
        }
        fix(&mut self.run.runs_dir);
    }

    /// Validation of values and files: `Ok` or every problem at once.
    pub fn check(&self) -> Result<()> {
        let mut errors = self.validate();
        errors.extend(self.validate_files());
        if errors.is_empty() { Ok(()) } else { Err(Error::Config(errors)) }
    }

    /// Checks every value (not files); used as the user types.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        let mut bad = |field: &str, message: String| e.push(FieldError { field: field.into(), message });
        let t = &self.training;
        if t.mode == TrainMode::Lora {
            let l = &self.lora;
            if l.rank == 0 {
                bad("lora.rank", "must be at least 1 (typical: 8, 16, 64)".into());
            }
            if !(l.alpha.is_finite() && l.alpha > 0.0) {
                bad("lora.alpha", format!("must be a positive number, got {} (typical: 2 x rank)", l.alpha));
            }
            if !(0.0..1.0).contains(&l.dropout) {
                bad("lora.dropout", format!("must be in [0, 1), got {}", l.dropout));
            }
            if l.target_modules.is_empty() {
                bad("lora.target_modules", "choose at least one module, or \"all-linear\"".into());
            }
            for m in &l.target_modules {
                if !is_target_name(m) {
                    bad(
                        "lora.target_modules",
                        format!(
                            "unknown module {m:?}; use any of {} (Phi-3: qkv_proj, gate_up_proj) or \"all-linear\"",
                            LINEAR_MODULES.join(", ")
                        ),
                    );
                }
            }
        }
        if t.batch_size == 0 {
            bad("training.batch_size", "must be at least 1".into());
        }
        if t.grad_accum == 0 {
            bad("training.grad_accum", "must be at least 1 (1 = no accumulation)".into());
        }
        if !(t.learning_rate.is_finite() && t.learning_rate > 0.0) {
            bad("training.learning_rate", format!("must be positive, got {} (typical LoRA: 1e-4 to 3e-4)", t.learning_rate));
        }
        if !(t.weight_decay.is_finite() && t.weight_decay >= 0.0) {
            bad("training.weight_decay", "must be zero or positive".into());
        }
        if !(0.0..1.0).contains(&t.beta1) || !(0.0..1.0).contains(&t.beta2) {
            bad("training.beta1", "AdamW betas must be in [0, 1)".into());
        }
        if t.eps.is_nan() || t.eps <= 0.0 {
            bad("training.eps", "must be positive".into());
        }
        if !(0.0..=1.0).contains(&t.warmup_ratio) {
            bad("training.warmup_ratio", format!("must be between 0 and 1, got {}", t.warmup_ratio));
        }
        if t.epochs == 0 && t.max_steps.is_none() {
            bad("training.epochs", "must be at least 1 (or set max_steps)".into());
        }
        if t.max_steps == Some(0) {
            bad("training.max_steps", "must be at least 1, or left out".into());
        }
        if t.max_grad_norm.is_nan() || t.max_grad_norm < 0.0 {
            bad("training.max_grad_norm", "must be zero (off) or positive".into());
        }
        if t.log_every == 0 {
            bad("training.log_every", "must be at least 1".into());
        }
        if t.keep_checkpoints == 0 {
            bad("training.keep_checkpoints", "must be at least 1".into());
        }
        let d = &self.data;
        if d.max_seq_len < 8 {
            bad("data.max_seq_len", format!("must be at least 8 tokens, got {}", d.max_seq_len));
        }
        if d.validation_file.is_none() && !(d.validation_ratio > 0.0 && d.validation_ratio < 0.9) {
            bad("data.validation_ratio", format!("must be in (0, 0.9) when there is no validation_file, got {}", d.validation_ratio));
        }
        if let Err(msg) = workbench_model::device::parse_device_name(&self.model.device) {
            bad("model.device", msg);
        }
        if self.run.name.trim().is_empty() || self.run.name.contains(['/', '\\']) {
            bad("run.name", "must be a non-empty name without slashes".into());
        }
        if let Some(gb) = self.run.memory_limit_gb
            && (gb.is_nan() || gb <= 0.0)
        {
            bad("run.memory_limit_gb", "must be positive".into());
        }
        e
    }

    /// Checks that the files the config names exist.
    pub fn validate_files(&self) -> Vec<FieldError> {
        let mut e = Vec::new();
        let mut need = |field: &str, p: &Path, what: &str| {
            if !p.exists() {
                e.push(FieldError { field: field.into(), message: format!("{} does not exist: {what}", p.display()) });
            }
        };
        need(
            "model.path",
            &self.model.path,
            "point it at a Hugging Face model directory (`workbench model fetch smollm2-135m-instruct` gets a real one)",
        );
        if self.model.path.is_dir() {
            need("model.path", &self.model.path.join("config.json"), "the model directory needs config.json");
            need("model.path", &self.model.path.join("tokenizer.json"), "the model directory needs tokenizer.json");
        }
        need("data.train_file", &self.data.train_file, "point it at a JSONL file of conversations");
        if let Some(p) = &self.data.validation_file {
            need("data.validation_file", p, "fix the path or remove the field to split the training file");
        }
        if let Some(p) = &self.data.test_file {
            need("data.test_file", p, "fix the path or remove the field");
        }
        if !CHAT_TEMPLATE_NAMES.contains(&self.data.chat_template.as_str()) {
            need("data.chat_template", Path::new(&self.data.chat_template), "use \"model\", \"mistral\" or a Jinja template file");
        }
        e
    }
}

/// `path` with `.` dropped and each `..` folded into its parent, lexically
/// (as written; symbolic links are not followed).
fn without_dot_parts(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TrainConfig {
        TrainConfig::from_toml(
            r#"
            [model]
            path = "m"
            [data]
            train_file = "t.jsonl"
            "#,
        )
        .unwrap()
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(sample().validate(), vec![]);
    }

    /// Phi-3's fused module names are targets: `qkv_proj` stands for q, k and
    /// v; PEFT's list adds a fused module only when all its parts are in.
    #[test]
    fn fused_module_names_are_targets() {
        let lora = |targets: &[&str]| LoraSection { target_modules: targets.iter().map(|t| t.to_string()).collect(), ..sample().lora };
        assert_eq!(lora(&["qkv_proj", "down_proj"]).resolved_targets(), ["q_proj", "k_proj", "v_proj", "down_proj"]);
        assert_eq!(lora(&["qkv_proj", "down_proj"]).peft_target_names(), ["q_proj", "k_proj", "v_proj", "down_proj", "qkv_proj"]);
        assert_eq!(lora(&["q_proj", "v_proj"]).peft_target_names(), ["q_proj", "v_proj"]);
        let mut c = sample();
        c.lora.target_modules = vec!["gate_up_proj".into()];
        assert_eq!(c.validate(), vec![]);
        c.lora.target_modules = vec!["qkv".into()];
        assert!(c.validate().iter().any(|e| e.message.contains("\"qkv\"")));
    }

    #[test]
    fn relative_paths_resolve_against_the_config_folder_without_dot_parts() {
        let mut c = sample();
        c.model.path = "../model".into();
        c.data.train_file = "./data/../data/t.jsonl".into();
        c.resolve_paths(Path::new("/work/proj/configs"));
        assert_eq!(c.model.path, Path::new("/work/proj/model"));
        assert_eq!(c.data.train_file, Path::new("/work/proj/configs/data/t.jsonl"));
        assert_eq!(without_dot_parts(Path::new("../../x")), Path::new("../../x"));
    }

    #[test]
    fn a_partial_lora_table_takes_the_documented_defaults() {
        let c = TrainConfig::from_toml("[model]\npath = \"m\"\n[data]\ntrain_file = \"t.jsonl\"\n[lora]\nrank = 64\n").unwrap();
        assert_eq!((c.lora.rank, c.lora.alpha, c.lora.dropout), (64, 32.0, 0.05));
        assert_eq!(c.lora.target_modules, vec!["all-linear".to_string()]);
    }

    #[test]
    fn all_linear_expands_to_seven_modules() {
        assert_eq!(sample().lora.resolved_targets().len(), 7);
    }

    #[test]
    fn bad_values_name_their_fields() {
        let mut c = sample();
        c.lora.rank = 0;
        c.lora.alpha = -1.0;
        c.lora.target_modules = vec!["qq_proj".into()];
        c.training.grad_accum = 0;
        c.training.warmup_ratio = 1.5;
        let fields: Vec<String> = c.validate().into_iter().map(|e| e.field).collect();
        for f in ["lora.rank", "lora.alpha", "lora.target_modules", "training.grad_accum", "training.warmup_ratio"] {
            assert!(fields.contains(&f.to_string()), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn unknown_field_is_rejected_with_its_name() {
        let err = TrainConfig::from_toml("[model]\npath='m'\nrnak=3\n[data]\ntrain_file='t'\n").unwrap_err();
        assert!(err.contains("rnak"), "{err}");
    }

    #[test]
    fn toml_round_trip() {
        let c = sample();
        assert_eq!(TrainConfig::from_toml(&c.to_toml()).unwrap(), c);
    }
}
