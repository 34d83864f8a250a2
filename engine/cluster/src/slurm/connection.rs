//! A profile's cluster, reached over one shared SSH connection: testing the
//! connection, uploading a job directory (rsync over the same connection, so
//! only what changed travels), submitting it (`sbatch --parsable`), asking
//! for a job's state (`squeue`, then `scontrol show job`, then `sacct -c` or
//! `sacct` once the controller has forgotten it), cancelling (`scancel`),
//! reading a remote file from a byte offset, and fetching a folder back.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::job_dir::JobDir;
use super::job_state::{JobInfo, parse_sacct, parse_sbatch, parse_scontrol, parse_squeue};
use super::profile::{Profile, Target};
use super::ssh::{SshError, quote};
use crate::error::{Error, Result};

/// A cluster to talk to; its shared SSH connection closes when it is dropped.
#[derive(Debug)]
pub struct Connection {
    /// Its profile.
    pub profile: Profile,
    /// Where the shared connection's socket lives (short: sockets have a length limit).
    pub control_dir: PathBuf,
}

/// What "test connection" found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionReport {
    /// `sinfo`'s partitions: name, availability, nodes, state.
    pub partitions: Vec<String>,
    /// Where `sbatch` is.
    pub sbatch: String,
    /// The workbench program's version line on the cluster, if found.
    pub workbench: Option<String>,
    /// The Python of the set-up environment and its training packages' versions, if Python runs there.
    pub python: Option<String>,
    /// What the profile's target needs and the cluster lacks, in words.
    pub missing: Vec<String>,
}

impl ConnectionReport {
    /// The report as lines for a person (the CLI prints them, the window shows them).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("sbatch at {}", self.sbatch)];
        out.extend(self.partitions.iter().map(|p| format!("partition {p}")));
        out.extend(self.workbench.iter().cloned());
        out.extend(self.python.iter().cloned());
        out.extend(self.missing.iter().map(|m| format!("missing: {m}")));
        out
    }
}

/// Prints the Python version and the installed training packages as JSON
/// (package metadata only: nothing is imported, so it is quick).
const PYTHON_STACK: &str = "import sys, json, importlib.metadata as m\n\
def v(p):\n    try:\n        return m.version(p)\n    except Exception:\n        return None\n\
names = ['torch', 'transformers', 'peft', 'accelerate', 'deepspeed', 'trl', 'optimum-neuron', 'torch-neuronx', 'neuronx-cc']\n\
print(json.dumps({'python': sys.version.split()[0], 'packages': {n: v(n) for n in names if v(n)}}))";

/// The packages each Python target imports.
fn needed(target: Target) -> &'static [&'static str] {
    match target {
        Target::Engine => &[],
        Target::Cuda => &["torch", "transformers", "peft", "accelerate"],
        Target::Neuron => &["optimum-neuron", "torch-neuronx", "peft", "trl"],
    }
}

impl From<SshError> for Error {
    fn from(e: SshError) -> Self {
        Error::Other(e.to_string())
    }
}

