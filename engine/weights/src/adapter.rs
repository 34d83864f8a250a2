//! LoRA adapters in PEFT's on-disk layout: `adapter_config.json` plus
//! `adapter_model.safetensors` with keys such as
//! `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`
//! (`lora_A` is `[r, in]`, `lora_B` is `[out, r]`), so PEFT and vLLM load the
//! files unchanged. This module is the only place that knows the format: the
//! model names its LoRA parameters by their Hugging Face module path
//! (`model.layers.0.self_attn.q_proj.lora_A.weight`), and [`peft_key`] and
//! [`model_name`] map between the two.

use std::collections::HashMap;
use std::path::Path;

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model::{LoraSpec, Model};

/// The adapter weights file name.
pub const WEIGHTS_FILE: &str = "adapter_model.safetensors";
/// The adapter config file name.
pub const CONFIG_FILE: &str = "adapter_config.json";

/// What PEFT puts before a module path in its tensor keys.
const PEFT_PREFIX: &str = "base_model.model.";

/// PEFT's key of the model parameter `name`
/// (`model.layers.0.self_attn.q_proj.lora_A.weight` ->
/// `base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight`).
pub fn peft_key(name: &str) -> String {
    format!("{PEFT_PREFIX}{name}")
}

/// The model parameter name of PEFT key `key`, the inverse of [`peft_key`]
/// (None for a key without PEFT's prefix).
pub fn model_name(key: &str) -> Option<&str> {
    key.strip_prefix(PEFT_PREFIX)
}

/// The fields of PEFT's `adapter_config.json` that a plain LoRA adapter uses.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdapterConfig {
    /// Always `LORA`.
    pub peft_type: String,
    /// Always `CAUSAL_LM`.
    #[serde(default)]
    pub task_type: Option<String>,
    /// Where the base model lives.
    #[serde(default)]
    pub base_model_name_or_path: Option<String>,
    /// Rank.
    pub r: usize,
    /// Alpha (scale alpha / r).
    pub lora_alpha: f64,
    /// Dropout used in training.
    #[serde(default)]
    pub lora_dropout: f64,
    /// Adapted projections.
    pub target_modules: TargetModules,
    /// Must be `none`.
    #[serde(default = "none")]
    pub bias: String,
    /// Must be false (weights are `[out, in]`).
    #[serde(default)]
    pub fan_in_fan_out: bool,
    /// Saved for inference.
    #[serde(default)]
    pub inference_mode: bool,
    /// PEFT's init flag (true: Kaiming A, zero B).
    #[serde(default = "yes")]
    pub init_lora_weights: bool,
    /// Unsupported when true.
    #[serde(default)]
    pub use_rslora: bool,
    /// Unsupported when true.
    #[serde(default)]
    pub use_dora: bool,
    /// Unsupported when non-empty.
    #[serde(default)]
    pub rank_pattern: HashMap<String, serde_json::Value>,
    /// Unsupported when non-empty.
    #[serde(default)]
    pub alpha_pattern: HashMap<String, serde_json::Value>,
    /// Unsupported when set.
    #[serde(default)]
    pub modules_to_save: Option<Vec<String>>,
    /// Unsupported when set.
    #[serde(default)]
    pub layers_to_transform: Option<serde_json::Value>,
}

/// PEFT writes target modules as a list, or as one string (a regex or
/// `all-linear`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TargetModules {
    /// Module names.
    List(Vec<String>),
    /// A single name, `all-linear`, or a regex (unsupported).
    One(String),
}

fn none() -> String {
    "none".into()
}
fn yes() -> bool {
    true
}

impl AdapterConfig {
    /// The config PEFT would write for `spec`, with `target_modules` as the
    /// checkpoint names them (`modules`: [`crate::model::arch::Family::peft_targets`]).
    pub fn from_spec(spec: &LoraSpec, modules: Vec<String>, base_model: &Path) -> Self {
        Self {
            peft_type: "LORA".into(),
            task_type: Some("CAUSAL_LM".into()),
            base_model_name_or_path: Some(base_model.display().to_string()),
            r: spec.rank,
            lora_alpha: spec.alpha,
            lora_dropout: spec.dropout,
            target_modules: TargetModules::List(modules),
            bias: none(),
            fan_in_fan_out: false,
            inference_mode: true,
            init_lora_weights: true,
            use_rslora: false,
            use_dora: false,
            rank_pattern: HashMap::new(),
            alpha_pattern: HashMap::new(),
            modules_to_save: None,
            layers_to_transform: None,
        }
    }

