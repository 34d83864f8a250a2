//! Running commands on a cluster's login node with the system OpenSSH
//! client, so `~/.ssh/config` Host aliases, keys, agents and ProxyJump work
//! as users expect. One connection is shared by every command
//! (`ControlMaster` multiplexing); no password is ever asked for or stored
//! (`BatchMode`), and host keys are checked as the user's config says: an
//! unknown or changed key is an error telling what to do, never accepted
//! silently (a first-time key is shown to the user to accept: [`super::host_key`]). SSH's failures are turned into messages that say what happened.

use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

/// How to reach a login node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SshTarget {
    /// A host name, or a Host alias of `~/.ssh/config` (then the rest may stay empty).
    pub host: String,
    /// The remote user (default: the config's, else the local user).
    pub user: Option<String>,
    /// The port (default: the config's, else 22).
    pub port: Option<u16>,
    /// A private key file (default: the agent's and the config's).
    pub identity_file: Option<PathBuf>,
    /// A jump host (`ssh -J`), e.g. a bastion.
    pub jump_host: Option<String>,
    /// An ssh_config file to use instead of `~/.ssh/config`.
    pub config_file: Option<PathBuf>,
}

/// Why a command over SSH did not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshError {
    /// The host's key is not in known_hosts.
    #[error("the host key of {0} is not known yet: Test connection (or `workbench remote test`) shows its fingerprint to check and accept")]
    UnknownHostKey(String),
    /// The host's key differs from the known one.
    #[error(
        "the host key of {0} has CHANGED since the last connection (a reinstalled node, or someone in between): check with your administrator before removing the old key from known_hosts"
    )]
    ChangedHostKey(String),
    /// Nothing answered.
    #[error("cannot reach {0}: {1}; check the host, port and network (VPN?)")]
    Unreachable(String, String),
    /// The keys were refused.
    #[error("{0} refused the login (permission denied): check the user name and that your key is loaded (ssh-add) or named in the profile")]
    AuthFailed(String),
    /// The remote shell lacks the command.
    #[error("`{0}` is not found on the cluster: load its module or fix PATH in the profile's setup lines")]
    MissingCommand(String),
    /// The command ran and failed.
    #[error("`{command}` failed on the cluster (exit code {code}): {stderr}")]
    Failed {
        /// The remote command.
        command: String,
        /// Its exit code.
        code: i32,
        /// What it printed on stderr.
        stderr: String,
    },
    /// The ssh program itself could not be started.
    #[error("cannot run ssh: {0}; install the OpenSSH client")]
    NoClient(String),
}

/// Quotes `s` for a POSIX shell (the remote one).
pub fn quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

impl SshTarget {
    /// `user@host`, or the host (alias) alone.
    pub fn destination(&self) -> String {
        match &self.user {
            Some(u) if !u.is_empty() => format!("{u}@{}", self.host),
            _ => self.host.clone(),
        }
    }

    /// The ssh command that runs `remote` (a shell command line) there, its
    /// connection shared through a control socket in `control_dir`.
    pub fn command(&self, control_dir: &std::path::Path, remote: &str) -> Command {
        let mut c = Command::new("ssh");
        c.args(self.options(control_dir)).arg(self.destination()).arg("--").arg(remote);
        c
    }

    /// ssh's options (before the destination): config file, no passwords,
    /// keep-alives, the shared connection, port, key, jump host.
    pub fn options(&self, control_dir: &std::path::Path) -> Vec<String> {
        let mut o = Vec::new();
        if let Some(f) = &self.config_file {
            o.extend(["-F".to_string(), f.display().to_string()]);
        }
        for opt in [
            "BatchMode=yes",
            "ConnectTimeout=15",
            "ServerAliveInterval=15",
            "ServerAliveCountMax=4",
            "ControlMaster=auto",
            "ControlPersist=600",
        ] {
            o.extend(["-o".to_string(), opt.to_string()]);
        }
        o.extend(["-o".to_string(), format!("ControlPath={}", control_dir.join("%C").display())]);
        if let Some(p) = self.port {
            o.extend(["-p".to_string(), p.to_string()]);
        }
        if let Some(i) = &self.identity_file {
            o.extend(["-i".to_string(), i.display().to_string(), "-o".to_string(), "IdentitiesOnly=yes".to_string()]);
        }
        if let Some(j) = self.jump_host.as_deref().filter(|j| !j.is_empty()) {
            o.extend(["-J".to_string(), j.to_string()]);
        }
        o
    }

