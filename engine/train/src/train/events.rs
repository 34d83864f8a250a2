//! What the training loop reports, and how its caller steers it.

use std::path::PathBuf;

use crate::runs::RunState;

/// A report from the training loop (and the engine thread).
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A run directory was created or reopened.
    Started {
        /// The run.
        run_dir: PathBuf,
        /// Planned optimizer steps.
        total_steps: usize,
        /// The first step that will run (1 for a new run).
        first_step: usize,
    },
    /// One optimizer step finished.
    Progress {
        /// Step just completed.
        step: usize,
        /// Planned steps.
        total_steps: usize,
        /// Fractional epoch.
        epoch: f64,
        /// Mean token loss of the step.
        loss: f64,
        /// Estimated seconds to the end.
        eta_s: f64,
        /// Throughput of the step.
        tokens_per_s: f64,
    },
    /// A line for the log.
    Log(String),
    /// The run is paused / running again.
    Paused(bool),
    /// The run stopped.
    Finished {
        /// The run.
        run_dir: PathBuf,
        /// How it ended.
        state: RunState,
    },
    /// An error (the run, if any, is marked failed).
    Error(String),
}

/// What the caller wants the loop to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Go on.
    Continue,
    /// Stop after the current step and leave a resumable checkpoint.
    Cancel,
}

/// The caller's side of a training loop: receives events and is asked,
/// between steps, whether to go on (pausing by not returning while paused).
pub trait Control {
    /// Receives an event.
    fn emit(&mut self, event: Event);
    /// Asked between steps; may block while the user has paused the run.
    fn poll(&mut self) -> Signal;
}

/// A control that ignores events and never cancels (tests, scripts).
pub struct Unattended;

impl Control for Unattended {
    fn emit(&mut self, _event: Event) {}
    fn poll(&mut self) -> Signal {
        Signal::Continue
    }
}
