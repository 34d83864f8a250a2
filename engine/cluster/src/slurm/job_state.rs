//! What Slurm says about a job, parsed: the id `sbatch --parsable` prints,
//! the state and pending reason of `squeue`, the fields of `scontrol show
//! job`, and, once the job has left the controller, `sacct` (or `sacct -c`
//! where only job-completion logging exists). Formats as Slurm 22.05 prints
//! them (checked on a real controller: ../shared/recipes/slurm-loopback.md).

use crate::runs::RunState;

/// A job's state, as Slurm names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlurmState {
    /// Waiting to start (see the reason).
    Pending,
    /// Nodes being readied.
    Configuring,
    /// Running.
    Running,
    /// Finishing its last steps.
    Completing,
    /// Exited with code 0.
    Completed,
    /// Exited with a non-zero code.
    Failed,
    /// Cancelled (`scancel`, or by an administrator).
    Cancelled,
    /// Reached its time limit.
    Timeout,
    /// Killed for using more memory than allowed.
    OutOfMemory,
    /// A node it ran on failed.
    NodeFail,
    /// Preempted by another job.
    Preempted,
    /// Suspended.
    Suspended,
    /// Anything else, as printed.
    Other(String),
}

impl SlurmState {
    /// Parses a state as `squeue %T`, `scontrol` or `sacct` print it
    /// ("CANCELLED+" and "CANCELLED by 0" are cancelled).
    pub fn parse(text: &str) -> Self {
        let word = text.split([' ', '+']).next().unwrap_or("").trim().to_ascii_uppercase();
        match word.as_str() {
            "PENDING" | "PD" => Self::Pending,
            "CONFIGURING" | "CF" => Self::Configuring,
            "RUNNING" | "R" => Self::Running,
            "COMPLETING" | "CG" => Self::Completing,
            "COMPLETED" | "CD" => Self::Completed,
            "FAILED" | "F" => Self::Failed,
            "CANCELLED" | "CA" => Self::Cancelled,
            "TIMEOUT" | "TO" => Self::Timeout,
            "OUT_OF_MEMORY" | "OOM" => Self::OutOfMemory,
            "NODE_FAIL" | "NF" => Self::NodeFail,
            "PREEMPTED" | "PR" => Self::Preempted,
            "SUSPENDED" | "S" => Self::Suspended,
            _ => Self::Other(word),
        }
    }

    /// Whether the job has ended (nothing more will change).
    pub fn is_done(&self) -> bool {
        !matches!(self, Self::Pending | Self::Configuring | Self::Running | Self::Completing | Self::Suspended)
    }

    /// The run state a finished job leaves when its run directory did not
    /// say (the job died before the trainer could write it): None while it lives.
    pub fn run_state(&self) -> Option<RunState> {
        match self {
            _ if !self.is_done() => None,
            Self::Completed => Some(RunState::Finished),
            Self::Cancelled | Self::Preempted => Some(RunState::Cancelled),
            _ => Some(RunState::Failed),
        }
    }
}

/// One job as Slurm reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job id.
    pub id: String,
    /// Its state.
    pub state: SlurmState,
    /// Why it waits or why it ended (`Resources`, `NonZeroExitCode`), if Slurm says.
    pub reason: Option<String>,
    /// The exit code and the signal that ended it (`ExitCode=3:0`), if known.
    pub exit: Option<(i32, i32)>,
}

impl JobInfo {
    /// The job's state in words for the runs list: "waiting for resources",
    /// "failed with exit code 3", "killed: out of memory".
    pub fn describe(&self) -> String {
        let reason = self.reason.as_deref().filter(|r| !r.is_empty() && *r != "None");
        match &self.state {
            SlurmState::Pending => match reason {
                Some("Resources") => "pending: waiting for resources (nodes busy)".into(),
                Some("Priority") => "pending: waiting behind jobs of higher priority".into(),
                Some("ReqNodeNotAvail") | Some("PartitionNodeLimit") => {
                    format!("pending: the nodes asked for are not available ({})", reason.unwrap_or(""))
                }
                Some(r) => format!("pending ({r})"),
                None => "pending".into(),
            },
            SlurmState::Failed => match self.exit {
                Some((code, 0)) => format!("failed with exit code {code}"),
                Some((_, signal)) => format!("failed: killed by signal {signal}"),
                None => "failed".into(),
            },
            SlurmState::OutOfMemory => "killed: out of memory (ask for more with --mem, or lower the batch size)".into(),
            SlurmState::Timeout => "stopped at its time limit (resume it, or ask for more time)".into(),
            SlurmState::NodeFail => "failed: a node it ran on failed".into(),
            other => format!("{other:?}").to_lowercase(),
        }
    }
}

