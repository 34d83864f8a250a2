//! Remote training on a real Slurm cluster over a real SSH server, both
//! started on 127.0.0.1 by `scripts/slurm_loopback.sh` (munge, slurmctld,
//! slurmd and sshd from Debian's packages; root; `.ci/run` installs them):
//! a run of the workbench-engine target is submitted, its metrics arrive in
//! the local run directory while it trains (the SSH connection dropped in the
//! middle loses and repeats nothing), its adapter is fetched and evaluated
//! here; a second run is cancelled; a failing job, a changed host key, an
//! unreachable host and a missing `sbatch` each give a clear message.

mod common;
#[path = "common/frames.rs"]
mod frames;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use engine::backend::slurm::connection::Connection;
use engine::backend::slurm::job_dir;
use engine::backend::slurm::job_state::SlurmState;
use engine::backend::slurm::mirror::{self, RemoteRun};
use engine::backend::slurm::profile::{Cluster, Profile};
use engine::backend::slurm::ssh::SshTarget;
use engine::backend::slurm::task::{RemoteEvent, RemoteTask};
use engine::config::TrainConfig;
use engine::runs::{RunState, Status, files};

/// The loopback cluster's folder (its ports are fixed, so one at a time).
const WORK: &str = "/tmp/wb-slurm-loopback";

/// The cluster for the test's length: `up` now, `down` when dropped.
struct Loopback;

/// One test at a time has the loopback cluster (its ports are fixed).
static CLUSTER: Mutex<()> = Mutex::new(());

fn script(cmd: &str) -> std::process::Output {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/slurm_loopback.sh");
    Command::new("bash").arg(path).arg(cmd).env("SLURM_LOOPBACK_DIR", WORK).output().expect("bash")
}

