//! The job directory of a remote run with the workbench-engine target (the
//! project's own headless trainer on the node): the config with every path
//! inside the job directory, the data files, and the sbatch script. The base
//! model goes once to a folder the profile's jobs share,
//! `REMOTE_DIR/models/KEY` (KEY from its files' names, sizes and times), so a
//! second run on the same model uploads nothing of it. Nothing else is
//! needed on the cluster but the `workbench` program the profile names.

use std::path::PathBuf;

use super::profile::Profile;
use super::ssh::quote;
use crate::config::TrainConfig;

/// What to upload and run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDir {
    /// The job directory's name (also the job name), unique per submission.
    pub name: String,
    /// The base model folder, and its folder under `REMOTE_DIR/models/`.
    pub model: (PathBuf, String),
    /// Local files to upload, with their path in the job directory.
    pub uploads: Vec<(PathBuf, String)>,
    /// `config.toml` as the node reads it.
    pub config: String,
    /// `job.sbatch`.
    pub script: String,
    /// Settings of the profile the target does not honour, in words (shown before submitting).
    pub not_honoured: Vec<String>,
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
pub fn model_key(dir: &std::path::Path) -> String {
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

/// Where a data file goes in the job directory.
fn data_name(what: &str) -> String {
    format!("data/{what}.jsonl")
}

/// The job directory of `config` (resolved, checked) for `profile`, named `name`.
pub fn engine_job(config: &TrainConfig, profile: &Profile, name: &str) -> JobDir {
    let mut remote = config.clone();
    let key = model_key(&config.model.path);
    // The job directory is REMOTE_DIR/NAME: the shared models folder is beside it.
    remote.model.path = format!("../models/{key}").into();
    let mut uploads = vec![(config.data.train_file.clone(), data_name("train"))];
    remote.data.train_file = data_name("train").into();
    if let Some(v) = &config.data.validation_file {
        uploads.push((v.clone(), data_name("validation")));
        remote.data.validation_file = Some(data_name("validation").into());
    }
    if let Some(t) = &config.data.test_file {
        uploads.push((t.clone(), data_name("test")));
        remote.data.test_file = Some(data_name("test").into());
    }
    if !["model", "mistral"].contains(&config.data.chat_template.as_str()) {
        uploads.push((PathBuf::from(&config.data.chat_template), "data/chat_template.jinja".into()));
        remote.data.chat_template = "data/chat_template.jinja".into();
    }
    remote.run.runs_dir = "runs".into();
    remote.model.device = "cpu".into();
    let c = &profile.cluster;
    let mut not_honoured = Vec::new();
    if c.nodes > 1 || c.tasks_per_node > 1 {
        not_honoured.push(format!(
            "the workbench engine trains in one process on one node: nodes = {}, tasks per node = {} are not used",
            c.nodes, c.tasks_per_node
        ));
    }
    if config.model.device != "cpu" {
        not_honoured.push(format!("device {} is not used: the node's build trains on its CPUs", config.model.device));
    }
    let mut script = String::from("#!/bin/bash\n");
    // Slurm reads #SBATCH lines without a shell: a job name of plain characters only.
    script += &format!("#SBATCH --job-name={}\n#SBATCH --output=slurm-%j.out\n#SBATCH --nodes=1\n#SBATCH --ntasks=1\n", plain(name));
    for (flag, value) in [("partition", &c.partition), ("time", &c.time_limit), ("account", &c.account)] {
        if !value.is_empty() {
            script += &format!("#SBATCH --{flag}={}\n", quote(value));
        }
    }
    script += "set -eo pipefail\ncd \"$SLURM_SUBMIT_DIR\"\n";
    for line in &c.setup {
        script += line;
        script.push('\n');
    }
    script += &format!("srun --ntasks=1 {} train --config config.toml\n", quote(&c.workbench));
    JobDir { name: name.into(), model: (config.model.path.clone(), key), uploads, config: remote.to_toml(), script, not_honoured }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::backend::slurm::profile::Cluster;

    fn config() -> TrainConfig {
        TrainConfig::from_toml("[model]\npath = \"/data/models/mistral\"\n[data]\ntrain_file = \"/data/hr/train.jsonl\"\nvalidation_file = \"/data/hr/val.jsonl\"\n").unwrap()
    }

    #[test]
    fn the_job_directory_holds_everything_with_paths_inside_it_and_the_script_is_valid_bash() {
        let profile = Profile {
            cluster: Cluster {
                partition: "trn2".into(),
                time_limit: "02:00:00".into(),
                setup: vec!["module load python".into()],
                workbench: "/opt/wb/workbench".into(),
                nodes: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        let job = engine_job(&config(), &profile, "hr-lora-1");
        assert_eq!(
            job.uploads.iter().map(|(l, r)| (l.display().to_string(), r.as_str())).collect::<Vec<_>>(),
            [("/data/hr/train.jsonl".to_string(), "data/train.jsonl"), ("/data/hr/val.jsonl".to_string(), "data/validation.jsonl"),]
        );
        // The node reads the config as written: paths inside the job directory, runs in runs/.
        let back = TrainConfig::from_toml(&job.config).unwrap();
        assert_eq!(
            (back.model.path.as_path(), back.data.train_file.as_path(), back.run.runs_dir.as_path()),
            (Path::new(&format!("../models/{}", job.model.1)), Path::new("data/train.jsonl"), Path::new("runs"))
        );
        assert_eq!((job.model.0.as_path(), job.model.1.starts_with("mistral-")), (Path::new("/data/models/mistral"), true));
        assert_eq!((back.lora.rank, back.training.learning_rate), (config().lora.rank, config().training.learning_rate));
        for line in [
            "#SBATCH --partition=trn2",
            "#SBATCH --time=02:00:00",
            "module load python",
            "srun --ntasks=1 /opt/wb/workbench train --config config.toml",
        ] {
            assert!(job.script.contains(line), "{line} in\n{}", job.script);
        }
        assert!(!job.script.contains("--account"));
        assert!(job.not_honoured[0].contains("nodes = 2"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("job.sbatch"), &job.script).unwrap();
        // The model's key follows its files: the same folder keeps it, a changed file changes it.
        let model = dir.path().join("my model");
        std::fs::create_dir_all(&model).unwrap();
        std::fs::write(model.join("config.json"), "{}").unwrap();
        let key = model_key(&model);
        assert!(key.starts_with("my-model-") && key == model_key(&model), "{key}");
        std::fs::write(model.join("config.json"), "{\"a\": 1}").unwrap();
        assert_ne!(model_key(&model), key);
        let check = std::process::Command::new("bash").arg("-n").arg(dir.path().join("job.sbatch")).output().unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    }
}
