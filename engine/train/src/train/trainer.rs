//! The training loop: accumulation windows, clipping, AdamW, logging,
//! evaluation, early stopping, checkpoints, cancel and resume.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::checkpoint::{self, TrainerState};
use super::events::{Control, Event, Signal};
use super::gradients::{GradAccumulator, clip, global_norm};
use super::optimizer::{AdamW, AdamWParams};
use super::schedule::{lr_at, warmup_steps};
use super::session::Session;
use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::model::Pass;
use crate::model::decoder::backprop::accumulate;
use crate::runs::{LiveStatus, MetricRecord, RunDir, RunState};

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The run directory.
    pub run_dir: PathBuf,
    /// Finished, early-stopped or cancelled.
    pub state: RunState,
    /// Last completed step.
    pub step: usize,
    /// Best validation loss.
    pub best_val_loss: Option<f64>,
}

/// Starts a new run of `config` (already resolved). Nothing is written until
/// the config, model and data have all been checked.
pub fn train(config: &TrainConfig, ctl: &mut dyn Control) -> Result<Outcome> {
    config.check()?;
    let session = Session::prepare(config)?;
    let run = RunDir::create(config, session.total_steps())?;
    let state = TrainerState::fresh(config.training.seed);
    let opt = new_optimizer(&session)?;
    run.log(&format!("started: {} train / {} validation examples", session.train.examples.len(), session.validation.examples.len()))?;
    note_precision(&session, &run, ctl)?;
    run_to_end(session, run, opt, state, ctl)
}

/// Continues the run in `run_dir` from its last checkpoint (from the start if
/// it has none). The metrics after that checkpoint are dropped and redone.
pub fn resume(run_dir: &Path, ctl: &mut dyn Control) -> Result<Outcome> {
    let run = RunDir::open(run_dir)?;
    if let Ok(status) = run.status() {
        let live = matches!(status.effective_state(), RunState::Running | RunState::Paused);
        if live && !(status.is_local() && status.pid == std::process::id()) {
            let host = if status.host.is_empty() { "this host" } else { &status.host };
            return Err(Error::run(run_dir, format!("process {} on {host} is still training this run; cancel it first", status.pid)));
        }
    }
    let config = run.config()?;
    config.check()?;
    let session = Session::prepare(&config)?;
    let mut opt = new_optimizer(&session)?;
    let state = match run.checkpoints().last() {
        Some((_, dir)) => checkpoint::load(dir, &session.model, &mut opt)?,
        None => TrainerState::fresh(config.training.seed),
    };
    crate::runs::metrics::truncate_after(&run.metrics_path(), state.step)?;
    run.log(&format!("resumed from step {}", state.step))?;
    note_precision(&session, &run, ctl)?;
    run_to_end(session, run, opt, state, ctl)
}

/// Logs (and reports) whether a run that asked for bf16 got it.
fn note_precision(s: &Session, run: &RunDir, ctl: &mut dyn Control) -> Result<()> {
    if let Some(note) = s.precision_note() {
        run.log(&note)?;
        ctl.emit(Event::Log(note));
    }
    Ok(())
}

fn new_optimizer(s: &Session) -> Result<AdamW> {
    let t = &s.config.training;
    let hp = AdamWParams { beta1: t.beta1, beta2: t.beta2, eps: t.eps, weight_decay: t.weight_decay };
    Ok(AdamW::new(s.model.trainable(), hp)?)
}

/// Runs the loop and records a failure in the run directory.
fn run_to_end(mut s: Session, run: RunDir, mut opt: AdamW, mut st: TrainerState, ctl: &mut dyn Control) -> Result<Outcome> {
    match run_loop(&mut s, &run, &mut opt, &mut st, ctl) {
        Ok(outcome) => Ok(outcome),
        Err(e) => {
            let _ = run.log(&format!("failed: {e}"));
            if let Ok(mut status) = run.status() {
                status.state = RunState::Failed;
                status.message = Some(e.to_string());
                status.claim();
                let _ = status.write(&run.path);
            }
            ctl.emit(Event::Error(e.to_string()));
            ctl.emit(Event::Finished { run_dir: run.path.clone(), state: RunState::Failed });
            Err(e)
        }
    }
}