impl Connection {
    /// The connection of `profile` (nothing is opened yet).
    pub fn new(profile: Profile) -> Result<Self> {
        profile.check().map_err(Error::Other)?;
        // One socket folder per connection: two profiles for the same host must not share a connection
        // (the second's host-key and login settings would never be checked).
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let control_dir = std::env::temp_dir().join(format!("wb-ssh-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&control_dir).map_err(|e| Error::io(&control_dir, e))?;
        Ok(Self { profile, control_dir })
    }

    /// Runs a shell command line on the login node, after the profile's set-up lines.
    pub fn run(&self, command: &str) -> Result<String> {
        Ok(self.profile.ssh.run(&self.control_dir, &self.with_setup(command))?)
    }

    /// `command` after the profile's set-up lines (module loads, venv).
    fn with_setup(&self, command: &str) -> String {
        let mut lines = self.profile.cluster.setup.clone();
        lines.push(command.to_string());
        lines.join("\n")
    }

    /// Closes the shared connection (the next command opens a new one).
    pub fn close(&self) {
        let mut c = Command::new("ssh");
        c.args(self.profile.ssh.options(&self.control_dir)).args(["-O", "exit"]).arg(self.profile.ssh.destination());
        let _ = c.output();
    }

    /// SSH reachable, Slurm's commands there, its partitions, the workbench
    /// program, Python and its training packages, and what the target lacks.
    pub fn test(&self) -> Result<ConnectionReport> {
        // The set-up lines alone first, stopping at the first that fails (a venv path, a module name):
        // named as such, not taken for a missing sbatch.
        let setup = &self.profile.cluster.setup;
        if !setup.is_empty() {
            match self.profile.ssh.run(&self.control_dir, &format!("set -e\n{}", setup.join("\n"))) {
                Ok(_) => {}
                Err(SshError::Failed { stderr, .. }) => {
                    return Err(Error::Other(format!(
                        "the profile's set-up lines fail on the login node ({}): fix the module name or environment path",
                        stderr.trim()
                    )));
                }
                Err(SshError::MissingCommand(c)) => {
                    return Err(Error::Other(format!("the profile's set-up lines fail on the login node: `{c}` is not found there")));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let sbatch = match self.profile.ssh.run(&self.control_dir, &self.with_setup("command -v sbatch")) {
            Ok(path) => path,
            Err(SshError::Failed { .. } | SshError::MissingCommand(_)) => {
                return Err(Error::Other("sbatch is not found on the cluster: load Slurm's module in the profile's set-up lines".into()));
            }
            Err(e) => return Err(e.into()),
        };
        let partitions = self.run("sinfo -h -o '%P %a %D %t'")?.lines().map(str::to_string).collect();
        let c = &self.profile.cluster;
        let workbench = self.run(&format!("{} --version", quote(&c.workbench))).ok().map(|v| v.trim().to_string());
        let mut missing = Vec::new();
        if c.target == Target::Engine && workbench.is_none() {
            missing.push(format!(
                "the workbench program {:?}: build it headless (--no-default-features) on the cluster and set cluster.workbench",
                c.workbench
            ));
        }
        let stack: Option<serde_json::Value> =
            self.run(&format!("{} -c {}", quote(&c.python), quote(PYTHON_STACK))).ok().and_then(|o| serde_json::from_str(o.trim()).ok());
        let python = stack.as_ref().map(|s| {
            let packages = s["packages"]
                .as_object()
                .map(|p| p.iter().map(|(k, v)| format!("{k} {}", v.as_str().unwrap_or("?"))).collect::<Vec<_>>().join(", "));
            format!(
                "Python {}: {}",
                s["python"].as_str().unwrap_or("?"),
                packages.filter(|p| !p.is_empty()).unwrap_or("no training packages".into())
            )
        });
        let mut wanted = needed(c.target).to_vec();
        if c.target == Target::Cuda && c.deepspeed != 0 {
            wanted.push("deepspeed");
        }
        let lacking: Vec<&str> = wanted.into_iter().filter(|n| stack.as_ref().is_none_or(|s| s["packages"][*n].is_null())).collect();
        if !lacking.is_empty() {
            missing.push(format!(
                "the {} target needs {} in the set-up environment's Python ({}, as the login node sees it)",
                c.target.name(),
                lacking.join(", "),
                c.python
            ));
        }
        Ok(ConnectionReport { partitions, sbatch: sbatch.trim().to_string(), workbench, python, missing })
    }

    /// The job directory's path on the cluster.
    pub fn remote_dir(&self, job: &str) -> String {
        format!("{}/{job}", self.profile.cluster.remote_dir.trim_end_matches('/'))
    }

    /// rsync's `-e`: ssh with the profile's options.
    fn rsync_ssh(&self) -> String {
        std::iter::once("ssh".to_string())
            .chain(self.profile.ssh.options(&self.control_dir).iter().map(|o| quote(o)))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Copies `from` (a file, or a folder's contents with a trailing `/`) to `to` with rsync.
    fn rsync(&self, from: &str, to: &str) -> Result<()> {
        let out = Command::new("rsync")
            // -s (--protect-args): paths with spaces reach the remote side as they are, on every rsync version.
            .args(["-a", "-s", "--partial", "-e", &self.rsync_ssh(), from, to])
            .output()
            .map_err(|e| Error::Other(format!("cannot run rsync ({e}); install it here and on the cluster")))?;
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            return Err(Error::Other(format!("copying {from} to {to} failed: {}", stderr.trim())));
        }
        Ok(())
    }

    /// `path` on the cluster as rsync names it (unquoted: `-s` protects it).
    fn remote(&self, path: &str) -> String {
        format!("{}:{path}", self.profile.ssh.destination())
    }

    /// Uploads `job` (its files, config and script) and submits it; the job id.
    pub fn submit(&self, job: &JobDir) -> Result<String> {
        let dir = self.remote_dir(&job.name);
        let models = format!("{}/models", self.profile.cluster.remote_dir.trim_end_matches('/'));
        self.run(&format!("mkdir -p {}/data {}", quote(&dir), quote(&models)))?;
        // The shared copy of the model: rsync sends only what it lacks (nothing, the second time).
        self.rsync(&format!("{}/", job.model.0.display()), &self.remote(&format!("{models}/{}/", job.model.1)))?;
        for (name, bytes) in &job.files {
            self.write(&format!("{dir}/{name}"), bytes)?;
        }
        for (local, name) in &job.uploads {
            let from = if local.is_dir() { format!("{}/", local.display()) } else { local.display().to_string() };
            self.rsync(&from, &self.remote(&format!("{dir}/{name}")))?;
        }
        let out = self.run(&format!("cd {} && sbatch --parsable job.sbatch", quote(&dir)))?;
        parse_sbatch(&out).map_err(Error::Other)
    }

    /// Writes `bytes` to the remote file `path` (through ssh's standard input).
    fn write(&self, path: &str, bytes: &[u8]) -> Result<()> {
        use std::io::Write;
        let cmd = format!("cat > {}", quote(path));
        let mut child = self
            .profile
            .ssh
            .command(&self.control_dir, &cmd)
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .map_err(|e| SshError::NoClient(e.to_string()))?;
        child
            .stdin
            .take()
            .map(|mut i| i.write_all(bytes))
            .transpose()
            .map_err(|e| Error::Other(format!("writing {path} on the cluster: {e}")))?;
        let out = child.wait_with_output().map_err(|e| Error::Other(e.to_string()))?;
        match out.status.code() {
            Some(0) => Ok(()),
            code => Err(self.profile.ssh.classify(&cmd, code.unwrap_or(-1), &String::from_utf8_lossy(&out.stderr)).into()),
        }
    }

    /// The job's state, from whichever Slurm command still knows it; None
    /// once none does. A failing command (a controller that timed out) is an
    /// error, so a watcher retries instead of taking the job for gone.
    pub fn job(&self, id: &str) -> Result<Option<JobInfo>> {
        let q = quote(id);
        match self.run(&format!("squeue -h -t all -j {q} -o '%i|%T|%r'")) {
            Ok(out) => {
                if let Some(j) = parse_squeue(&out, id) {
                    // squeue lacks the exit code; scontrol has it while the controller remembers the job.
                    if j.state.is_done() {
                        return Ok(parse_scontrol(&self.run(&format!("scontrol show job {q}"))?).or(Some(j)));
                    }
                    return Ok(Some(j));
                }
            }
            Err(e) if e.to_string().contains("Invalid job id") => {}
            Err(e) => return Err(e),
        }
        // Gone from the controller: accounting, or job-completion logging where there is no database.
        let acct =
            self.run(&format!("sacct -n -P -j {q} -o JobID,State,ExitCode 2>/dev/null || sacct -c -n -P -j {q} -o JobID,State,ExitCode"))?;
        Ok(parse_sacct(&acct, id))
    }

    /// Cancels the job (Slurm sends SIGTERM: the trainer checkpoints).
    pub fn cancel(&self, id: &str) -> Result<()> {
        self.run(&format!("scancel {}", quote(id))).map(drop)
    }

    /// The bytes of the remote file `path` from byte `offset` on (empty if it does not exist yet).
    pub fn read_from(&self, path: &str, offset: u64) -> Result<Vec<u8>> {
        let cmd = format!("if [ -f {p} ]; then tail -c +{} {p}; fi", offset + 1, p = quote(path));
        // Without the set-up lines: whatever they print would mix with the file's bytes.
        let out = self.profile.ssh.command(&self.control_dir, &cmd).output().map_err(|e| Error::Other(e.to_string()))?;
        if !out.status.success() {
            let e = self.profile.ssh.classify(&cmd, out.status.code().unwrap_or(-1), &String::from_utf8_lossy(&out.stderr));
            return Err(e.into());
        }
        Ok(out.stdout)
    }

    /// Copies the remote folder `path` into the local folder `to`.
    pub fn fetch(&self, path: &str, to: &Path) -> Result<()> {
        std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
        self.rsync(&self.remote(&format!("{path}/")), &format!("{}/", to.display()))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.close();
        let _ = std::fs::remove_dir_all(&self.control_dir);
    }
}
