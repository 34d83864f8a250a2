//! `workbench remote`: training on a Slurm cluster over SSH, with the
//! workbench engine, transformers + PEFT on GPUs, or optimum-neuron on
//! Trainium. A profile is a TOML file (`remote profile --target T` prints
//! one to edit): the login node (a `~/.ssh/config` Host alias, or host,
//! user, port, key, jump host), the cluster settings and the target. `submit`
//! uploads the job directory and submits it; the run gets a local run
//! directory like any other, kept in step by `watch` (the window's runs list
//! and charts show it); `cancel` and `fetch` act on it by that directory.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use engine::backend::slurm::profile::Profile;
use engine::backend::slurm::task::{RemoteEvent, RemoteTask};
use engine::backend::{Backend, SlurmBackend};
use engine::config::TrainConfig;
use engine::jobs::{Engine, Job, JobEvent, JobId};
use engine::runs::{RunState, Status};
use indicatif::{ProgressBar, ProgressStyle};

/// Train on a Slurm cluster over SSH.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, clap::Subcommand)]
enum What {
    /// Print a profile to edit (TOML) for a target.
    Profile {
        /// What trains on the nodes: engine (the workbench's headless build), cuda (transformers + PEFT) or neuron (optimum-neuron on Trainium).
        #[arg(long, default_value = "engine")]
        target: engine::backend::slurm::profile::Target,
    },
    /// Check a profile: SSH, Slurm's commands, partitions, the workbench program, Python and its training packages.
    Test {
        /// The profile (TOML).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
    },
    /// Accept the login node's host key with this fingerprint (as `remote test` shows it), then test again.
    Trust {
        /// The profile (TOML).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
        /// The fingerprint to accept, e.g. SHA256:abc... (it must be what the host offers now).
        #[arg(long)]
        fingerprint: String,
    },
    /// Upload a run's job directory and submit it; its local run directory follows the job.
    Submit {
        /// The profile (TOML).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
        /// The training config.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Keep the local run directory under this folder instead of the config's `run.runs_dir`.
        #[arg(long, value_name = "DIR")]
        runs_dir: Option<PathBuf>,
        /// Then watch it until it ends.
        #[arg(long)]
        watch: bool,
    },
    /// Bring a remote run's metrics and status here until its job ends (Ctrl-C stops watching, not the job).
    Watch {
        /// The local run directory.
        run: PathBuf,
        /// The profile (TOML).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
    },
    /// Cancel a remote run's job (the trainer checkpoints, as on Ctrl-C).
    Cancel {
        /// The local run directory.
        run: PathBuf,
        /// The profile (TOML).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
    },
    /// Copy a remote run's adapter into its local run directory.
    Fetch {
        /// The local run directory.
        run: PathBuf,
        /// The profile (TOML).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
    },
}

/// How a subcommand's work starts on the engine: runs through the Slurm
/// backend (as the window starts them), the rest as remote tasks.
enum Start {
    /// A remote task as it is.
    Task(RemoteTask),
    /// A run of the config on the profile's cluster (`Backend::start`), watched or only submitted.
    Run(Profile, Box<TrainConfig>, bool),
    /// Cancelling the run's Slurm job (`Backend::cancel`).
    Cancel(Profile, PathBuf),
}

