//! The engine's one API for the window and the CLI: every piece of work
//! (train, resume, evaluate, analyse data, merge, generate) is a
//! [`Job`] started on an [`Engine`], which gives it an id and its own thread.
//! Its [`EngineEvent`]s carry that id; several jobs run at once and each can be
//! cancelled (a training job also paused). All jobs share rayon's one thread
//! pool (the fused kernels, gemm and candle's CPU ops all run there), so two
//! jobs interleave on the cores instead of oversubscribing them.
//!
//! One training job runs at a time on the local device: its memory estimate
//! assumes it has the machine; a second is refused with a message. Evaluation
//! and data analysis run beside it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, unbounded};

use crate::config::TrainConfig;
use crate::data::report::{DataReport, DataRequest};
use crate::eval::{EvalRequest, EvalRow};
use crate::generate::models::Models;
use crate::generate::target::{Answer, Question};
use crate::generate::{GenerateRequest, Generation, Loaded};
use crate::human_eval::judge::{JudgeRequest, Judged};
use crate::human_eval::plan::Plan;
use crate::remote::Endpoint;
use crate::train::{Control, Event, Signal};
use workbench_cluster::slurm::task::{RemoteEvent, RemoteTask};

/// A job's number, unique within one [`Engine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(pub u64);

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "job {}", self.0)
    }
}

/// A piece of work for the engine.
#[derive(Debug, Clone)]
pub enum Job {
    /// Start a new run of this (resolved) config.
    Train(Box<TrainConfig>),
    /// Resume the run in this directory from its last checkpoint.
    Resume(PathBuf),
    /// Perplexity of a base model and adapters.
    Evaluate(Box<EvalRequest>),
    /// Read and measure a data file.
    AnalyzeData(Box<DataRequest>),
    /// Fold an adapter into its base model, written as a full model directory
    /// (a run's into its `merged/` folder: [`MergeRequest::for_run`](crate::model::merge::MergeRequest::for_run)).
    Merge(Box<crate::model::merge::MergeRequest>),
    /// Convert a GGUF file into a model directory.
    ImportGguf(Box<crate::model::gguf::ImportRequest>),
    /// Write a model directory (or an adapter merged into its base) as one GGUF file.
    ExportGguf(Box<crate::model::gguf::export::ExportRequest>),
    /// Generate with a loaded model (shared: a chat keeps it between answers).
    Generate(Arc<Loaded>, Box<GenerateRequest>),
    /// A local or remote model's answer to a conversation (the chat pane, a
    /// comparison column); local models stay loaded in [`Engine::models`].
    Ask(Box<Question>),
    /// The models an OpenAI-compatible server serves.
    ListModels(Endpoint),
    /// Every model answers every prompt of a human evaluation; the answers
    /// are frozen in a new evaluation folder.
    CreateEvaluation(Box<Plan>),
    /// A model rates an evaluation's items as an automatic judge.
    Judge(Box<JudgeRequest>),
    /// The results of the human evaluation in this folder (statistics with
    /// bootstrap intervals: work for a job on large evaluations).
    Results(PathBuf),
    /// Work on a Slurm cluster: test a profile, submit and watch a run, watch, cancel, fetch.
    Remote(Box<RemoteTask>),
}

/// What kind of work a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    /// Training (a new run or a resumed one).
    Train,
    /// Perplexity evaluation.
    Evaluate,
    /// Data analysis.
    AnalyzeData,
    /// Merging an adapter into its base model.
    Merge,
    /// Converting a model to or from GGUF.
    Convert,
    /// Generating an answer.
    Generate,
    /// Asking a server which models it serves.
    ListModels,
    /// Generating the answers of a human evaluation.
    CreateEvaluation,
    /// A model judging an evaluation.
    Judge,
    /// Computing a human evaluation's results.
    Results,
    /// Talking to a cluster.
    Remote,
}

impl Job {
    /// The kind of this job.
    pub fn kind(&self) -> JobKind {
        match self {
            Job::Train(_) | Job::Resume(_) => JobKind::Train,
            Job::Evaluate(_) => JobKind::Evaluate,
            Job::AnalyzeData(_) => JobKind::AnalyzeData,
            Job::Merge(_) => JobKind::Merge,
            Job::ImportGguf(_) | Job::ExportGguf(_) => JobKind::Convert,
            Job::Generate(..) | Job::Ask(_) => JobKind::Generate,
            Job::ListModels(_) => JobKind::ListModels,
            Job::CreateEvaluation(_) => JobKind::CreateEvaluation,
            Job::Judge(_) => JobKind::Judge,
            Job::Results(_) => JobKind::Results,
            Job::Remote(_) => JobKind::Remote,
        }
    }
}