/// The line of a job's output that says it ran out of memory, if one does:
/// Slurm's cgroup OOM killer ("Detected 1 oom_kill event"), the kernel's
/// ("Out of memory: Killed process"), PyTorch's ("CUDA out of memory",
/// `OutOfMemoryError`), Python's `MemoryError`, a failed allocation.
pub fn out_of_memory_line(log: &str) -> Option<&str> {
    const SIGNS: [&str; 6] = ["oom_kill", "oom-kill", "out of memory", "outofmemoryerror", "memoryerror", "cannot allocate memory"];
    log.lines().map(str::trim).find(|line| {
        let lower = line.to_ascii_lowercase();
        SIGNS.iter().any(|s| lower.contains(s))
    })
}

/// The last line of a job's output that names an error (a Python
/// exception, a shell's "No such file", a program's "error:"), leaving out
/// srun's own summary of the exit code, which Slurm's state already says.
pub fn last_error_line(log: &str) -> Option<&str> {
    // Summaries that say a worker failed, not why: srun's, torchrun's ChildFailedError block, warnings.
    let summary = |lower: &str| {
        (lower.starts_with("srun: error:") && lower.contains("exited with exit code"))
            || ["error_file:", "traceback :", "childfailederror", "elastic/errors.html", "[warning]"].iter().any(|s| lower.contains(s))
    };
    let lines: Vec<(&str, String)> =
        log.lines().map(str::trim).map(|l| (l, l.to_ascii_lowercase())).filter(|(_, lower)| !summary(lower)).collect();
    // A Python exception ("ModuleNotFoundError: ...") says it best; else the last line naming an error.
    let exception = |line: &str| {
        ["Error: ", "Exception: "].iter().any(|k| line.find(k).is_some_and(|i| i > 0 && line.as_bytes()[i - 1].is_ascii_alphanumeric()))
    };
    let naming = |lower: &str| ["error", "exception", "no such file", "not found"].iter().any(|k| lower.contains(k));
    lines.iter().rev().find(|(l, _)| exception(l)).or_else(|| lines.iter().rev().find(|(_, lower)| naming(lower))).map(|(l, _)| *l)
}

/// The job id `sbatch --parsable` printed ("123" or "123;cluster").
pub fn parse_sbatch(stdout: &str) -> Result<String, String> {
    let line = stdout.lines().map(str::trim).find(|l| !l.is_empty()).ok_or("sbatch printed no job id")?;
    let id = line.split(';').next().unwrap_or(line);
    if id.chars().all(|c| c.is_ascii_digit()) && !id.is_empty() {
        Ok(id.to_string())
    } else {
        Err(format!("sbatch printed {line:?}, not a job id"))
    }
}

/// `id`'s line of `squeue -h -j ID -t all -o "%i|%T|%r"` (None when Slurm no longer lists it).
pub fn parse_squeue(stdout: &str, id: &str) -> Option<JobInfo> {
    stdout.lines().find_map(|l| {
        let mut f = l.trim().split('|');
        let (jid, state, reason) = (f.next()?, f.next()?, f.next());
        (jid == id).then(|| JobInfo { id: jid.into(), state: SlurmState::parse(state), reason: reason.map(str::to_string), exit: None })
    })
}

/// An exit code as Slurm prints it: "3:0" (code, signal).
fn parse_exit(text: &str) -> Option<(i32, i32)> {
    let (code, signal) = text.trim().split_once(':')?;
    Some((code.parse().ok()?, signal.parse().ok()?))
}

/// `scontrol show job ID`: its `Key=Value` fields (None for "Invalid job id").
pub fn parse_scontrol(stdout: &str) -> Option<JobInfo> {
    let field = |key: &str| {
        stdout.split_whitespace().find_map(|kv| kv.strip_prefix(key).and_then(|rest| rest.strip_prefix('='))).map(str::to_string)
    };
    Some(JobInfo {
        id: field("JobId")?,
        state: SlurmState::parse(&field("JobState")?),
        reason: field("Reason"),
        exit: field("ExitCode").as_deref().and_then(parse_exit),
    })
}

