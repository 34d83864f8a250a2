//! Ctrl-C, SIGTERM and SIGHUP (what Slurm's `scancel`, a job's time limit, a
//! closed terminal and a system shutdown send) all cancel the engine's jobs:
//! a training run finishes its step, writes a checkpoint and is marked
//! cancelled, resumable. The window then exits once its jobs have ended; the
//! CLI ends as its job reports.

use std::sync::{Arc, Mutex, Once, Weak};

use engine::jobs::Engine;

/// The engines to cancel, and whether the process exits once they are idle.
static WATCHED: Mutex<Vec<(Weak<Engine>, bool)>> = Mutex::new(Vec::new());
static INSTALL: Once = Once::new();

/// Cancels `engine`'s jobs on Ctrl-C, SIGTERM or SIGHUP; with
/// `exit_when_idle` the process exits (status 143) once they have ended.
pub fn cancel_jobs_on_termination(engine: &Arc<Engine>, exit_when_idle: bool) {
    WATCHED.lock().unwrap_or_else(|p| p.into_inner()).push((Arc::downgrade(engine), exit_when_idle));
    INSTALL.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            eprintln!("\ncancelling after the current step (a resumable checkpoint will be written)...");
            let watched: Vec<(Arc<Engine>, bool)> =
                WATCHED.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(|(w, exit)| Some((w.upgrade()?, *exit))).collect();
            for (engine, _) in &watched {
                engine.cancel_all();
            }
            if watched.iter().any(|(_, exit)| *exit) {
                for (engine, _) in &watched {
                    engine.wait_all();
                }
                std::process::exit(143);
            }
        });
        if let Err(e) = installed {
            tracing::warn!("cannot handle Ctrl-C / SIGTERM: {e}");
        }
    });
}