/// What a job reports.
#[derive(Debug, Clone)]
pub enum JobEvent {
    /// From the training loop.
    Train(Event),
    /// One perplexity row as soon as it is computed.
    EvalRow(EvalRow),
    /// The evaluation finished with these rows.
    Evaluated(Vec<EvalRow>),
    /// The data analysis finished.
    Analyzed(Box<DataReport>),
    /// The merged model directory was written here.
    Merged(PathBuf),
    /// The GGUF import finished ([`Job::ImportGguf`]).
    Imported(Box<crate::model::gguf::ImportReport>),
    /// The GGUF export finished ([`Job::ExportGguf`]).
    Exported(Box<crate::model::gguf::export::ExportReport>),
    /// The next piece of a generated answer (whole characters).
    Text(String),
    /// The generation finished (also when cancelled: `finish_reason` says so).
    Generated(Box<Generation>),
    /// The answer of an [`Job::Ask`] (also when cancelled: its `finish_reason` says so).
    Answered(Box<Answer>),
    /// The model ids a server serves ([`Job::ListModels`]).
    Models(Vec<String>),
    /// `done` of `total` units of work finished (answers of [`Job::CreateEvaluation`], items of
    /// [`Job::Judge`], tensors of [`Job::ImportGguf`] and [`Job::ExportGguf`]).
    Progress {
        /// Finished.
        done: usize,
        /// In all.
        total: usize,
    },
    /// The evaluation folder [`Job::CreateEvaluation`] wrote.
    EvaluationCreated(PathBuf),
    /// What [`Job::Judge`] rated.
    Judged(Box<Judged>),
    /// The results [`Job::Results`] computed, for the evaluation in this folder.
    Results(PathBuf, Box<crate::human_eval::results::Results>),
    /// What a [`Job::Remote`] did.
    Remote(Box<RemoteEvent>),
    /// A [`Job::Remote`] finished what it was asked.
    RemoteDone,
    /// The job stopped with this error (a training run also reports it as `Train(Event::Error)`).
    Failed(String),
    /// The job was cancelled before it finished (evaluation, data analysis).
    Cancelled,
    /// The job's thread has ended; it is the job's last event.
    Ended,
}

/// An event of one job.
#[derive(Debug, Clone)]
pub struct EngineEvent {
    /// The job it belongs to.
    pub job: JobId,
    /// What happened.
    pub event: JobEvent,
}

/// A running job as listed by [`Engine::jobs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// Its id.
    pub id: JobId,
    /// Its kind.
    pub kind: JobKind,
    /// The run it trains, once its directory exists.
    pub run_dir: Option<PathBuf>,
}

pub use workbench_core::cancel::CancelFlag;

/// How a training job is steered between steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Steer {
    Pause,
    Unpause,
    Cancel,
}

/// The engine's book of running jobs.
struct Entry {
    kind: JobKind,
    run_dir: Option<PathBuf>,
    steer: Sender<Steer>,
    cancel: CancelFlag,
    thread: Option<JoinHandle<()>>,
}

type Table = Arc<Mutex<BTreeMap<JobId, Entry>>>;

/// The engine: starts jobs on their own threads and hands out their events.
pub struct Engine {
    next: AtomicU64,
    jobs: Table,
    sender: Sender<EngineEvent>,
    events: Receiver<EngineEvent>,
    models: Arc<Models>,
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    /// An engine with no jobs.
    pub fn new() -> Self {
        let (sender, events) = unbounded();
        Self { next: AtomicU64::new(1), jobs: Arc::default(), sender, events, models: Arc::default() }
    }

    /// The models loaded for [`Job::Ask`], kept between answers.
    pub fn models(&self) -> &Models {
        &self.models
    }

    /// The events of every job, in the order they happened.
    pub fn events(&self) -> &Receiver<EngineEvent> {
        &self.events
    }

    /// Starts `job` on a thread of its own. A second training job while one
    /// runs is refused with the reason.
    pub fn start(&self, job: Job) -> Result<JobId, String> {
        let mut table = lock(&self.jobs);
        let kind = job.kind();
        if kind == JobKind::Train
            && let Some((id, e)) = table.iter().find(|(_, e)| e.kind == JobKind::Train)
        {
            let what = e.run_dir.as_ref().map_or_else(|| "a run".to_string(), |d| format!("run {}", d.display()));
            return Err(format!("{what} is training ({id}); cancel it or wait until it ends"));
        }
        let id = JobId(self.next.fetch_add(1, Ordering::SeqCst));
        let (steer_tx, steer_rx) = unbounded();
        let cancel = CancelFlag::new();
        let ctx = JobContext {
            id,
            events: self.sender.clone(),
            jobs: Arc::clone(&self.jobs),
            cancel: cancel.clone(),
            models: Arc::clone(&self.models),
        };
        let thread = std::thread::Builder::new()
            .name(format!("job-{}", id.0))
            .spawn(move || run_job(job, ctx, steer_rx))
            .map_err(|e| format!("cannot start a thread for the job: {e}"))?;
        table.insert(id, Entry { kind, run_dir: None, steer: steer_tx, cancel, thread: Some(thread) });
        Ok(id)
    }

