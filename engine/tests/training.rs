//! Training end to end on tiny models: loss goes down, a fixed seed repeats a
//! run exactly, cancel + resume equals an uninterrupted run, early stopping
//! stops, and bad configs fail before anything is written.

mod common;

use engine::config::TrainConfig;
use engine::runs::{RunDir, RunState};
use engine::train::events::Unattended;
use engine::train::{Control, Event, Signal};

fn losses(run: &std::path::Path) -> Vec<(usize, f64)> {
    RunDir::open(run).unwrap().metrics().unwrap().into_iter().filter_map(|r| r.loss.map(|l| (r.step, l))).collect()
}

#[test]
fn loss_decreases_on_the_sample_data() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = common::tiny_config(dir.path(), &common::sample_dir().join("model"));
    cfg.lora.rank = 16;
    cfg.lora.alpha = 32.0;
    cfg.lora.dropout = 0.0;
    cfg.training.learning_rate = 3e-3;
    cfg.training.epochs = 3;
    let out = engine::train::train(&cfg, &mut Unattended).unwrap();
    assert_eq!(out.state, RunState::Finished);
    let m = RunDir::open(&out.run_dir).unwrap().metrics().unwrap();
    let val: Vec<f64> = m.iter().filter_map(|r| r.val_loss).collect();
    let first_loss = m[0].loss.unwrap();
    let last_loss = m.last().unwrap().loss.unwrap();
    assert!(last_loss < first_loss - 0.1, "training loss {first_loss} -> {last_loss}");
    assert!(val.last().unwrap() < &(val[0] - 0.05), "validation loss {val:?}");
    for r in &m {
        assert!(r.lr.is_some() && r.grad_norm.is_some() && r.tokens_per_s.is_some());
        if let Some(v) = r.val_loss {
            assert!((r.val_ppl.unwrap() - v.exp()).abs() < 1e-9);
        }
    }
    assert!(RunDir::open(&out.run_dir).unwrap().adapter_dir().join("adapter_model.safetensors").is_file());
}

#[test]
fn same_seed_gives_the_same_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 1);
    let mut cfg = common::tiny_config(dir.path(), &model);
    cfg.training.max_steps = Some(4);
    let a = engine::train::train(&cfg, &mut Unattended).unwrap();
    let b = engine::train::train(&cfg, &mut Unattended).unwrap();
    assert_ne!(a.run_dir, b.run_dir);
    assert_eq!(losses(&a.run_dir), losses(&b.run_dir));
    cfg.training.seed += 1;
    let c = engine::train::train(&cfg, &mut Unattended).unwrap();
    assert_ne!(losses(&a.run_dir), losses(&c.run_dir));
}

/// Cancels after a given number of steps.
struct CancelAfter {
    steps: usize,
    seen: usize,
}

impl Control for CancelAfter {
    fn emit(&mut self, event: Event) {
        if let Event::Progress { .. } = event {
            self.seen += 1;
        }
    }
    fn poll(&mut self) -> Signal {
        if self.seen >= self.steps { Signal::Cancel } else { Signal::Continue }
    }
}

#[test]
fn cancel_then_resume_equals_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 2);
    let mut cfg = common::tiny_config(dir.path(), &model);
    cfg.training.checkpoint_every = 0; // only the cancel writes a checkpoint
    let full = engine::train::train(&cfg, &mut Unattended).unwrap();
    let total = full.step;
    assert!(total >= 8, "{total} steps");

    let cut = engine::train::train(&cfg, &mut CancelAfter { steps: 5, seen: 0 }).unwrap();
    assert_eq!(cut.state, RunState::Cancelled);
    assert_eq!(cut.step, 5);
    let run = RunDir::open(&cut.run_dir).unwrap();
    assert_eq!(run.status().unwrap().state, RunState::Cancelled);
    assert_eq!(run.checkpoints().last().unwrap().0, 5);

    let resumed = engine::train::resume(&cut.run_dir, &mut Unattended).unwrap();
    assert_eq!(resumed.state, RunState::Finished);
    assert_eq!(resumed.step, total);
    assert_eq!(losses(&cut.run_dir), losses(&full.run_dir));
    let val =
        |d: &std::path::Path| -> Vec<Option<f64>> { RunDir::open(d).unwrap().metrics().unwrap().iter().map(|r| r.val_loss).collect() };
    assert_eq!(val(&cut.run_dir), val(&full.run_dir));
}