/// The job's own line (not its steps') of `sacct -n -P -j ID -o JobID,State,ExitCode` (or `sacct -c`).
pub fn parse_sacct(stdout: &str, id: &str) -> Option<JobInfo> {
    stdout.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split('|').collect();
        (f.len() >= 3 && f[0] == id).then(|| JobInfo {
            id: id.into(),
            state: SlurmState::parse(f[1]),
            reason: None,
            exit: parse_exit(f[2]),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbatch_ids_are_read_and_anything_else_is_named() {
        assert_eq!(parse_sbatch("42\n"), Ok("42".into()));
        assert_eq!(parse_sbatch("42;loopback\n"), Ok("42".into()));
        assert!(parse_sbatch("sbatch: error: invalid partition").unwrap_err().contains("not a job id"));
        assert!(parse_sbatch("").unwrap_err().contains("no job id"));
    }

    #[test]
    fn squeue_scontrol_and_sacct_as_slurm_22_prints_them() {
        let q = parse_squeue("7|PENDING|Resources\n8|RUNNING|None\n", "7").unwrap();
        assert_eq!((q.state.clone(), q.describe()), (SlurmState::Pending, "pending: waiting for resources (nodes busy)".into()));
        assert_eq!(parse_squeue("8|RUNNING|None\n", "8").unwrap().describe(), "running");
        assert_eq!(parse_squeue("8|RUNNING|None\n", "9"), None);
        let show = "JobId=3 JobName=wb\n   UserId=root(0) GroupId=root(0)\n   JobState=FAILED Reason=NonZeroExitCode Dependency=(null)\n   Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0\n";
        let s = parse_scontrol(show).unwrap();
        assert_eq!((s.id.as_str(), &s.state, s.exit), ("3", &SlurmState::Failed, Some((3, 0))));
        assert_eq!(s.describe(), "failed with exit code 3");
        assert_eq!(s.state.run_state(), Some(RunState::Failed));
        assert_eq!(parse_scontrol("slurm_load_jobs error: Invalid job id specified"), None);
        let cancelled = parse_scontrol("JobId=2 JobState=CANCELLED Reason=None ExitCode=0:15").unwrap();
        assert_eq!((cancelled.state.run_state(), cancelled.exit), (Some(RunState::Cancelled), Some((0, 15))));
        let acct = "2|CANCELLED by 0|0:0\n3|FAILED|3:0\n3.batch|FAILED|3:0\n1|COMPLETED|0:0\n";
        assert_eq!(parse_sacct(acct, "3").unwrap().exit, Some((3, 0)));
        assert_eq!(parse_sacct(acct, "2").unwrap().state, SlurmState::Cancelled);
        assert_eq!(parse_sacct(acct, "1").unwrap().state.run_state(), Some(RunState::Finished));
        assert_eq!(SlurmState::parse("CANCELLED+"), SlurmState::Cancelled);
        assert!(SlurmState::parse("OUT_OF_MEMORY").is_done());
        assert!(
            JobInfo { id: "4".into(), state: SlurmState::OutOfMemory, reason: None, exit: Some((0, 9)) }
                .describe()
                .contains("out of memory")
        );
        assert_eq!(SlurmState::Running.run_state(), None);
    }

    #[test]
    fn out_of_memory_is_found_in_a_jobs_output() {
        let slurm = "step 3\nslurmstepd: error: Detected 1 oom_kill event in StepId=5.0. Some of the step tasks have been OOM Killed.\n";
        assert!(out_of_memory_line(slurm).unwrap().starts_with("slurmstepd: error: Detected 1 oom_kill"));
        let torch = "Traceback (most recent call last):\n  torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n";
        assert!(out_of_memory_line(torch).unwrap().contains("CUDA out of memory"));
        assert_eq!(out_of_memory_line("step 1 loss 2.3\nended: Failed\n"), None);
    }

    #[test]
    fn the_last_error_of_a_jobs_output_is_found_without_sruns_summary() {
        let log = "/venv/bin/python3: Error while finding module specification for 'torch.distributed.run' (ModuleNotFoundError: No module named 'torch')\n\
                   srun: error: node1: task 0: Exited with exit code 1\n";
        assert!(last_error_line(log).unwrap().contains("No module named 'torch'"));
        assert!(last_error_line("job.sbatch: line 9: /fsx/venv/bin/activate: No such file or directory\n").unwrap().contains("activate"));
        assert_eq!(last_error_line("step 1\nsrun: error: vm: task 0: Exited with exit code 1\n"), None);
        // torchrun's summary of a failed worker names no cause: the worker's own exception is quoted.
        let torchrun = "Traceback (most recent call last):\n  File \"train_lora.py\", line 500, in <module>\n\
                        RuntimeError: CUDA error: an illegal memory access was encountered\n\
                        torch.distributed.elastic.multiprocessing.errors.ChildFailedError:\n\
                        ============================================================\n\
                        train_lora.py FAILED\n  exitcode  : 1 (pid: 4242)\n  error_file: <N/A>\n\
                        traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html\n\
                        srun: error: gpu-1: task 0: Exited with exit code 1\n";
        assert_eq!(last_error_line(torchrun), Some("RuntimeError: CUDA error: an illegal memory access was encountered"));
    }
}
