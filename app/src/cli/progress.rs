//! How the subcommands run engine jobs: on a fresh engine whose jobs Ctrl-C,
//! SIGTERM and SIGHUP cancel, with the job's events handed to the command
//! (a progress bar for training).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Result, bail};
use engine::backend::{Backend, LocalBackend};
use engine::eval::{EvalRequest, EvalRow};
use engine::jobs::{Engine, Job, JobEvent, JobId};
use engine::runs::RunState;
use engine::train::Event;
use indicatif::{ProgressBar, ProgressStyle};

/// Starts a job with `start` on a fresh engine and hands each of its events to
/// `on_event` until the job ends.
pub fn run_job(start: impl FnOnce(&Arc<Engine>) -> Result<JobId>, mut on_event: impl FnMut(JobEvent) -> Result<()>) -> Result<()> {
    let engine = Arc::new(Engine::new());
    crate::signals::cancel_jobs_on_termination(&engine, false);
    let id = start(&engine)?;
    for ev in engine.events().iter() {
        if ev.job != id {
            continue;
        }
        if matches!(ev.event, JobEvent::Ended) {
            return Ok(());
        }
        on_event(ev.event)?;
    }
    bail!("the engine stopped unexpectedly")
}

/// Trains through the local backend (`start` picks a new run or a resume)
/// and shows progress until the run ends. Returns the run directory and how it ended.
pub fn train_with_progress(start: impl FnOnce(&dyn Backend) -> engine::Result<JobId>) -> Result<(PathBuf, RunState)> {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} step {pos}/{len} {msg} ETA {eta}").expect("valid template"),
    );
    let mut ended = None;
    run_job(
        |engine| Ok(start(&LocalBackend::new(Arc::clone(engine)))?),
        |event| {
            match event {
                JobEvent::Train(Event::Started { run_dir, total_steps, first_step }) => {
                    bar.println(format!("run directory: {}", run_dir.display()));
                    bar.set_length(total_steps as u64);
                    bar.set_position(first_step.saturating_sub(1) as u64);
                    bar.reset_eta();
                }
                JobEvent::Train(Event::Progress { step, epoch, loss, tokens_per_s, .. }) => {
                    bar.set_position(step as u64);
                    bar.set_message(format!("epoch {epoch:.2} loss {loss:.4} {tokens_per_s:.0} tok/s"));
                }
                JobEvent::Train(Event::Log(line)) => bar.println(line),
                JobEvent::Train(Event::Finished { run_dir, state }) => {
                    bar.finish_with_message(format!("{state:?}"));
                    ended = Some((run_dir, state));
                }
                JobEvent::Failed(e) => {
                    bar.abandon();
                    bail!("{e}");
                }
                _ => {}
            }
            Ok(())
        },
    )?;
    ended.ok_or_else(|| anyhow::anyhow!("the run ended without saying how"))
}

/// Evaluates `req` as an engine job, handing each row to `on_row` as it comes.
pub fn evaluate(req: EvalRequest, mut on_row: impl FnMut(&EvalRow)) -> Result<Vec<EvalRow>> {
    let mut rows = None;
    run_job(
        |engine| engine.start(Job::Evaluate(Box::new(req))).map_err(anyhow::Error::msg),
        |event| {
            match event {
                JobEvent::EvalRow(row) => on_row(&row),
                JobEvent::Evaluated(all) => rows = Some(all),
                JobEvent::Failed(e) => bail!("{e}"),
                JobEvent::Cancelled => bail!("evaluation cancelled"),
                _ => {}
            }
            Ok(())
        },
    )?;
    rows.ok_or_else(|| anyhow::anyhow!("the evaluation ended without a result"))
}

/// Runs a conversion job (GGUF import or export) with `bar` counting its
/// tensors, and returns what `finished` takes from its last event.
pub fn convert_with_progress<R>(job: Job, bar: &ProgressBar, mut finished: impl FnMut(JobEvent) -> Option<R>) -> Result<R> {
    let mut result = None;
    run_job(
        |engine| engine.start(job).map_err(anyhow::Error::msg),
        |event| {
            match event {
                JobEvent::Progress { done, total } => {
                    bar.set_length(total as u64);
                    bar.set_position(done as u64);
                }
                JobEvent::Failed(e) => bail!(e),
                JobEvent::Cancelled => bail!("cancelled: nothing was written"),
                other => {
                    if let Some(r) = finished(other) {
                        result = Some(r);
                    }
                }
            }
            Ok(())
        },
    )?;
    result.ok_or_else(|| anyhow::anyhow!("the job ended without its result"))
}
