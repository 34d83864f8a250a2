//! The workbench-engine target: the project's own headless trainer on the
//! node reads the config (every path inside the job directory) and the raw
//! data files. Nothing else is needed on the cluster but the `workbench`
//! program the profile names.

use std::path::PathBuf;

use super::{JobDir, sbatch_head, shared_model};
use crate::config::TrainConfig;
use crate::slurm::profile::Profile;
use crate::slurm::ssh::quote;

/// Where a data file goes in the job directory.
fn data_name(what: &str) -> String {
    format!("data/{what}.jsonl")
}

/// What the engine target does not use of `config` and `profile`, in words.
pub fn not_honoured(config: &TrainConfig, profile: &Profile) -> Vec<String> {
    let c = &profile.cluster;
    let mut out = Vec::new();
    if c.nodes > 1 || c.tasks_per_node > 1 {
        out.push(format!(
            "the workbench engine trains in one process on one node: nodes = {}, tasks per node = {} are not used",
            c.nodes, c.tasks_per_node
        ));
    }
    if config.model.device != "cpu" {
        out.push(format!("device {} is not used: the node's build trains on its CPUs", config.model.device));
    }
    out
}

/// The job directory of `config` (resolved, checked) for `profile`, named `name`.
pub fn job(config: &TrainConfig, profile: &Profile, name: &str) -> JobDir {
    let mut remote = config.clone();
    let (local_model, key, remote_model) = shared_model(config);
    remote.model.path = remote_model.into();
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
    let mut script = sbatch_head(profile, name, 1, &[]);
    script += &format!("srun --ntasks=1 {} train --config config.toml\n", quote(&profile.cluster.workbench));
    JobDir {
        name: name.into(),
        model: (local_model, key),
        uploads,
        files: vec![(crate::runs::files::CONFIG.into(), remote.to_toml().into_bytes()), ("job.sbatch".into(), script.into_bytes())],
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::slurm::profile::Cluster;

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
        let job = job(&config(), &profile, "hr-lora-1");
        assert_eq!(
            job.uploads.iter().map(|(l, r)| (l.display().to_string(), r.as_str())).collect::<Vec<_>>(),
            [("/data/hr/train.jsonl".to_string(), "data/train.jsonl"), ("/data/hr/val.jsonl".to_string(), "data/validation.jsonl"),]
        );
        // The node reads the config as written: paths inside the job directory, runs in runs/.
        let back = TrainConfig::from_toml(job.text("config.toml")).unwrap();
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
            assert!(job.text("job.sbatch").contains(line), "{line} in\n{}", job.text("job.sbatch"));
        }
        assert!(!job.text("job.sbatch").contains("--account"));
        assert!(not_honoured(&config(), &profile)[0].contains("nodes = 2"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("job.sbatch"), job.text("job.sbatch")).unwrap();
        let check = std::process::Command::new("bash").arg("-n").arg(dir.path().join("job.sbatch")).output().unwrap();
        assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    }
}