fn run_loop(s: &mut Session, run: &RunDir, opt: &mut AdamW, st: &mut TrainerState, ctl: &mut dyn Control) -> Result<Outcome> {
    let t = s.config.training.clone();
    let device = s.model.device().clone();
    let (spe, total) = (s.steps_per_epoch(), s.total_steps());
    let warmup = warmup_steps(&t, total);
    let n_batches = s.train.num_batches(t.batch_size);
    let n_examples = s.train.examples.len();

    let mut status = run.status()?;
    status.state = RunState::Running;
    status.total_steps = total;
    status.message = None;
    let status = LiveStatus::start(&run.path, status)?;
    ctl.emit(Event::Started { run_dir: run.path.clone(), total_steps: total, first_step: st.step + 1 });

    let mut order = s.train.epoch_order(st.seed, st.epoch);
    let mut step_time_avg: Option<f64> = None;
    let mut end_state = RunState::Finished;
    while st.step < total {
        if ctl.poll() == Signal::Cancel {
            checkpoint::save(run, &s.model, opt, st, t.keep_checkpoints)?;
            end_state = RunState::Cancelled;
            break;
        }
        let started = Instant::now();
        let first = st.window_in_epoch * t.grad_accum;
        let batches = (first..(first + t.grad_accum).min(n_batches))
            .map(|b| s.train.batch(&order[b * t.batch_size..((b + 1) * t.batch_size).min(n_examples)], &device))
            .collect::<Result<Vec<_>>>()?;
        let targets: usize = batches.iter().map(|b| b.n_targets).sum::<usize>().max(1);
        let tokens: usize = batches.iter().map(|b| b.n_tokens).sum();
        let mut acc = GradAccumulator::new(s.model.trainable().len());
        let mut loss_sum = 0.0;
        for (j, batch) in batches.iter().enumerate() {
            let seed = st.seed ^ ((st.step as u64) << 16 | j as u64).wrapping_mul(0x2545_F491_4F6C_DD1D);
            loss_sum += accumulate(&s.model, batch, Pass::Train { seed }, 1.0 / targets as f64, t.gradient_checkpointing, &mut acc)?;
        }
        let loss = loss_sum / targets as f64;
        let grads = acc.finish(&s.model)?;
        let grad_norm = global_norm(&grads)?;
        let lr = lr_at(t.schedule, t.learning_rate, st.step, warmup, total);
        if !loss.is_finite() || !grad_norm.is_finite() {
            return Err(stop_not_finite(s, run, opt, st, NotFinite { loss, grad_norm, lr, elapsed_s: st.elapsed_s }));
        }
        let grads = clip(grads, grad_norm, t.max_grad_norm)?;
        opt.step(&grads, lr)?;

        st.step += 1;
        st.window_in_epoch += 1;
        st.tokens_seen += tokens;
        let epoch_end = st.window_in_epoch >= spe;
        let epoch = st.epoch as f64 + st.window_in_epoch as f64 / spe as f64;
        if epoch_end {
            st.epoch += 1;
            st.window_in_epoch = 0;
            order = s.train.epoch_order(st.seed, st.epoch);
        }
        let train_time = started.elapsed().as_secs_f64();
        let mut record = MetricRecord {
            step: st.step,
            epoch,
            loss: Some(loss),
            lr: Some(lr),
            grad_norm: Some(grad_norm),
            tokens_per_s: Some(tokens as f64 / train_time),
            peak_rss_bytes: crate::device::peak_rss_bytes(),
            ..Default::default()
        };

        let evaluate = (t.eval_every > 0 && st.step.is_multiple_of(t.eval_every)) || epoch_end || st.step == total;
        let mut stop_early = false;
        if evaluate {
            let (val_loss, _) = crate::eval::mean_loss(&s.model, &s.validation, t.batch_size, None)?;
            record.val_loss = Some(val_loss);
            record.val_ppl = Some(val_loss.exp());
            let improved = st.best_val_loss.is_none_or(|b| val_loss < b - t.early_stopping_min_delta);
            if improved {
                st.best_val_loss = Some(val_loss);
                st.best_step = Some(st.step);
                st.evals_without_improvement = 0;
                save_output(s, run)?;
            } else {
                st.evals_without_improvement += 1;
                stop_early = t.early_stopping_patience > 0 && st.evals_without_improvement >= t.early_stopping_patience;
            }
            ctl.emit(Event::Log(format!("step {}: validation loss {val_loss:.4}, perplexity {:.2}", st.step, val_loss.exp())));
        }
        st.elapsed_s += started.elapsed().as_secs_f64();
        record.elapsed_s = st.elapsed_s;
        if st.step.is_multiple_of(t.log_every) || evaluate {
            run.append_metric(&record)?;
        }
        let dt = started.elapsed().as_secs_f64();
        let avg = step_time_avg.map_or(dt, |a| 0.9 * a + 0.1 * dt);
        step_time_avg = Some(avg);
        ctl.emit(Event::Progress {
            step: st.step,
            total_steps: total,
            epoch,
            loss,
            eta_s: avg * (total - st.step) as f64,
            tokens_per_s: tokens as f64 / train_time,
        });
        status.update(|s| {
            s.step = st.step;
            s.epoch = epoch;
            s.best_val_loss = st.best_val_loss;
            s.best_step = st.best_step;
        })?;
        if t.checkpoint_every > 0 && st.step.is_multiple_of(t.checkpoint_every) {
            checkpoint::save(run, &s.model, opt, st, t.keep_checkpoints)?;
        }
        if stop_early {
            run.log(&format!("early stopping at step {}: no improvement for {} evaluations", st.step, t.early_stopping_patience))?;
            end_state = RunState::EarlyStopped;
            break;
        }
    }
    status.update(|s| {
        s.state = end_state;
        s.step = st.step;
    })?;
    drop(status);
    run.log(&format!("{end_state:?} at step {}", st.step))?;
    ctl.emit(Event::Finished { run_dir: run.path.clone(), state: end_state });
    Ok(Outcome { run_dir: run.path.clone(), state: end_state, step: st.step, best_val_loss: st.best_val_loss })
}