    /// The adapter shape this config describes, or why it is unsupported.
    pub fn spec(&self) -> std::result::Result<LoraSpec, String> {
        if self.peft_type != "LORA" {
            return Err(format!("peft_type {:?} is not LORA", self.peft_type));
        }
        let unsupported = [
            (self.use_rslora, "use_rslora"),
            (self.use_dora, "use_dora"),
            (self.fan_in_fan_out, "fan_in_fan_out"),
            (self.bias != "none", "bias other than \"none\""),
            (!self.rank_pattern.is_empty(), "rank_pattern"),
            (!self.alpha_pattern.is_empty(), "alpha_pattern"),
            (self.modules_to_save.as_ref().is_some_and(|m| !m.is_empty()), "modules_to_save"),
            (self.layers_to_transform.as_ref().is_some_and(|v| !v.is_null()), "layers_to_transform"),
        ];
        if let Some((_, what)) = unsupported.iter().find(|(on, _)| *on) {
            return Err(format!("{what} is not supported"));
        }
        // PEFT matches a target by the module path's last part, and writes "all-linear"
        // out as full paths (`model.layers.0.self_attn.q_proj`); an adapter on only
        // some layers is then refused by `load_into`, which finds tensors missing.
        let listed = match &self.target_modules {
            TargetModules::List(l) => l.clone(),
            TargetModules::One(s) => vec![s.clone()],
        };
        let mut targets: Vec<String> = Vec::new();
        for t in listed {
            let module = t.rsplit('.').next().unwrap_or(&t).to_string();
            if !targets.contains(&module) {
                targets.push(module);
            }
        }
        if let Some(bad) = targets.iter().find(|m| !crate::config::is_target_name(m)) {
            return Err(format!("target module {bad:?} is not one of {}", crate::config::LINEAR_MODULES.join(", ")));
        }
        let lora = crate::config::LoraSection { rank: self.r, alpha: self.lora_alpha, dropout: self.lora_dropout, target_modules: targets };
        let resolved = lora.resolved_targets();
        Ok(LoraSpec { rank: self.r, alpha: self.lora_alpha, dropout: self.lora_dropout, targets: resolved })
    }
}

/// Writes the model's LoRA parameters and config to `dir` (atomically,
/// replacing any adapter there).
pub fn save(model: &Model, spec: &LoraSpec, base_model: &Path, dir: &Path) -> Result<()> {
    let tensors: HashMap<String, Tensor> = model.trainable().iter().map(|p| (peft_key(&p.name), p.var.as_tensor().detach())).collect();
    let modules = model.config.family().peft_targets(&spec.targets).map_err(Error::Other)?;
    let config = AdapterConfig::from_spec(spec, modules, base_model);
    crate::atomic::write_dir(dir, |tmp| {
        crate::atomic::write_json(&tmp.join(CONFIG_FILE), &config)?;
        crate::model::weights::save_file(&tmp.join(WEIGHTS_FILE), &tensors, None)
    })
}

/// Reads an adapter directory's config.
pub fn load_config(dir: &Path) -> Result<AdapterConfig> {
    let path = dir.join(CONFIG_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::model(&path, format!("invalid adapter config: {e}")))
}

/// Attaches the adapter in `dir` to `model` (which must have no adapter yet)
/// and loads its weights. Returns the adapter's shape.
pub fn load_into(model: &mut Model, dir: &Path) -> Result<LoraSpec> {
    let config = load_config(dir)?;
    let spec = config.spec().map_err(|m| Error::model(dir.join(CONFIG_FILE), m))?;
    let weights_path = dir.join(WEIGHTS_FILE);
    let tensors = crate::model::weights::load_file(&weights_path, model.dtype(), &model.device().clone())?;
    model.add_lora(&spec, 0)?;
    let expected: std::collections::HashSet<&str> = model.trainable().iter().map(|p| p.name.as_str()).collect();
    if let Some(extra) = tensors.keys().find(|k| !model_name(k).is_some_and(|name| expected.contains(name))) {
        return Err(Error::model(&weights_path, format!("unexpected tensor {extra}: the adapter does not match this model")));
    }
    let tensors: HashMap<String, Tensor> = tensors.into_iter().filter_map(|(k, t)| Some((model_name(&k)?.to_string(), t))).collect();
    model.set_trainable(&tensors, &weights_path)?;
    Ok(spec)
}
