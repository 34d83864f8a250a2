//! The engine thread: one API for the GUI and the CLI. Commands go in over a
//! crossbeam channel; events come out over another. Training runs on the
//! engine thread, which checks for commands between optimizer steps, so
//! pause, resume and cancel take effect within one step (cancel leaves a
//! resumable checkpoint).

use std::path::PathBuf;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TryRecvError, unbounded};

use crate::config::TrainConfig;
use crate::eval::{EvalRequest, EvalRow};
use crate::train::{Control, Event, Signal};

/// A request to the engine.
#[derive(Debug, Clone)]
pub enum Command {
    /// Start a new run.
    Train(Box<TrainConfig>),
    /// Resume the run in this directory from its last checkpoint.
    Resume(PathBuf),
    /// Pause the current run after the current step.
    Pause,
    /// Continue a paused run.
    Continue,
    /// Cancel the current run after the current step (resumable).
    Cancel,
    /// Compare perplexities (when no run is training).
    Evaluate(Box<EvalRequest>),
    /// Stop the engine thread.
    Shutdown,
}

/// Everything the engine reports: training events and evaluation results.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineEvent {
    /// From the training loop.
    Train(Event),
    /// One perplexity row as soon as it is computed.
    EvalRow(EvalRow),
    /// An evaluation finished.
    EvalDone(Result<Vec<EvalRow>, String>),
    /// A command could not be carried out now (e.g. a second run while one trains).
    Rejected(String),
}

/// The caller's handle: send commands, receive events.
pub struct EngineHandle {
    /// Commands to the engine.
    pub commands: Sender<Command>,
    /// Events from the engine.
    pub events: Receiver<EngineEvent>,
    thread: Option<JoinHandle<()>>,
}

impl EngineHandle {
    /// Starts the engine thread.
    pub fn spawn() -> Self {
        let (cmd_tx, cmd_rx) = unbounded();
        let (ev_tx, ev_rx) = unbounded();
        let thread = std::thread::Builder::new().name("engine".into()).spawn(move || run(cmd_rx, ev_tx)).expect("spawn engine thread");
        Self { commands: cmd_tx, events: ev_rx, thread: Some(thread) }
    }

    /// Sends a command (ignored if the engine has stopped).
    pub fn send(&self, cmd: Command) {
        let _ = self.commands.send(cmd);
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The engine loop: waits for commands; runs trainings and evaluations.
fn run(commands: Receiver<Command>, events: Sender<EngineEvent>) {
    while let Ok(cmd) = commands.recv() {
        let mut ctl = ChannelControl { commands: &commands, events: &events, paused: false, shutdown: false };
        match cmd {
            Command::Train(cfg) => {
                let _ = crate::train::train(&cfg, &mut ctl).map_err(|e| report_setup_error(&events, &e));
            }
            Command::Resume(dir) => {
                let _ = crate::train::resume(&dir, &mut ctl).map_err(|e| report_setup_error(&events, &e));
            }
            Command::Evaluate(req) => {
                let result = crate::eval::compare(&req, |row| {
                    let _ = events.send(EngineEvent::EvalRow(row.clone()));
                });
                let _ = events.send(EngineEvent::EvalDone(result.map_err(|e| e.to_string())));
            }
            Command::Pause | Command::Continue | Command::Cancel => {
                let _ = events.send(EngineEvent::Rejected("no run is training".into()));
            }
            Command::Shutdown => return,
        }
        if ctl.shutdown {
            return;
        }
    }
}

/// Errors before a run directory exists are reported once here; errors
/// inside a run are already reported by the loop.
fn report_setup_error(events: &Sender<EngineEvent>, e: &crate::Error) {
    let _ = events.send(EngineEvent::Train(Event::Error(e.to_string())));
}

/// The training loop's control backed by the engine's channels.
struct ChannelControl<'a> {
    commands: &'a Receiver<Command>,
    events: &'a Sender<EngineEvent>,
    paused: bool,
    shutdown: bool,
}

impl ChannelControl<'_> {
    /// Handles one command during a run; returns true to cancel.
    fn handle(&mut self, cmd: Command) -> bool {
        match cmd {
            Command::Pause if !self.paused => {
                self.paused = true;
                self.emit(Event::Paused(true));
            }
            Command::Continue if self.paused => {
                self.paused = false;
                self.emit(Event::Paused(false));
            }
            Command::Pause | Command::Continue => {}
            Command::Cancel => return true,
            Command::Shutdown => {
                self.shutdown = true;
                return true;
            }
            Command::Train(_) | Command::Resume(_) | Command::Evaluate(_) => {
                let _ = self.events.send(EngineEvent::Rejected("a run is training; cancel it or wait until it ends".into()));
            }
        }
        false
    }
}

impl Control for ChannelControl<'_> {
    fn emit(&mut self, event: Event) {
        let _ = self.events.send(EngineEvent::Train(event));
    }

    fn poll(&mut self) -> Signal {
        loop {
            let cmd = if self.paused {
                match self.commands.recv() {
                    Ok(c) => c,
                    Err(_) => return Signal::Cancel,
                }
            } else {
                match self.commands.try_recv() {
                    Ok(c) => c,
                    Err(TryRecvError::Empty) => return Signal::Continue,
                    Err(TryRecvError::Disconnected) => return Signal::Cancel,
                }
            };
            if self.handle(cmd) {
                return Signal::Cancel;
            }
        }
    }
}