    /// Runs `remote` there; its stdout, or why it failed.
    pub fn run(&self, control_dir: &std::path::Path, remote: &str) -> Result<String, SshError> {
        let out = self.command(control_dir, remote).output().map_err(|e| SshError::NoClient(e.to_string()))?;
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        match out.status.code() {
            Some(0) => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
            code => Err(self.classify(remote, code.unwrap_or(-1), &stderr)),
        }
    }

    /// The error that ssh's exit `code` and `stderr` mean (255 is ssh's own failure).
    pub fn classify(&self, remote: &str, code: i32, stderr: &str) -> SshError {
        let host = self.host.clone();
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
        if code == 255 {
            if stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
                return SshError::ChangedHostKey(host);
            }
            if stderr.contains("Host key verification failed") || stderr.contains("No ED25519 host key is known") {
                return SshError::UnknownHostKey(host);
            }
            if stderr.contains("Permission denied") {
                return SshError::AuthFailed(host);
            }
            if [
                "Connection refused",
                "timed out",
                "No route to host",
                "Could not resolve hostname",
                "Network is unreachable",
                "Connection closed",
            ]
            .iter()
            .any(|m| stderr.contains(m))
            {
                return SshError::Unreachable(host, last);
            }
        }
        if code == 127 {
            let missing = remote.split_whitespace().next().unwrap_or(remote).to_string();
            return SshError::MissingCommand(missing);
        }
        SshError::Failed { command: remote.to_string(), code, stderr: last }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_command_shares_one_connection_never_asks_for_a_password_and_keeps_host_keys_checked() {
        let t = SshTarget {
            host: "login.hyperpod".into(),
            user: Some("ubuntu".into()),
            port: Some(2222),
            identity_file: Some("/k/id_ed25519".into()),
            jump_host: Some("bastion".into()),
            config_file: None,
        };
        let c = t.command(Path::new("/tmp/wb-ssh"), "squeue -h -j 7");
        let args: Vec<String> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = args.join(" ");
        assert_eq!(c.get_program(), "ssh");
        for want in ["BatchMode=yes", "ControlMaster=auto", "ControlPath=/tmp/wb-ssh/%C", "-p 2222", "-i /k/id_ed25519", "-J bastion"] {
            assert!(joined.contains(want), "{want} in {joined}");
        }
        assert!(!joined.contains("StrictHostKeyChecking"), "host keys are checked as the user's config says");
        assert_eq!(&args[args.len() - 3..], ["ubuntu@login.hyperpod", "--", "squeue -h -j 7"]);
        let alias = SshTarget { host: "cluster".into(), ..Default::default() };
        let args: Vec<String> = alias.command(Path::new("/c"), "true").get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert!(!args.iter().any(|a| a == "-p" || a == "-i" || a == "-J"));
        assert_eq!(args[args.len() - 3], "cluster");
    }

    #[test]
    fn ssh_failures_say_what_happened_and_what_to_do() {
        let t = SshTarget { host: "cluster".into(), ..Default::default() };
        let e = |code, stderr: &str| t.classify("sbatch --parsable job.sh", code, stderr).to_string();
        assert!(e(255, "Host key verification failed.\r\n").contains("not known yet"));
        assert!(e(255, "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\nHost key verification failed.").contains("CHANGED"));
        assert!(e(255, "ssh: connect to host 127.0.0.1 port 2999: Connection refused").contains("cannot reach cluster: ssh: connect"));
        assert!(e(255, "root@127.0.0.1: Permission denied (publickey).").contains("refused the login"));
        assert!(e(127, "bash: line 1: sbatch: command not found").contains("`sbatch` is not found"));
        assert!(e(1, "sbatch: error: invalid partition specified: gpu\n").contains("exit code 1): sbatch: error: invalid partition"));
    }

    #[test]
    fn remote_arguments_are_quoted_for_the_shell() {
        assert_eq!(quote("runs/smollm2-1"), "runs/smollm2-1");
        assert_eq!(quote("it's here"), r"'it'\''s here'");
        assert_eq!(quote(""), "''");
        assert_eq!(quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
    }
}
