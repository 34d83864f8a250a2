//! A remote profile: how to reach a cluster's login node ([`SshTarget`]) and
//! how to run jobs there (partition, nodes, tasks per node, time limit,
//! account, the working directory on the shared file system, the
//! environment set-up lines: module loads, venv or conda activation), and
//! what trains on the nodes ([`Target`]).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ssh::SshTarget;

/// What trains on a cluster's nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// The workbench's own headless trainer (`cluster.workbench`): no Python stack needed.
    #[default]
    Engine,
    /// Hugging Face transformers + PEFT under torchrun on GPUs (optionally DeepSpeed ZeRO).
    Cuda,
    /// optimum-neuron under torchrun on AWS Trainium (tensor parallel, `cluster.instance_type`).
    Neuron,
}

impl Target {
    /// Every target, in the order the window offers them.
    pub const ALL: [Target; 3] = [Target::Engine, Target::Cuda, Target::Neuron];

    /// Its name in a profile and in the window.
    pub fn name(self) -> &'static str {
        match self {
            Target::Engine => "engine",
            Target::Cuda => "cuda",
            Target::Neuron => "neuron",
        }
    }

    /// What it is, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Target::Engine => "the workbench engine (headless build on the node)",
            Target::Cuda => "GPU: transformers + PEFT under torchrun",
            Target::Neuron => "AWS Trainium: optimum-neuron under torchrun",
        }
    }
}

impl std::str::FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Target::ALL.into_iter().find(|t| t.name() == s.trim()).ok_or_else(|| format!("unknown target {s:?}: use engine, cuda or neuron"))
    }
}

/// Slurm settings of a profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Cluster {
    /// `--partition` (empty: the cluster's default).
    pub partition: String,
    /// `--nodes`.
    pub nodes: u32,
    /// `--ntasks-per-node` (devices or NeuronCores per node for the Python targets).
    pub tasks_per_node: u32,
    /// `--time` (`HH:MM:SS` or `D-HH:MM:SS`; empty: the partition's limit).
    pub time_limit: String,
    /// `--account` (empty: none).
    pub account: String,
    /// Where job directories go, on the file system the nodes share (e.g. `/fsx/ubuntu/workbench`).
    pub remote_dir: String,
    /// Shell lines run before training (`module load ...`, `source venv/bin/activate`).
    pub setup: Vec<String>,
    /// The workbench program on the cluster (the headless build), for the workbench-engine target.
    pub workbench: String,
    /// What a node costs per hour (0: unknown), for the estimate before submitting.
    pub price_per_node_hour: f64,
    /// What trains on the nodes.
    pub target: Target,
    /// The Python program of the set-up environment (cuda and neuron targets).
    pub python: String,
    /// The Trainium instance type of the nodes (neuron target): NeuronCores per node and tensor parallelism.
    pub instance_type: String,
    /// Compile the Neuron graphs with `neuron_parallel_compile` before training (neuron target).
    pub precompile: bool,
    /// Tensor-parallel degree on Trainium (0: the instance type's, as optimum-neuron's examples use; a
    /// small model whose heads do not divide over it trains with 1).
    pub tensor_parallel: u32,
    /// DeepSpeed ZeRO stage for the cuda target (0: none, 2 or 3).
    pub deepspeed: u8,
    /// Ask Slurm for `tasks_per_node` GPUs per node (`--gpus-per-node`, cuda target): a step sees only the
    /// GPUs it was given where Slurm manages them; false on clusters without GPU resources (GRES).
    pub request_gpus: bool,
}

impl Default for Cluster {
    fn default() -> Self {
        Self {
            partition: String::new(),
            nodes: 1,
            tasks_per_node: 1,
            time_limit: String::new(),
            account: String::new(),
            remote_dir: "workbench-jobs".into(),
            setup: Vec::new(),
            workbench: "workbench".into(),
            price_per_node_hour: 0.0,
            target: Target::Engine,
            python: "python3".into(),
            instance_type: "trn1.32xlarge".into(),
            precompile: false,
            tensor_parallel: 0,
            deepspeed: 0,
            request_gpus: true,
        }
    }
}

/// A named way to a cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Profile {
    /// Its name in the window ("hyperpod", "gpu-cluster").
    pub name: String,
    /// The login node.
    pub ssh: SshTarget,
    /// How jobs run.
    pub cluster: Cluster,
}

impl Profile {
    /// A profile to start from for `target` (what `workbench remote profile` prints):
    /// a HyperPod-like cluster with the settings that target reads.
    pub fn example(target: Target) -> Self {
        let mut p = Profile { name: "my-cluster".into(), ..Default::default() };
        p.ssh.host = "my-cluster-login".into();
        let c = &mut p.cluster;
        c.target = target;
        c.remote_dir = "/fsx/ubuntu/workbench".into();
        match target {
            Target::Engine => c.setup = vec!["module load slurm".into()],
            Target::Cuda => {
                (c.partition, c.tasks_per_node) = ("gpu".into(), 8);
                c.setup = vec!["source /fsx/ubuntu/venv/bin/activate".into()];
            }
            Target::Neuron => {
                c.partition = "trn".into();
                // The Neuron SDK's PyTorch environment on the DLAMI / HyperPod nodes.
                c.setup = vec!["source /opt/aws_neuronx_venv_pytorch_2_8/bin/activate".into()];
            }
        }
        p
    }