    /// Pauses a training job after its current step (other jobs ignore it).
    pub fn pause(&self, id: JobId) {
        self.steer(id, Steer::Pause);
    }

    /// Lets a paused training job go on.
    pub fn unpause(&self, id: JobId) {
        self.steer(id, Steer::Unpause);
    }

    /// Cancels a job: training stops after the current step with a
    /// resumable checkpoint; evaluation and analysis stop at the next batch.
    pub fn cancel(&self, id: JobId) {
        if let Some(e) = lock(&self.jobs).get(&id) {
            e.cancel.set();
            let _ = e.steer.send(Steer::Cancel);
        }
    }

    /// Cancels every job.
    pub fn cancel_all(&self) {
        let ids: Vec<JobId> = lock(&self.jobs).keys().copied().collect();
        for id in ids {
            self.cancel(id);
        }
    }

    /// The jobs running now, oldest first.
    pub fn jobs(&self) -> Vec<JobInfo> {
        lock(&self.jobs).iter().map(|(id, e)| JobInfo { id: *id, kind: e.kind, run_dir: e.run_dir.clone() }).collect()
    }

    /// The job training the run in `run_dir`, if this engine runs it.
    pub fn job_for_run(&self, run_dir: &Path) -> Option<JobId> {
        lock(&self.jobs).iter().find(|(_, e)| e.run_dir.as_deref() == Some(run_dir)).map(|(id, _)| *id)
    }

    /// Waits until every job has ended.
    pub fn wait_all(&self) {
        loop {
            let thread = lock(&self.jobs).values_mut().find_map(|e| e.thread.take());
            match thread {
                Some(t) => {
                    let _ = t.join();
                }
                None if lock(&self.jobs).is_empty() => return,
                None => std::thread::sleep(std::time::Duration::from_millis(20)),
            }
        }
    }

    fn steer(&self, id: JobId, s: Steer) {
        if let Some(e) = lock(&self.jobs).get(&id) {
            let _ = e.steer.send(s);
        }
    }
}

impl Drop for Engine {
    /// Cancels every job and waits for them, so a training run leaves its checkpoint.
    fn drop(&mut self) {
        self.cancel_all();
        self.wait_all();
    }
}

/// The job table's lock (a panicked job thread does not poison the engine).
fn lock(jobs: &Table) -> MutexGuard<'_, BTreeMap<JobId, Entry>> {
    jobs.lock().unwrap_or_else(|p| p.into_inner())
}

/// What a job's thread holds.
struct JobContext {
    id: JobId,
    events: Sender<EngineEvent>,
    jobs: Table,
    cancel: CancelFlag,
    models: Arc<Models>,
}

impl JobContext {
    fn send(&self, event: JobEvent) {
        let _ = self.events.send(EngineEvent { job: self.id, event });
    }

    /// Sends how a job ended: `done` of its result, or that it was cancelled, or its error.
    fn finish<T>(&self, result: crate::Result<T>, done: impl FnOnce(T) -> JobEvent) {
        self.send(match result {
            Ok(value) => done(value),
            Err(crate::Error::Cancelled) => JobEvent::Cancelled,
            Err(e) => JobEvent::Failed(e.to_string()),
        });
    }
}

