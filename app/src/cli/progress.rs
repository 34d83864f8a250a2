//! Runs training through the engine thread with a progress bar; Ctrl-C
//! cancels after the current step and leaves a resumable checkpoint.

use std::path::PathBuf;

use anyhow::{Result, bail};
use engine::engine_thread::{Command, EngineEvent, EngineHandle};
use engine::runs::RunState;
use engine::train::Event;
use indicatif::{ProgressBar, ProgressStyle};

/// Sends `cmd` (train or resume) to a fresh engine and shows progress until
/// the run ends. Returns the run directory and how it ended.
pub fn run_with_progress(cmd: Command) -> Result<(PathBuf, RunState)> {
    let engine = EngineHandle::spawn();
    let cancel = engine.commands.clone();
    let _ = ctrlc::set_handler(move || {
        eprintln!("\ncancelling after the current step (a resumable checkpoint will be written)...");
        let _ = cancel.send(Command::Cancel);
    });
    engine.send(cmd);
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} step {pos}/{len} {msg} ETA {eta}").expect("valid template"),
    );
    let mut run_dir = None;
    for ev in engine.events.iter() {
        match ev {
            EngineEvent::Train(Event::Started { run_dir: d, total_steps, first_step }) => {
                bar.println(format!("run directory: {}", d.display()));
                bar.set_length(total_steps as u64);
                bar.set_position(first_step.saturating_sub(1) as u64);
                bar.reset_eta();
                run_dir = Some(d);
            }
            EngineEvent::Train(Event::Progress { step, epoch, loss, tokens_per_s, .. }) => {
                bar.set_position(step as u64);
                bar.set_message(format!("epoch {epoch:.2} loss {loss:.4} {tokens_per_s:.0} tok/s"));
            }
            EngineEvent::Train(Event::Log(line)) => bar.println(line),
            EngineEvent::Train(Event::Error(e)) => {
                bar.abandon();
                bail!("{e}");
            }
            EngineEvent::Train(Event::Finished { run_dir: d, state }) => {
                bar.finish_with_message(format!("{state:?}"));
                return Ok((d, state));
            }
            EngineEvent::Rejected(m) => bail!("{m}"),
            _ => {}
        }
    }
    match run_dir {
        Some(d) => bail!("the engine stopped unexpectedly during run {}", d.display()),
        None => bail!("the engine stopped unexpectedly"),
    }
}
