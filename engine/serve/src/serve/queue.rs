//! The generation queue of the server: requests wait in arrival order (none
//! is ever dropped) and one worker thread generates for them one at a time on
//! the shared CPU pool, streaming each answer's pieces back to its request.
//! A request whose client went away is cancelled: skipped if still waiting,
//! stopped at the next token if running.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Sender, unbounded};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};

use crate::cancel::CancelFlag;
use crate::generate::{GenerateRequest, Generation, Loaded};

/// What a request receives from the worker.
#[derive(Debug)]
pub enum Piece {
    /// The next piece of the answer.
    Text(String),
    /// The answer is complete (or failed).
    Done(Result<Generation, String>),
}

/// Counters of the server's work (for logs and tests).
#[derive(Debug, Default)]
pub struct Stats {
    /// Generations started.
    pub started: AtomicU64,
    /// Generations that ended cancelled (a client went away).
    pub cancelled: AtomicU64,
    /// Generations completed.
    pub completed: AtomicU64,
}

struct Task {
    loaded: Arc<Loaded>,
    request: GenerateRequest,
    cancel: CancelFlag,
    out: UnboundedSender<Piece>,
}

/// A waiting or running generation, as its request handler holds it; dropping
/// it (the client went away) cancels the generation.
pub struct Ticket {
    /// The answer's pieces.
    pub pieces: UnboundedReceiver<Piece>,
    cancel: CancelFlag,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.cancel.set();
    }
}

/// The queue and its worker thread.
pub struct Queue {
    tasks: Option<Sender<Task>>,
    worker: Option<JoinHandle<()>>,
    /// What it has done.
    pub stats: Arc<Stats>,
}

impl Queue {
    /// A queue with its worker running.
    pub fn start() -> Self {
        let (tasks, rx) = unbounded::<Task>();
        let stats = Arc::new(Stats::default());
        let counters = Arc::clone(&stats);
        let worker = std::thread::Builder::new()
            .name("serve-generate".into())
            .spawn(move || {
                for task in rx {
                    if task.cancel.is_set() {
                        counters.cancelled.fetch_add(1, Ordering::Relaxed);
                        continue;
                    }
                    counters.started.fetch_add(1, Ordering::Relaxed);
                    let out = task.out.clone();
                    let cancel = task.cancel.clone();
                    let result = task.loaded.generate(&task.request, &task.cancel, |text| {
                        if out.send(Piece::Text(text.to_string())).is_err() {
                            cancel.set();
                        }
                    });
                    let cancelled = matches!(&result, Ok(g) if g.stats.finish_reason == crate::generate::FinishReason::Cancelled);
                    let counter = if cancelled { &counters.cancelled } else { &counters.completed };
                    counter.fetch_add(1, Ordering::Relaxed);
                    let _ = task.out.send(Piece::Done(result.map_err(|e| e.to_string())));
                }
            })
            .expect("spawn the generation worker");
        Self { tasks: Some(tasks), worker: Some(worker), stats }
    }

    /// Queues a generation; its pieces arrive through the ticket.
    pub fn submit(&self, loaded: Arc<Loaded>, request: GenerateRequest) -> Ticket {
        let (out, pieces) = unbounded_channel();
        let cancel = CancelFlag::new();
        let task = Task { loaded, request, cancel: cancel.clone(), out };
        if let Some(tasks) = &self.tasks {
            let _ = tasks.send(task);
        }
        Ticket { pieces, cancel }
    }
}

impl Drop for Queue {
    /// Lets the worker finish what it runs, then stops it.
    fn drop(&mut self) {
        self.tasks.take();
        if let Some(w) = self.worker.take() {
            let _ = w.join();
        }
    }
}