impl Loopback {
    fn up() -> Self {
        let _ = script("down"); // what a crashed earlier run left
        let out = script("up");
        assert!(
            out.status.success(),
            "the loopback Slurm + sshd did not start (needs root and the packages .ci/run installs):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Loopback
    }
}

impl Drop for Loopback {
    fn drop(&mut self) {
        let _ = script("down");
    }
}

fn profile(workbench: &str) -> Profile {
    Profile {
        name: "loopback".into(),
        ssh: SshTarget {
            host: "slurm-loopback".into(),
            config_file: Some(PathBuf::from(WORK).join("ssh/ssh_config")),
            ..Default::default()
        },
        cluster: Cluster { remote_dir: format!("{WORK}/jobs"), workbench: workbench.into(), ..Default::default() },
    }
}

/// A copy of the loopback's ssh_config, `dir/name`, that reads its known hosts from `hosts`.
fn ssh_config_reading(dir: &Path, name: &str, hosts: &Path) -> PathBuf {
    let config = std::fs::read_to_string(PathBuf::from(WORK).join("ssh/ssh_config")).unwrap();
    let config: Vec<String> =
        config
            .lines()
            .map(|l| {
                if l.trim_start().starts_with("UserKnownHostsFile") {
                    format!("  UserKnownHostsFile {}", hosts.display())
                } else {
                    l.into()
                }
            })
            .collect();
    let path = dir.join(name);
    std::fs::write(&path, config.join("\n")).unwrap();
    path
}

/// Submits `cfg` as job `name` and starts its local run directory under `runs`.
fn submit(conn: &Connection, cfg: &TrainConfig, name: &str, runs: &Path) -> (String, PathBuf) {
    let job = job_dir::build(cfg, &conn.profile, name).unwrap();
    let id = conn.submit(&job).unwrap();
    let local = runs.join(name);
    mirror::start(
        &local,
        cfg,
        &RemoteRun { profile: "loopback".into(), job_id: id.clone(), job_dir: conn.remote_dir(name), run_dir: None },
    )
    .unwrap();
    (id, local)
}

/// Syncs every half second until `done` holds for what the sync brought; fails after two minutes.
fn sync_until(conn: &Connection, local: &Path, what: &str, mut done: impl FnMut(&mirror::Synced) -> bool) -> mirror::Synced {
    let start = Instant::now();
    loop {
        let s = mirror::sync(conn, local).unwrap();
        if done(&s) {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}; slurm.log:\n{}",
            std::fs::read_to_string(local.join(files::SLURM_LOG)).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_run_on_slurm_over_ssh_is_watched_fetched_cancelled_and_its_failures_explained() {
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let _cluster = Loopback::up();
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let conn = Connection::new(profile(env!("CARGO_BIN_EXE_workbench"))).unwrap();
    let report = conn.test().unwrap();
    assert!(report.partitions.iter().any(|p| p.starts_with("debug")), "{report:?}");
    assert!(report.sbatch.ends_with("sbatch") && report.workbench.as_deref().is_some_and(|v| v.starts_with("workbench")), "{report:?}");

    // 1. A run: metrics arrive while it trains; the connection is dropped midway.
    let cfg = TrainConfig::load(&common::tiny_setup(dir.path(), "epochs = 3\nmax_steps = 24\neval_every = 8\nlog_every = 1")).unwrap();
    let (id, local) = submit(&conn, &cfg, "tiny-1", &runs);
    sync_until(&conn, &local, "the first metrics", |s| s.new_records > 0);
    conn.close();
    let end = sync_until(&conn, &local, "the end of the job", |s| s.job.as_ref().is_some_and(|j| j.state.is_done()));
    assert_eq!(end.job.unwrap().state, SlurmState::Completed);
    let remote = RemoteRun::read(&local).unwrap();
    let theirs = conn.read_from(&format!("{}/{}", remote.run_dir.as_ref().unwrap(), files::METRICS), 0).unwrap();
    assert_eq!(std::fs::read(local.join(files::METRICS)).unwrap(), theirs, "no metric lost or repeated");
    let status = Status::read(&local).unwrap();
    assert_eq!((status.state, status.step), (RunState::Finished, 24));
    let run = engine::runs::RunDir::open(&local).unwrap();
    assert_eq!(run.metrics().unwrap().iter().filter(|m| m.loss.is_some()).count(), 24);
    // Its adapter, fetched, evaluates here.
    mirror::fetch(&conn, &local).unwrap();
    let eval = Command::new(env!("CARGO_BIN_EXE_workbench")).args(["eval", "--run"]).arg(&local).output().unwrap();
    let text = String::from_utf8_lossy(&eval.stdout);
    assert!(eval.status.success() && text.contains("tiny-1"), "{text}{}", String::from_utf8_lossy(&eval.stderr));
    assert!(std::fs::read_to_string(local.join(files::SLURM_LOG)).unwrap().contains("ended: Finished"), "the job's output is kept");

    // 2. A long run, cancelled: Slurm's SIGTERM makes the trainer checkpoint and say so.
    let long = TrainConfig::load(&common::tiny_setup(&dir.path().join("long"), "epochs = 10000\nlog_every = 1")).unwrap();
    let (id2, local2) = submit(&conn, &long, "tiny-2", &runs);
    assert_ne!(id, id2);
    sync_until(&conn, &local2, "the second job's first metrics", |s| s.new_records > 0);
    conn.cancel(&id2).unwrap();
    let end = sync_until(&conn, &local2, "the cancelled job's end", |s| s.job.as_ref().is_some_and(|j| j.state.is_done()));
    assert_eq!(end.job.unwrap().state, SlurmState::Cancelled);
    sync_until(&conn, &local2, "the cancelled status", |_| Status::read(&local2).is_ok_and(|s| s.state == RunState::Cancelled));
    // Its checkpoint comes home, whole: it could be resumed here.
    mirror::fetch(&conn, &local2).unwrap();
    let fetched = engine::runs::RunDir::open(&local2).unwrap().checkpoints();
    assert!(!fetched.is_empty() && fetched.iter().all(|(_, d)| d.is_dir()), "{fetched:?}");
    let leftovers: Vec<_> = std::fs::read_dir(&local2)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(leftovers.is_empty(), "no temporary folder is left: {leftovers:?}");

    // 3. A job that fails before training: the status says so with the exit code.
    let failing = Connection::new(profile("/bin/false")).unwrap();
    let (_, local3) = submit(&failing, &cfg, "tiny-3", &runs);
    sync_until(&failing, &local3, "the failed job", |s| s.job.as_ref().is_some_and(|j| j.state.is_done()));
    let status = Status::read(&local3).unwrap();
    assert_eq!(status.state, RunState::Failed);
    assert!(status.message.as_deref().unwrap_or("").contains("failed with exit code 1"), "{status:?}");
    // A job the OOM killer ends: its output's line is in the run's status, with what to do.
    let oom = dir.path().join("oom.sh");
    std::fs::write(
        &oom,
        "#!/bin/bash\necho \"slurmstepd: error: Detected 1 oom_kill event in StepId=$SLURM_JOB_ID.0. Some of the step tasks have been OOM Killed.\" >&2\nexit 137\n",
    )
    .unwrap();
    std::fs::set_permissions(&oom, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let killed = Connection::new(profile(oom.to_str().unwrap())).unwrap();
    let (_, local_oom) = submit(&killed, &cfg, "tiny-oom", &runs);
    sync_until(&killed, &local_oom, "the job killed for memory", |s| s.job.as_ref().is_some_and(|j| j.state.is_done()));
    let status = Status::read(&local_oom).unwrap();
    let message = status.message.clone().unwrap_or_default();
    assert_eq!(status.state, RunState::Failed);
    assert!(
        message.contains("ran out of memory (slurmstepd: error: Detected 1 oom_kill event") && message.contains("lower the batch size"),
        "{status:?}"
    );

    // 4. The same from the command line: a profile file, test, submit and watch to the end, fetch.
    let profile_file = dir.path().join("loopback.toml");
    std::fs::write(&profile_file, toml::to_string(&profile(env!("CARGO_BIN_EXE_workbench"))).unwrap()).unwrap();
    let wb = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_workbench")).args(args).output().unwrap();
    let out = |o: &std::process::Output| format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    let p = profile_file.to_str().unwrap();
    let t = wb(&["remote", "test", "--profile", p]);
    assert!(t.status.success() && out(&t).contains("partition debug"), "{}", out(&t));
    let cli_runs = dir.path().join("cli-runs");
    let config = dir.path().join("config.toml");
    let s = wb(&[
        "remote",
        "submit",
        "--profile",
        p,
        "--config",
        config.to_str().unwrap(),
        "--runs-dir",
        cli_runs.to_str().unwrap(),
        "--watch",
    ]);
    assert!(
        s.status.success() && out(&s).contains("submitted Slurm job") && out(&s).contains("ended: Finished at step 24/24"),
        "{}",
        out(&s)
    );
    assert!(out(&s).contains("estimate: 24 steps, at most"), "the estimate before submitting: {}", out(&s));
    let run = std::fs::read_dir(&cli_runs).unwrap().next().unwrap().unwrap().path();
    let f = wb(&["remote", "fetch", run.to_str().unwrap(), "--profile", p]);
    assert!(f.status.success() && run.join("adapter/adapter_model.safetensors").is_file(), "{}", out(&f));

    // Five submissions, two models: each model was uploaded once, to the folder the jobs share.
    let models: Vec<String> = std::fs::read_dir(PathBuf::from(WORK).join("jobs/models"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(models.len(), 2, "{models:?}");

    // 5. Connection problems, each named.
    let mut changed = profile("workbench");
    let hosts = dir.path().join("known_hosts");
    let other_key =
        Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(dir.path().join("other")).output().unwrap();
    assert!(other_key.status.success());
    let key = std::fs::read_to_string(dir.path().join("other.pub")).unwrap();
    std::fs::write(&hosts, format!("[127.0.0.1]:2222 {}\n", key.split_whitespace().take(2).collect::<Vec<_>>().join(" "))).unwrap();
    changed.ssh.config_file = Some(ssh_config_reading(dir.path(), "ssh_config", &hosts));
    let e = Connection::new(changed).unwrap().test().unwrap_err().to_string();
    assert!(e.contains("CHANGED"), "{e}");
    // A host seen for the first time: its key is shown (the server's own fingerprint), a wrong
    // fingerprint is refused, the right one is written to the known_hosts file ssh reads, and then it connects.
    let fresh_hosts = dir.path().join("fresh/known_hosts");
    let mut fresh = profile("workbench");
    fresh.ssh.config_file = Some(ssh_config_reading(dir.path(), "ssh_config_fresh", &fresh_hosts));
    let e = Connection::new(fresh.clone()).unwrap().test().unwrap_err().to_string();
    assert!(e.contains("not known yet"), "{e}");
    let events = |task: RemoteTask| {
        let mut seen = Vec::new();
        let done = task.run(&engine::jobs::CancelFlag::new(), |e| seen.push(e));
        (done, seen)
    };
    let (done, seen) = events(RemoteTask::Test(fresh.clone()));
    done.unwrap();
    let Some(RemoteEvent::UnknownHostKey(key)) = seen.first() else { panic!("{seen:?}") };
    let server = Command::new("ssh-keygen").arg("-lf").arg(PathBuf::from(WORK).join("ssh/ssh_host_ed25519_key.pub")).output().unwrap();
    let server = String::from_utf8_lossy(&server.stdout).split_whitespace().nth(1).unwrap().to_string();
    assert_eq!(key.host, "[127.0.0.1]:2222");
    assert!(key.keys.iter().any(|(_, f)| f == &format!("ED25519 {server}")), "{key:?} vs {server}");
    assert_eq!(key.known_hosts, fresh_hosts);
    let (done, _) = events(RemoteTask::Trust(fresh.clone(), "SHA256:notthekey".into()));
    assert!(done.unwrap_err().to_string().contains("nothing was accepted"));
    assert!(!fresh_hosts.exists());
    let (done, seen) = events(RemoteTask::Trust(fresh.clone(), server.clone()));
    done.unwrap();
    assert!(matches!(&seen[..], [RemoteEvent::Trusted(f), RemoteEvent::Tested(_)] if *f == fresh_hosts), "{seen:?}");
    assert!(std::fs::read_to_string(&fresh_hosts).unwrap().starts_with("[127.0.0.1]:2222 ssh-ed25519 "));
    Connection::new(fresh).unwrap().test().unwrap();
    // Under a HostKeyAlias, the key is recorded under the alias as written (ssh adds no port to it), and then it connects.
    let aliased_hosts = dir.path().join("aliased/known_hosts");
    let aliased_config = ssh_config_reading(dir.path(), "ssh_config_aliased", &aliased_hosts);
    let text = std::fs::read_to_string(&aliased_config).unwrap() + "\n  HostKeyAlias loopback-alias\n";
    std::fs::write(&aliased_config, text).unwrap();
    let mut aliased = profile("workbench");
    aliased.ssh.config_file = Some(aliased_config);
    let (done, seen) = events(RemoteTask::Test(aliased.clone()));
    done.unwrap();
    let Some(RemoteEvent::UnknownHostKey(key)) = seen.first() else { panic!("{seen:?}") };
    assert_eq!(key.host, "loopback-alias");
    let (done, seen) = events(RemoteTask::Trust(aliased, server.clone()));
    done.unwrap();
    assert!(matches!(&seen[..], [RemoteEvent::Trusted(_), RemoteEvent::Tested(_)]), "{seen:?}");
    assert!(std::fs::read_to_string(&aliased_hosts).unwrap().starts_with("loopback-alias ssh-ed25519 "));
    let unreachable =
        Profile { ssh: SshTarget { host: "127.0.0.1".into(), port: Some(2999), ..Default::default() }, ..profile("workbench") };
    let e = Connection::new(unreachable).unwrap().test().unwrap_err().to_string();
    assert!(e.contains("cannot reach 127.0.0.1"), "{e}");
    let mut no_slurm = profile("workbench");
    no_slurm.cluster.setup = vec!["export PATH=/nonexistent".into()];
    let e = Connection::new(no_slurm).unwrap().test().unwrap_err().to_string();
    assert!(e.contains("sbatch is not found"), "{e}");
    // A set-up line that fails (a venv that is not there) is named, not taken for a missing sbatch.
    let mut bad_setup = profile("workbench");
    bad_setup.cluster.setup = vec!["source /nonexistent/venv/bin/activate".into()];
    let e = Connection::new(bad_setup).unwrap().test().unwrap_err().to_string();
    assert!(e.contains("set-up lines fail") && e.contains("/nonexistent/venv/bin/activate"), "{e}");
}

#[test]
fn the_remote_tab_tests_submits_watches_fetches_reattaches_and_cancels() {
    use egui_kittest::Harness;
    use egui_kittest::kittest::Queryable;
    use workbench::gui::{Tab, WorkbenchApp, Workspace};
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let _cluster = Loopback::up();
    let dir = tempfile::tempdir().unwrap();
    // A saved profile (the tab loads the first one), and the config the Configure tab holds.
    let profiles = dir.path().join("remote-profiles");
    std::fs::create_dir_all(&profiles).unwrap();
    std::fs::write(profiles.join("loopback.toml"), toml::to_string(&profile(env!("CARGO_BIN_EXE_workbench"))).unwrap()).unwrap();
    let mut cfg = TrainConfig::load(&common::tiny_setup(dir.path(), "epochs = 3\nmax_steps = 24\nlog_every = 1")).unwrap();
    cfg.run.runs_dir = dir.path().join("runs");
    let window = |cfg: &TrainConfig| {
        let mut app = WorkbenchApp::new(Workspace::new(dir.path().join("runs"), common::sample_dir()));
        app.tab = Tab::Remote;
        app.editor.config = cfg.clone();
        Harness::builder().with_size([1500.0, 1000.0]).build_ui_state(|ui, app: &mut WorkbenchApp| app.ui(ui), app)
    };
    // A second profile whose known_hosts lacks the login node's key (listed first, so the tab opens on it).
    let fresh_hosts = dir.path().join("fresh_known_hosts");
    let mut fresh = profile(env!("CARGO_BIN_EXE_workbench"));
    fresh.name = "a-fresh".into();
    fresh.ssh.config_file = Some(ssh_config_reading(dir.path(), "ssh_config_fresh", &fresh_hosts));
    std::fs::write(profiles.join("a-fresh.toml"), toml::to_string(&fresh).unwrap()).unwrap();
    let mut h = window(&cfg);
    h.run();
    assert_eq!(h.state().remote.profile.name, "a-fresh");
    h.get_by_label("Test connection").click();
    frames::wait_until(&mut h, "the host key", |app| app.remote.job.is_none() && app.remote.host_key.is_some());
    h.get_by_label_contains("Host key of [127.0.0.1]:2222");
    h.get_by_label_contains("Accept ED25519 SHA256:").click();
    frames::wait_until(&mut h, "the accepted key's test", |app| app.remote.job.is_none() && app.remote.report.is_some());
    assert!(h.state().remote.host_key.is_none() && std::fs::read_to_string(&fresh_hosts).unwrap().contains("ssh-ed25519"));
    h.get_by_label_contains("partition debug");
    frames::pick(&mut h, "Profile", "loopback");
    assert_eq!(h.state().remote.profile.name, "loopback");
    (h.state_mut().remote.report, h.state_mut().remote.notice) = (None, None);
    h.get_by_label("Test connection").click();
    frames::wait_until(&mut h, "the connection test", |app| app.remote.job.is_none() && app.remote.notice.is_some());
    assert!(h.state().remote.notice.clone().unwrap().0.starts_with("connected"), "{:?}", h.state().remote.notice);
    h.get_by_label_contains("partition debug");
    h.get_by_label_contains("Estimate: 24 steps");

    // Submit: the run is watched to its end, shows in the runs list, and its adapter comes back.
    h.get_by_label("Submit the configured run").click();
    frames::wait_until(&mut h, "the remote run's end", |app| app.remote.watching.values().any(|(_, s)| s == "completed"));
    let (run, _) = h.state().remote.watching.iter().next().map(|(r, w)| (r.clone(), w.clone())).unwrap();
    assert_eq!(Status::read(&run).unwrap().state, RunState::Finished);
    let name = run.file_name().unwrap().to_string_lossy().into_owned();
    // A run that ended well brings its adapter home by itself.
    frames::wait_until(&mut h, "the adapter fetched at the end", |_| run.join("adapter/adapter_model.safetensors").is_file());
    frames::wait_until(&mut h, "the runs list", |app| app.runs.entries.iter().any(|e| e.path == run));
    h.run();
    h.get_by_label_contains(&format!("Slurm job {} on loopback", RemoteRun::read(&run).unwrap().job_id));
    // The job's output, in the tab.
    h.get_by_label(&format!("Log {name}")).click();
    h.run();
    h.get_by_label_contains(&format!("Job output of {name}"));
    frames::wait_for_label(&mut h, "ended: Finished");
    h.get_by_label(&format!("Fetch adapter {name}")).click();
    frames::wait_until(&mut h, "the adapter", |app| app.remote.job.is_none() && run.join("adapter/adapter_model.safetensors").is_file());

    // A long run submitted from the command line; a new window re-attaches to it and cancels it.
    drop(h);
    let profile_file = profiles.join("loopback.toml");
    let long = common::tiny_setup(&dir.path().join("long"), "epochs = 10000\nlog_every = 1");
    let out = Command::new(env!("CARGO_BIN_EXE_workbench"))
        .args(["remote", "submit", "--profile", profile_file.to_str().unwrap(), "--config", long.to_str().unwrap(), "--runs-dir"])
        .arg(dir.path().join("runs"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut h = window(&cfg);
    h.run();
    frames::pick(&mut h, "Profile", "loopback");
    h.get_by_label_contains("tokens/s (this profile's last run)");
    frames::wait_until(&mut h, "re-attaching to the running job", |app| app.remote.watching.values().any(|(_, s)| s == "running"));
    let long_run = h.state().remote.watching.iter().find(|(_, (_, s))| s == "running").map(|(r, _)| r.clone()).unwrap();
    let long_name = long_run.file_name().unwrap().to_string_lossy().into_owned();
    h.run();
    h.get_by_label(&format!("Cancel job {long_name}")).click();
    frames::wait_until(&mut h, "the cancelled job", |app| app.remote.watching.get(&long_run).is_some_and(|(_, s)| s == "cancelled"));
    frames::wait_until(&mut h, "the run marked cancelled", |_| Status::read(&long_run).is_ok_and(|s| s.state == RunState::Cancelled));
}

/// The Python environment with torch, transformers and peft that
/// `scripts/make_reference_venv.sh` makes (`REF_VENV`, default `.venv-ref`),
/// made now if it is missing (about 3.5 GB of downloads).
fn python_venv() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash").arg(root.join("scripts/make_reference_venv.sh")).output().expect("bash");
    assert!(out.status.success(), "making the Python environment failed:\n{}", String::from_utf8_lossy(&out.stderr));
    std::env::var_os("REF_VENV").map_or_else(|| root.join(".venv-ref"), PathBuf::from).canonicalize().unwrap()
}

/// The GPU target end to end on the loopback cluster's CPUs, on the sample model: its job
/// directory (tokenised data, `train_lora.py`, torchrun under srun) trains
/// with transformers + PEFT, writes the same metrics and status a local run
/// writes, and its PEFT adapter, fetched, evaluates here; a second job is
/// cancelled. Opt-in (its Python environment is large):
/// `cargo test -p workbench --test slurm -- --ignored`.
#[test]
#[ignore = "needs torch, transformers and peft (scripts/make_reference_venv.sh, made if missing); run with --ignored"]
fn the_gpu_targets_python_job_trains_through_slurm_on_cpu_and_its_adapter_evaluates_here() {
    use engine::backend::slurm::profile::Target;
    let venv = python_venv();
    let _one = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let _cluster = Loopback::up();
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    let mut p = profile("workbench");
    // The loopback cluster has no GPU resources (GRES) to ask for.
    (p.cluster.target, p.cluster.request_gpus) = (Target::Cuda, false);
    // No GPU here: the job is told it may train on the CPUs (else it stops, saying there is no CUDA device).
    p.cluster.setup = vec![format!("source {}/bin/activate", venv.display()), "export WORKBENCH_ALLOW_CPU=1".into()];
    let conn = Connection::new(p).unwrap();
    let report = conn.test().unwrap();
    assert!(report.python.as_deref().is_some_and(|p| p.contains("torch 2.") && p.contains("peft")), "{report:?}");
    assert!(report.missing.is_empty(), "{report:?}");

    // The shipped sample model, on slices of the shipped data.
    let mut cfg = TrainConfig::load(&common::tiny_setup(dir.path(), "epochs = 2\nmax_steps = 8\neval_every = 4\nlog_every = 1")).unwrap();
    cfg.model.path = common::sample_dir().join("model");
    let (_, local) = submit(&conn, &cfg, "py-1", &runs);
    sync_until(&conn, &local, "the first metrics", |s| s.new_records > 0);
    conn.close();
    let end = sync_until(&conn, &local, "the end of the job", |s| s.job.as_ref().is_some_and(|j| j.state.is_done()));
    let log = std::fs::read_to_string(local.join(files::SLURM_LOG)).unwrap_or_default();
    assert_eq!(end.job.unwrap().state, SlurmState::Completed, "{log}");
    let remote = RemoteRun::read(&local).unwrap();
    let theirs = conn.read_from(&format!("{}/{}", remote.run_dir.as_ref().unwrap(), files::METRICS), 0).unwrap();
    assert_eq!(std::fs::read(local.join(files::METRICS)).unwrap(), theirs, "no metric lost or repeated");
    let status = Status::read(&local).unwrap();
    assert_eq!((status.state, status.step, status.total_steps), (RunState::Finished, 8, 8), "{status:?}\n{log}");
    assert!(status.best_val_loss.is_some() && !status.host.is_empty());
    let metrics = engine::runs::RunDir::open(&local).unwrap().metrics().unwrap();
    let steps: Vec<_> = metrics.iter().filter(|m| m.loss.is_some()).collect();
    assert_eq!(steps.iter().map(|m| m.step).collect::<Vec<_>>(), (1..=8).collect::<Vec<_>>());
    assert!(steps.iter().all(|m| m.lr.is_some() && m.grad_norm.is_some() && m.tokens_per_s.is_some_and(|t| t > 0.0)), "{steps:?}");
    let evals: Vec<_> = metrics.iter().filter(|m| m.val_loss.is_some()).map(|m| (m.step, m.val_ppl.is_some())).collect();
    assert_eq!(evals, [(4, true), (8, true)]);
    // The PEFT adapter transformers wrote evaluates here, and moved the model.
    mirror::fetch(&conn, &local).unwrap();
    let eval = Command::new(env!("CARGO_BIN_EXE_workbench")).args(["eval", "--run"]).arg(&local).output().unwrap();
    let text = String::from_utf8_lossy(&eval.stdout);
    assert!(eval.status.success() && text.contains("py-1"), "{text}{}", String::from_utf8_lossy(&eval.stderr));

    // A long job, cancelled: Slurm's SIGTERM stops it, and the run says cancelled.
    let mut long = TrainConfig::load(&common::tiny_setup(&dir.path().join("long"), "epochs = 10000\nlog_every = 1")).unwrap();
    long.model.path = cfg.model.path.clone();
    let (id, local2) = submit(&conn, &long, "py-2", &runs);
    sync_until(&conn, &local2, "the second job's first metrics", |s| s.new_records > 0);
    conn.cancel(&id).unwrap();
    sync_until(&conn, &local2, "the cancelled status", |_| Status::read(&local2).is_ok_and(|s| s.state == RunState::Cancelled));
}