    /// Reads the profile file `path` (TOML), unchecked: a profile with a
    /// missing value still opens, to be completed ([`Profile::check`]).
    pub fn read(path: &Path) -> crate::error::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| crate::error::Error::io(path, e))?;
        toml::from_str(&text).map_err(|e| crate::error::Error::File { path: path.into(), message: format!("is not a remote profile: {e}") })
    }

    /// [`Profile::read`] and [`Profile::check`]: a profile to use.
    pub fn load(path: &Path) -> crate::error::Result<Self> {
        let profile = Self::read(path)?;
        profile.check().map_err(|message| crate::error::Error::File { path: path.into(), message })?;
        Ok(profile)
    }

    /// Writes the profile to `dir/NAME.toml` (atomically, the folder made if
    /// missing) and returns the file.
    pub fn save(&self, dir: &Path) -> crate::error::Result<PathBuf> {
        std::fs::create_dir_all(dir).map_err(|e| crate::error::Error::io(dir, e))?;
        let file = dir.join(format!("{}.toml", self.name));
        let text = toml::to_string_pretty(self).map_err(|e| crate::error::Error::Other(e.to_string()))?;
        crate::atomic::write(&file, text.as_bytes())?;
        Ok(file)
    }

    /// The profile files in `dir` (`*.toml`), by name.
    pub fn list(dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect())
            .unwrap_or_default();
        v.sort();
        v
    }

    /// What is wrong with the profile, if anything (field named).
    pub fn check(&self) -> Result<(), String> {
        if self.ssh.host.trim().is_empty() {
            return Err("ssh.host: give a host name or a Host alias of ~/.ssh/config".into());
        }
        if self.cluster.nodes == 0 || self.cluster.tasks_per_node == 0 {
            return Err("cluster.nodes and cluster.tasks_per_node must be at least 1".into());
        }
        if self.cluster.remote_dir.trim().is_empty() {
            return Err("cluster.remote_dir: give the folder for job directories on the shared file system".into());
        }
        if !self.cluster.price_per_node_hour.is_finite() || self.cluster.price_per_node_hour < 0.0 {
            return Err("cluster.price_per_node_hour must be 0 (unknown) or a price".into());
        }
        if self.cluster.target == Target::Neuron {
            let Some(instance) = super::job_dir::neuron::instance(&self.cluster.instance_type) else {
                return Err(format!(
                    "cluster.instance_type {:?} is not a Trainium instance the workbench knows; use one of {}",
                    self.cluster.instance_type,
                    super::job_dir::neuron::INSTANCES.iter().map(|i| i.name).collect::<Vec<_>>().join(", ")
                ));
            };
            let tp = self.cluster.tensor_parallel;
            if tp > 0 && !instance.cores.is_multiple_of(tp) {
                return Err(format!(
                    "cluster.tensor_parallel = {tp} does not divide the {} NeuronCores of a {}",
                    instance.cores, instance.name
                ));
            }
        }
        // Slurm reads #SBATCH lines without a shell: values of plain characters only.
        for (field, value) in [("partition", &self.cluster.partition), ("account", &self.cluster.account)] {
            if !value.chars().all(|c| c.is_ascii_alphanumeric() || "._,-".contains(c)) {
                return Err(format!("cluster.{field} {value:?}: use letters, digits, '.', '_', ',' and '-' only"));
            }
        }
        if ![0, 2, 3].contains(&self.cluster.deepspeed) {
            return Err(format!("cluster.deepspeed = {}: use 0 (none), 2 or 3 (the ZeRO stage)", self.cluster.deepspeed));
        }
        let t = &self.cluster.time_limit;
        if !t.is_empty() && !t.chars().all(|c| c.is_ascii_digit() || c == ':' || c == '-') {
            return Err(format!("cluster.time_limit {t:?}: use minutes, HH:MM:SS or D-HH:MM:SS"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_reads_from_toml_with_defaults_and_bad_fields_are_named() {
        let p: Profile = toml::from_str("name = \"hyperpod\"\n[ssh]\nhost = \"hyperpod-login\"\n[cluster]\npartition = \"trn2\"\nsetup = [\"source ~/venv/bin/activate\"]\n").unwrap();
        assert_eq!((p.cluster.nodes, p.cluster.partition.as_str(), p.cluster.workbench.as_str()), (1, "trn2", "workbench"));
        assert_eq!(p.check(), Ok(()));
        assert!(toml::from_str::<Profile>("[ssh]\nhots = \"x\"\n").unwrap_err().to_string().contains("hots"));
        let bad = Profile {
            cluster: Cluster { time_limit: "two hours".into(), ..Default::default() },
            ssh: SshTarget { host: "h".into(), ..Default::default() },
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("time_limit"));
        assert!(Profile::default().check().unwrap_err().contains("ssh.host"));
        // #SBATCH values are read without a shell: plain names only; a TP degree must divide the instance's cores.
        let mut p = Profile { ssh: SshTarget { host: "h".into(), ..Default::default() }, ..Default::default() };
        p.cluster.partition = "gpu queue#1".into();
        assert!(p.check().unwrap_err().contains("cluster.partition"));
        p.cluster.partition = "p4d.24xl,gpu-a".into();
        (p.cluster.target, p.cluster.tensor_parallel) = (Target::Neuron, 3);
        assert!(p.check().unwrap_err().contains("does not divide the 32 NeuronCores"));
        p.cluster.tensor_parallel = 1;
        assert_eq!(p.check(), Ok(()));
        p.cluster.instance_type = "p5.48xlarge".into();
        assert!(p.check().unwrap_err().contains("not a Trainium instance"));
    }
}