#[test]
fn early_stopping_stops_when_validation_stalls() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 3);
    let mut cfg = common::tiny_config(dir.path(), &model);
    // No later evaluation can beat the first by 10 nats: patience runs out
    // after evaluations 2 and 3.
    cfg.training.early_stopping_min_delta = 10.0;
    cfg.training.eval_every = 1;
    cfg.training.early_stopping_patience = 2;
    let out = engine::train::train(&cfg, &mut Unattended).unwrap();
    assert_eq!(out.state, RunState::EarlyStopped);
    let status = RunDir::open(&out.run_dir).unwrap().status().unwrap();
    assert_eq!(status.state, RunState::EarlyStopped);
    assert_eq!((out.step, status.best_step), (3, Some(1)));
    assert!(out.step < status.total_steps);
}

#[test]
fn full_fine_tuning_trains_every_weight_and_saves_a_model_directory() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 4);
    let mut cfg = common::tiny_config(dir.path(), &model);
    cfg.training.mode = engine::config::TrainMode::Full;
    cfg.training.gradient_checkpointing = true;
    cfg.training.max_steps = Some(3);
    let out = engine::train::train(&cfg, &mut Unattended).unwrap();
    let saved = RunDir::open(&out.run_dir).unwrap().model_dir();
    let before = engine::model::Model::load(&model, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let after = engine::model::Model::load(&saved, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let ids = candle_core::Tensor::new(&[[1u32, 5, 9, 200]], &candle_core::Device::Cpu).unwrap();
    let p = engine::model::Pass::Eval;
    let diff = (before.forward(&ids, p).unwrap() - after.forward(&ids, p).unwrap())
        .unwrap()
        .abs()
        .unwrap()
        .max_all()
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
    assert!(diff > 1e-4, "full fine-tuning changed nothing");
}

fn expect_config_error(edit: impl FnOnce(&mut TrainConfig), field: &str) {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 1);
    let mut cfg = common::tiny_config(dir.path(), &model);
    edit(&mut cfg);
    let err = engine::train::train(&cfg, &mut Unattended).unwrap_err().to_string();
    assert!(err.contains(field), "error for {field} was: {err}");
    assert!(
        !dir.path().join("runs").exists() || std::fs::read_dir(dir.path().join("runs")).unwrap().count() == 0,
        "a run directory was written"
    );
}

#[test]
fn bad_configs_fail_with_the_field_named_and_write_nothing() {
    expect_config_error(|c| c.lora.rank = 0, "lora.rank");
    expect_config_error(|c| c.lora.alpha = -1.0, "lora.alpha");
    expect_config_error(|c| c.lora.target_modules = vec!["attn_proj".into()], "lora.target_modules");
    expect_config_error(|c| c.training.grad_accum = 0, "training.grad_accum");
    expect_config_error(|c| c.training.warmup_ratio = 1.5, "training.warmup_ratio");
    expect_config_error(|c| c.data.train_file = "/nonexistent/train.jsonl".into(), "data.train_file");
}

#[test]
fn bad_model_directories_fail_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 1);
    let cfg = common::tiny_config(dir.path(), &model);
    let run = |cfg: &TrainConfig| engine::train::train(cfg, &mut Unattended).unwrap_err().to_string();

    std::fs::rename(model.join("config.json"), model.join("config.json.bak")).unwrap();
    let err = run(&cfg);
    assert!(err.contains("config.json"), "{err}");
    std::fs::rename(model.join("config.json.bak"), model.join("config.json")).unwrap();

    let weights = model.join("model.safetensors");
    let good = std::fs::read(&weights).unwrap();
    std::fs::write(&weights, &good[..good.len() / 2]).unwrap();
    let err = run(&cfg);
    assert!(err.contains("model.safetensors") && err.contains("not a valid safetensors"), "{err}");
    std::fs::write(&weights, &good).unwrap();

    // Weights and config agree on 100 tokens; the 2,048-token tokenizer does not fit.
    let small = engine::sample_build::tiny_model_config(100);
    engine::sample_build::init_model_dir(small, 1, &common::sample_dir().join("model"), &model).unwrap();
    let err = run(&cfg);
    assert!(err.contains("tokenizer.json") && err.contains("does not belong to this model"), "{err}");
    assert!(std::fs::read_dir(dir.path().join("runs")).map_or(0, |d| d.count()) == 0);
}