/// What was not finite at a step.
struct NotFinite {
    loss: f64,
    grad_norm: f64,
    lr: f64,
    elapsed_s: f64,
}

/// A step whose loss or gradient norm is not finite: its update is not
/// applied; the step is recorded (non-finite values as text, see
/// `runs::metrics`), the last good state is checkpointed, and the error says
/// which step, what and what to change.
fn stop_not_finite(s: &Session, run: &RunDir, opt: &AdamW, st: &TrainerState, bad: NotFinite) -> Error {
    let t = &s.config.training;
    let step = st.step + 1;
    let record = MetricRecord {
        step,
        epoch: st.epoch as f64 + st.window_in_epoch as f64 / s.steps_per_epoch() as f64,
        loss: Some(bad.loss),
        lr: Some(bad.lr),
        grad_norm: Some(bad.grad_norm),
        elapsed_s: bad.elapsed_s,
        ..Default::default()
    };
    let kept = run.append_metric(&record).and_then(|()| checkpoint::save(run, &s.model, opt, st, t.keep_checkpoints));
    let what = if bad.loss.is_finite() { format!("the gradient norm is {}", bad.grad_norm) } else { format!("the loss is {}", bad.loss) };
    let checkpoint = match kept {
        Ok(()) => format!("the last good state (step {}) is checkpointed", st.step),
        Err(e) => format!("the checkpoint of step {} could not be written: {e}", st.step),
    };
    Error::Other(format!(
        "step {step}: {what}; the run stopped without applying the update ({checkpoint}). \
         Lower training.learning_rate (now {:e}) or set training.max_grad_norm (now {}), then start again",
        t.learning_rate, t.max_grad_norm
    ))
}

/// Saves the trained result: the adapter (LoRA) or the whole model (full).
fn save_output(s: &mut Session, run: &RunDir) -> Result<()> {
    match &s.lora {
        Some(spec) => crate::adapter::save(&s.model, spec, &s.config.model.path, &run.adapter_dir()),
        None => crate::model::save_model_dir(&mut s.model, &s.config.model.path, &run.model_dir()),
    }
}
