//! The job directory of a remote run: what is uploaded for one submission
//! and the `job.sbatch` that runs it, for each [`Target`]:
//!
//! - [`engine`]: the project's own headless trainer reads the config and the raw data.
//! - [`python`]: `train_lora.py` (transformers + PEFT on GPUs, or optimum-neuron on
//!   Trainium) under torchrun, on examples the workbench tokenised here.
//! - [`neuron`]: what the Trainium target adds (instance types, environment,
//!   pre-compilation, consolidation, the architectures optimum-neuron trains).
//!
//! The base model goes once to a folder the profile's jobs share,
//! `REMOTE_DIR/models/KEY` (KEY from its files' names, sizes and times), so a
//! second run on the same model uploads nothing of it.

pub mod engine;
pub mod neuron;
pub mod python;

use std::path::{Path, PathBuf};

use super::profile::{Profile, Target};
use crate::config::TrainConfig;
use crate::error::Result;

/// What to upload and run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDir {
    /// The job directory's name (also the job name), unique per submission.
    pub name: String,
    /// The base model folder, and its folder under `REMOTE_DIR/models/`.
    pub model: (PathBuf, String),
    /// Local files to upload, with their path in the job directory.
    pub uploads: Vec<(PathBuf, String)>,
    /// Files made for the job (`config.toml`, `job.sbatch`, scripts, tokenised data), by path in the job directory.
    pub files: Vec<(String, Vec<u8>)>,
}

impl JobDir {
    /// The made file at `path` as text (empty if there is none).
    pub fn text(&self, path: &str) -> &str {
        self.files.iter().find(|(p, _)| p == path).map_or("", |(_, b)| std::str::from_utf8(b).unwrap_or(""))
    }
}

/// The job directory of `config` (resolved, checked) for `profile`'s target, named `name`.
pub fn build(config: &TrainConfig, profile: &Profile, name: &str) -> Result<JobDir> {
    match profile.cluster.target {
        Target::Engine => Ok(engine::job(config, profile, name)),
        Target::Cuda | Target::Neuron => python::job(config, profile, name),
    }
}

/// Whether `profile`'s target can train `config` at all (checked before
/// anything is uploaded, and by the window before it offers Submit): the
/// Python targets train LoRA adapters only, and optimum-neuron only some
/// architectures.
pub fn check(config: &TrainConfig, profile: &Profile) -> Result<()> {
    let target = profile.cluster.target;
    if target != Target::Engine && config.training.mode == crate::config::TrainMode::Full {
        return Err(crate::error::Error::Other(format!(
            "training.mode = \"full\": the {} target trains LoRA adapters; use mode \"lora\", or the engine target",
            target.name()
        )));
    }
    if target == Target::Neuron {
        neuron::check_model(&config.model.path, &python::Layout::of(profile))?;
    }
    Ok(())
}

/// What the target of `profile` would not honour of `config`, in words,
/// without building the job (the window shows it before submitting).
pub fn not_honoured(config: &TrainConfig, profile: &Profile) -> Vec<String> {
    match profile.cluster.target {
        Target::Engine => engine::not_honoured(config, profile),
        Target::Cuda | Target::Neuron => python::not_honoured(config, profile),
    }
}

/// `name` with every character but ASCII letters, digits, `.`, `_` and `-`
/// made `-`: safe in a path on the cluster and in an `#SBATCH` line, which
/// Slurm reads without a shell.
fn plain(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '-' }).collect()
}

/// The name of a model folder's shared copy on the cluster: its folder name
/// and a hash of its files' names, sizes and modification times (a changed
/// or re-imported model gets a new copy).
pub fn model_key(dir: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut files: Vec<(String, u64, u128)> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let m = e.metadata().ok()?;
                    let t = m.modified().ok()?.duration_since(std::time::UNIX_EPOCH).ok()?.as_nanos();
                    Some((e.file_name().to_string_lossy().into_owned(), m.len(), t))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    let hash = Sha256::digest(format!("{files:?}").as_bytes());
    let hex: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let name: String = dir.file_name().map_or_else(|| "model".into(), |n| n.to_string_lossy().into_owned());
    format!("{}-{hex}", plain(&name))
}

/// The model's path as the job directory (`REMOTE_DIR/NAME`) sees its shared copy.
fn shared_model(config: &TrainConfig) -> (PathBuf, String, String) {
    let key = model_key(&config.model.path);
    (config.model.path.clone(), key.clone(), format!("../models/{key}"))
}

/// The start of `job.sbatch`: the `#SBATCH` lines (`nodes`, one task per
/// node unless said otherwise, the profile's partition, time and account,
/// `extra` lines), then going to the job directory and the profile's set-up lines.
fn sbatch_head(profile: &Profile, name: &str, nodes: u32, extra: &[&str]) -> String {
    let c = &profile.cluster;
    // Slurm reads #SBATCH lines without a shell: a job name of plain characters only.
    let mut s = format!(
        "#!/bin/bash\n#SBATCH --job-name={}\n#SBATCH --output=slurm-%j.out\n#SBATCH --nodes={nodes}\n#SBATCH --ntasks-per-node=1\n",
        plain(name)
    );
    for (flag, value) in [("partition", &c.partition), ("time", &c.time_limit), ("account", &c.account)] {
        if !value.is_empty() {
            // Plain values (Profile::check): Slurm reads these lines without a shell, so no quoting.
            s += &format!("#SBATCH --{flag}={value}\n");
        }
    }
    for line in extra {
        s += &format!("#SBATCH {line}\n");
    }
    s += "set -eo pipefail\ncd \"$SLURM_SUBMIT_DIR\"\n";
    for line in &c.setup {
        s += line;
        s.push('\n');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_models_key_follows_its_files() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("my model");
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join("config.json"), "{}").unwrap();
        let key = model_key(&model);
        assert!(key.starts_with("my-model-") && key == model_key(&model), "{key}");
        std::fs::write(model.join("config.json"), "{\"a\": 1}").unwrap();
        assert_ne!(model_key(&model), key);
    }
}