#[test]
fn malformed_data_line_is_named_or_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 1);
    let mut cfg = common::tiny_config(dir.path(), &model);
    let mut text = std::fs::read_to_string(&cfg.data.train_file).unwrap();
    text.push_str("{\"messages\": [{\"role\": \"user\", \"content\": \"no reply\"}]}\n");
    std::fs::write(&cfg.data.train_file, &text).unwrap();
    let err = engine::train::train(&cfg, &mut Unattended).unwrap_err().to_string();
    assert!(err.contains("train.jsonl:49:") && err.contains("assistant"), "{err}");
    cfg.data.skip_bad_lines = true;
    cfg.training.max_steps = Some(1);
    let ds = engine::train::session::Session::prepare(&cfg).unwrap();
    assert_eq!(ds.train.skipped_lines.len(), 1);
    assert_eq!(ds.train.skipped_lines[0].0, 49);
}

#[test]
fn a_non_finite_gradient_stops_the_run_naming_the_step_and_keeps_the_last_good_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 4);
    let mut cfg = common::tiny_config(dir.path(), &model);
    cfg.training.learning_rate = 1e30;
    cfg.training.max_grad_norm = 0.0;
    cfg.training.checkpoint_every = 0;
    cfg.training.eval_every = 0;
    let err = engine::train::train(&cfg, &mut Unattended).unwrap_err().to_string();
    let run = engine::runs::RunDir::open(&engine::runs::run_dir::list(&cfg.run.runs_dir)[0].path).unwrap();
    let status = run.status().unwrap();
    assert_eq!(status.state, engine::runs::RunState::Failed);
    let bad_step = status.step + 1;
    assert!(err.contains(&format!("step {bad_step}:")) && err.contains("training.learning_rate"), "{err}");
    assert!(status.message.as_deref().is_some_and(|m| m.contains("not applying") || m.contains("without applying")), "{status:?}");
    let last = run.metrics().unwrap().pop().unwrap();
    assert_eq!(last.step, bad_step);
    assert!(last.grad_norm.is_some_and(|g| !g.is_finite()) || last.loss.is_some_and(|l| !l.is_finite()), "{last:?}");
    let text = std::fs::read_to_string(run.metrics_path()).unwrap();
    assert!(!text.contains("null"), "non-finite values are written as text, not null: {text}");
    assert_eq!(run.checkpoints().last().map(|c| c.0), Some(status.step), "the last good step is checkpointed");
}

#[test]
fn a_jinja_chat_template_renders_training_data_with_loss_only_on_replies() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 6);
    let mut cfg = common::tiny_config(dir.path(), &model);
    let chatml = dir.path().join("chatml.jinja");
    std::fs::write(
        &chatml,
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}\
         {% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
    )
    .unwrap();
    cfg.data.chat_template = chatml.display().to_string();
    cfg.training.max_steps = Some(2);
    cfg.check().unwrap();
    let session = engine::train::session::Session::prepare(&cfg).unwrap();
    let chat = engine::chat::ChatFormat::load(&model, &session.model.config, &cfg.data.chat_template).unwrap();
    let report = engine::data::report::analyze(&cfg.data.train_file, &chat, 64, engine::config::TrainOn::Assistant, 1).unwrap();
    let text = engine::chat::template::render_segments(&report.previews[0]);
    assert!(text.starts_with("<|im_start|>") && text.contains("<|im_start|>assistant\n"), "{text}");
    let trained: Vec<&str> = report.previews[0].iter().filter(|s| s.trained).map(|s| s.text.as_str()).collect();
    assert!(!trained.is_empty() && trained.iter().all(|t| t.ends_with("<|im_end|>\n") && !t.contains("<|im_start|>")), "{trained:?}");
    // The loss mask follows: trained tokens are a strict subset, and training runs on it.
    let ex = &session.train.examples[0];
    assert!(ex.trained.iter().any(|&t| t) && ex.trained.iter().any(|&t| !t));
    let out = engine::train::train(&cfg, &mut Unattended).unwrap();
    assert_eq!(out.step, 2);
    assert_eq!(engine::runs::RunDir::open(&out.run_dir).unwrap().config().unwrap().data.chat_template, cfg.data.chat_template);
}
