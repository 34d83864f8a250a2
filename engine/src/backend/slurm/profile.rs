//! A remote profile: how to reach a cluster's login node ([`SshTarget`]) and
//! how to run jobs there (partition, nodes, tasks per node, time limit,
//! account, the working directory on the shared file system, and the
//! environment set-up lines: module loads, venv or conda activation).

use serde::{Deserialize, Serialize};

use super::ssh::SshTarget;

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
    }
}