impl Start {
    /// Starts the work on `engine`, returning its job.
    fn on(self, engine: &Arc<Engine>) -> Result<JobId> {
        let backend = |p: Profile| SlurmBackend::new(Arc::clone(engine), p);
        Ok(match self {
            Start::Task(task) => engine.start(Job::Remote(Box::new(task))).map_err(anyhow::Error::msg)?,
            Start::Run(p, cfg, true) => backend(p).start(*cfg)?,
            Start::Run(p, cfg, false) => backend(p).submit_only().start(*cfg)?,
            Start::Cancel(p, run) => backend(p).cancel(&run)?.ok_or_else(|| anyhow::anyhow!("the Slurm backend started no job"))?,
        })
    }
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    let start = match args.what {
        What::Profile { target } => {
            println!("{}", toml::to_string_pretty(&Profile::example(target))?.trim_end());
            return Ok(());
        }
        What::Test { profile } => Start::Task(RemoteTask::Test(Profile::load(&profile)?)),
        What::Trust { profile, fingerprint } => Start::Task(RemoteTask::Trust(Profile::load(&profile)?, fingerprint)),
        What::Submit { profile, config, runs_dir, watch } => {
            let profile = Profile::load(&profile)?;
            let mut cfg = TrainConfig::load(&config)?;
            if let Some(dir) = runs_dir {
                cfg.run.runs_dir = std::path::absolute(dir)?;
            }
            let tps = engine::backend::slurm::cost::measured_tokens_per_s(&cfg.run.runs_dir, &profile.name);
            println!("estimate: {}", engine::backend::slurm::cost::estimate(&cfg, &profile, tps).describe());
            for n in engine::backend::slurm::job_dir::not_honoured(&cfg, &profile) {
                eprintln!("note: {n}");
            }
            Start::Run(profile, Box::new(cfg), watch)
        }
        What::Watch { run, profile } => Start::Task(RemoteTask::Watch(Profile::load(&profile)?, run)),
        What::Cancel { run, profile } => Start::Cancel(Profile::load(&profile)?, run),
        What::Fetch { run, profile } => Start::Task(RemoteTask::Fetch(Profile::load(&profile)?, run)),
    };
    drive(start)
}

/// Runs the task as an engine job (Ctrl-C stops watching, never the Slurm
/// job), printing what it reports; a watched run's steps as a progress bar.
fn drive(start: Start) -> Result<()> {
    let bar = ProgressBar::hidden();
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} step {pos}/{len} {msg}").expect("valid template"));
    let (mut failed, mut watched) = (None, None);
    super::progress::run_job(
        |engine| start.on(engine),
        |event| {
            match event {
                JobEvent::Remote(e) => match *e {
                    RemoteEvent::Tested(r) => {
                        println!("ssh: reachable");
                        for line in r.lines() {
                            println!("{line}");
                        }
                    }
                    RemoteEvent::UnknownHostKey(key) => {
                        println!("the host key of {} is not known yet: {}", key.host, key.describe());
                        let print = key.keys.first().map_or("", |(_, f)| f.split_whitespace().last().unwrap_or(""));
                        println!(
                            "if a fingerprint matches what your administrator gives, accept it (it goes to {}):\n  workbench remote trust --profile PROFILE --fingerprint {print}",
                            key.known_hosts.display()
                        );
                        failed = Some("the host key is not accepted yet".to_string());
                    }
                    RemoteEvent::Trusted(file) => println!("host key accepted: written to {}", file.display()),
                    RemoteEvent::Submitted { run_dir, job_id } => {
                        println!("submitted Slurm job {job_id}; run directory {}", run_dir.display());
                    }
                    RemoteEvent::Synced { run_dir, job, .. } => {
                        if bar.is_hidden() {
                            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
                        }
                        if let Ok(status) = Status::read(&run_dir) {
                            bar.set_length(status.total_steps as u64);
                            bar.set_position(status.step as u64);
                        }
                        bar.set_message(job);
                        watched = Some(run_dir);
                    }
                    RemoteEvent::JobCancelled(id) => println!("cancelled Slurm job {id}; `remote watch` shows it stop"),
                    RemoteEvent::Fetched(adapter) => println!("adapter: {}", adapter.display()),
                },
                JobEvent::Failed(e) => failed = Some(e),
                _ => {}
            }
            Ok(())
        },
    )?;
    bar.finish_and_clear();
    if let Some(e) = failed {
        bail!(e);
    }
    let Some(run) = watched else { return Ok(()) };
    let status = Status::read(&run)?;
    println!(
        "run {} ended: {:?} at step {}/{}{}",
        run.display(),
        status.state,
        status.step,
        status.total_steps,
        status.message.map_or_else(String::new, |m| format!(" ({m})"))
    );
    match status.state {
        RunState::Finished | RunState::EarlyStopped => Ok(()),
        RunState::Running => {
            println!("still running: `workbench remote watch {}` follows it again", run.display());
            Ok(())
        }
        _ => bail!("the remote run did not finish; its job output is in {}", run.join(engine::runs::files::SLURM_LOG).display()),
    }
}