/// Runs one job to its end, then removes it from the table and says so.
fn run_job(job: Job, ctx: JobContext, steer: Receiver<Steer>) {
    match job {
        Job::Train(cfg) => train(&ctx, steer, |ctl| crate::train::train(&cfg, ctl)),
        Job::Resume(dir) => train(&ctx, steer, |ctl| crate::train::resume(&dir, ctl)),
        Job::Evaluate(req) => {
            let result = crate::eval::compare(&req, &ctx.cancel, |row| ctx.send(JobEvent::EvalRow(row.clone())));
            ctx.finish(result, JobEvent::Evaluated);
        }
        Job::Merge(request) => {
            ctx.finish(request.run(&ctx.cancel), JobEvent::Merged);
        }
        Job::ImportGguf(request) => {
            let result = request.run(&ctx.cancel, |done, total| ctx.send(JobEvent::Progress { done, total }));
            ctx.finish(result, |report| JobEvent::Imported(Box::new(report)));
        }
        Job::ExportGguf(request) => {
            let result = request.run(&ctx.cancel, |done, total| ctx.send(JobEvent::Progress { done, total }));
            ctx.finish(result, |report| JobEvent::Exported(Box::new(report)));
        }
        Job::Generate(loaded, req) => {
            let result = loaded.generate(&req, &ctx.cancel, |text| ctx.send(JobEvent::Text(text.to_string())));
            ctx.send(match result {
                Ok(g) => JobEvent::Generated(Box::new(g)),
                Err(e) => JobEvent::Failed(e.to_string()),
            });
        }
        Job::Ask(question) => {
            let result = question.ask(&ctx.models, &ctx.cancel, |text| ctx.send(JobEvent::Text(text.to_string())));
            ctx.send(match result {
                Ok(a) => JobEvent::Answered(Box::new(a)),
                Err(e) => JobEvent::Failed(e.to_string()),
            });
        }
        Job::ListModels(endpoint) => {
            ctx.send(match endpoint.models() {
                Ok(ids) => JobEvent::Models(ids),
                Err(e) => JobEvent::Failed(e.to_string()),
            });
        }
        Job::CreateEvaluation(plan) => {
            let result = plan.run(&ctx.models, &ctx.cancel, |done, total| ctx.send(JobEvent::Progress { done, total }));
            ctx.finish(result, |_| JobEvent::EvaluationCreated(plan.out.clone()));
        }
        Job::Judge(req) => {
            let result =
                crate::human_eval::judge::run(&req, &ctx.models, &ctx.cancel, |done, total| ctx.send(JobEvent::Progress { done, total }));
            ctx.finish(result, |j| JobEvent::Judged(Box::new(j)));
        }
        Job::Results(dir) => {
            ctx.send(match crate::human_eval::results::Results::load(&dir) {
                Ok(loaded) => JobEvent::Results(dir, Box::new(loaded.results)),
                Err(e) => JobEvent::Failed(e.to_string()),
            });
        }
        Job::Remote(task) => {
            let result = task.run(&ctx.cancel, |e| ctx.send(JobEvent::Remote(Box::new(e))));
            ctx.send(match result {
                Ok(()) => JobEvent::RemoteDone,
                Err(e) => JobEvent::Failed(e.to_string()),
            });
        }
        Job::AnalyzeData(req) => {
            let result = req.run();
            ctx.send(match result {
                _ if ctx.cancel.is_set() => JobEvent::Cancelled,
                Ok(report) => JobEvent::Analyzed(Box::new(report)),
                Err(e) => JobEvent::Failed(e.to_string()),
            });
        }
    }
    lock(&ctx.jobs).remove(&ctx.id);
    ctx.send(JobEvent::Ended);
}

/// A training job: errors before a run directory exists are reported here;
/// errors inside a run are already reported by the loop.
fn train(ctx: &JobContext, steer: Receiver<Steer>, body: impl FnOnce(&mut TrainControl) -> crate::Result<crate::train::Outcome>) {
    let mut ctl = TrainControl { ctx, steer, paused: false, started: false };
    if let Err(e) = body(&mut ctl) {
        if !ctl.started {
            ctx.send(JobEvent::Train(Event::Error(e.to_string())));
        }
        ctx.send(JobEvent::Failed(e.to_string()));
    }
}

/// The training loop's control backed by the job's steering channel.
struct TrainControl<'a> {
    ctx: &'a JobContext,
    steer: Receiver<Steer>,
    paused: bool,
    started: bool,
}

impl Control for TrainControl<'_> {
    fn emit(&mut self, event: Event) {
        if let Event::Started { run_dir, .. } = &event {
            self.started = true;
            if let Some(e) = lock(&self.ctx.jobs).get_mut(&self.ctx.id) {
                e.run_dir = Some(run_dir.clone());
            }
        }
        self.ctx.send(JobEvent::Train(event));
    }

    fn poll(&mut self) -> Signal {
        loop {
            let next = if self.paused {
                // Blocks while paused; wakes now and then to notice a cancel flag set without a message.
                match self.steer.recv_timeout(std::time::Duration::from_millis(250)) {
                    Ok(s) => Some(s),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => Some(Steer::Cancel),
                }
            } else {
                self.steer.try_recv().ok()
            };
            if self.ctx.cancel.is_set() {
                return Signal::Cancel;
            }
            match next {
                Some(Steer::Pause) if !self.paused => {
                    self.paused = true;
                    self.emit(Event::Paused(true));
                }
                Some(Steer::Unpause) if self.paused => {
                    self.paused = false;
                    self.emit(Event::Paused(false));
                }
                Some(Steer::Cancel) => return Signal::Cancel,
                Some(_) => {}
                None if self.paused => {}
                None => return Signal::Continue,
            }
        }
    }
}
