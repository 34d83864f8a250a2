//! `workbench remote`: training on a Slurm cluster over SSH with the
//! workbench-engine target. A profile is a TOML file (`remote profile`
//! prints one to edit): the login node (a `~/.ssh/config` Host alias, or
//! host, user, port, key, jump host) and the cluster settings. `submit`
//! uploads the job directory and submits it; the run gets a local run
//! directory like any other, kept in step by `watch` (the window's runs list
//! and charts show it); `cancel` and `fetch` act on it by that directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use engine::backend::slurm::connection::Connection;
use engine::backend::slurm::mirror::{self, RemoteRun};
use engine::backend::slurm::profile::Profile;
use engine::config::TrainConfig;
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
    /// Print a profile to edit (TOML).
    Profile,
    /// Check a profile: SSH, Slurm's commands, partitions, the workbench program there.
    Test {
        /// The profile (TOML).
        #[arg(long, value_name = "FILE")]
        profile: PathBuf,
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

/// A profile file, read and checked.
fn load(path: &Path) -> Result<Connection> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let profile: Profile = toml::from_str(&text).with_context(|| format!("{} is not a remote profile", path.display()))?;
    profile.check().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    Ok(Connection::new(profile)?)
}

/// Runs the subcommand.
pub fn run(args: Args) -> Result<()> {
    match args.what {
        What::Profile => {
            let mut p = Profile { name: "my-cluster".into(), ..Default::default() };
            p.ssh.host = "my-cluster-login".into();
            p.cluster.setup = vec!["module load slurm".into()];
            print!("{}", toml::to_string_pretty(&p)?);
            Ok(())
        }
        What::Test { profile } => {
            let conn = load(&profile)?;
            let r = conn.test()?;
            println!("ssh {}: reachable", conn.profile.ssh.destination());
            println!("sbatch: {}", r.sbatch);
            for p in &r.partitions {
                println!("partition {p}");
            }
            match r.workbench {
                Some(v) => println!("{v} at {}", conn.profile.cluster.workbench),
                None => println!(
                    "the workbench program {:?} was not found there: build it headless (--no-default-features) and set cluster.workbench",
                    conn.profile.cluster.workbench
                ),
            }
            Ok(())
        }
        What::Submit { profile, config, runs_dir, watch } => {
            let conn = load(&profile)?;
            let mut cfg = TrainConfig::load(&config)?;
            if let Some(dir) = runs_dir {
                cfg.run.runs_dir = std::path::absolute(dir)?;
            }
            let local = engine::runs::RunDir::fresh_path(&cfg);
            let name = local.file_name().map(|n| n.to_string_lossy().into_owned()).context("a run directory name")?;
            let tps = engine::backend::slurm::cost::measured_tokens_per_s(&cfg.run.runs_dir, &conn.profile.name);
            println!("estimate: {}", engine::backend::slurm::cost::estimate(&cfg, &conn.profile, tps).describe());
            let job = engine::backend::slurm::job_dir::engine_job(&cfg, &conn.profile, &name);
            for note in &job.not_honoured {
                eprintln!("note: {note}");
            }
            let id = conn.submit(&job)?;
            let remote =
                RemoteRun { profile: conn.profile.name.clone(), job_id: id.clone(), job_dir: conn.remote_dir(&name), run_dir: None };
            mirror::start(&local, &cfg, &remote)?;
            println!("submitted Slurm job {id}; run directory {}", local.display());
            if watch { follow(&conn, &local) } else { Ok(()) }
        }
        What::Watch { run, profile } => follow(&load(&profile)?, &run),
        What::Cancel { run, profile } => {
            let remote = RemoteRun::read(&run)?;
            load(&profile)?.cancel(&remote.job_id)?;
            println!("cancelled Slurm job {}; `remote watch` shows it stop", remote.job_id);
            Ok(())
        }
        What::Fetch { run, profile } => {
            mirror::fetch(&load(&profile)?, &run)?;
            println!("adapter: {}", run.join(engine::runs::files::ADAPTER).display());
            Ok(())
        }
    }
}

/// Syncs the run every few seconds with a progress bar until its job ends.
fn follow(conn: &Connection, local: &Path) -> Result<()> {
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} step {pos}/{len} {msg}").expect("valid template"));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = std::sync::Arc::clone(&stop);
    let _ = ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed));
    loop {
        // A dropped connection is retried at the next round; nothing is lost meanwhile.
        match mirror::sync(conn, local) {
            Ok(s) => {
                if let Ok(status) = Status::read(local) {
                    bar.set_length(status.total_steps as u64);
                    bar.set_position(status.step as u64);
                }
                let job = s.job.as_ref().map_or_else(|| "job gone from Slurm".into(), |j| j.describe());
                bar.set_message(job);
                if s.job.as_ref().is_none_or(|j| j.state.is_done()) {
                    break;
                }
            }
            Err(e) => bar.set_message(format!("reconnecting: {e}")),
        }
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            bar.abandon_with_message("stopped watching; the job goes on (`remote watch` again)");
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(3));
    }
    let status = Status::read(local)?;
    bar.finish_with_message(format!("{:?}", status.state));
    println!(
        "run {} ended: {:?} at step {}/{}{}",
        local.display(),
        status.state,
        status.step,
        status.total_steps,
        status.message.map_or_else(String::new, |m| format!(" ({m})"))
    );
    if status.state != RunState::Finished && status.state != RunState::EarlyStopped {
        bail!("the remote run did not finish; its job output is in {}", local.join(engine::runs::files::SLURM_LOG).display());
    }
    Ok(())
}
