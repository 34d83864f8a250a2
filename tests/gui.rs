//! The window driven as a person would, through egui_kittest and the
//! accessibility tree (widgets found by their labels): validation as you
//! type, applying the memory advice, launching a run and watching points
//! arrive, cancelling it, and overlaying two runs made outside the window.

mod common;
#[path = "common/frames.rs"]
mod frames;

use std::path::Path;

use common::{sample_dir, tiny_setup};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use engine::runs::RunState;
use frames::{pick, wait_until};
use workbench::gui::{Metric, Tab, WorkbenchApp, Workspace};

fn harness(dir: &Path) -> Harness<'static, WorkbenchApp> {
    let app = WorkbenchApp::new(Workspace::new(dir.join("runs"), sample_dir()));
    Harness::builder().with_size([1500.0, 1000.0]).build_ui_state(|ui, app: &mut WorkbenchApp| app.ui(ui), app)
}

/// Loads the tiny config with `training` lines, as a run made outside the window would.
fn tiny_config(dir: &Path, training: &str) -> engine::config::TrainConfig {
    engine::config::TrainConfig::load(&tiny_setup(dir, training)).unwrap()
}

/// Trains `cfg` to the end without the window; returns the run directory.
fn train_outside(cfg: &engine::config::TrainConfig) -> std::path::PathBuf {
    engine::train::train(cfg, &mut engine::train::events::Unattended).unwrap().run_dir
}

#[test]
fn editing_a_field_shows_the_engines_validation_message() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.run();
    assert!(h.state().editor.errors.is_empty(), "{:?}", h.state().editor.errors);
    h.get_by_label("Rank").set_value_accesskit(0.0);
    h.run();
    assert_eq!(h.state().editor.config.lora.rank, 0);
    h.get_by_label_contains("lora.rank: must be at least 1");
    assert!(h.state().editor.estimate.is_none());
    h.get_by_label("Rank").set_value_accesskit(16.0);
    h.run();
    assert!(h.query_by_label_contains("lora.rank:").is_none());
    assert!(h.state().editor.estimate.is_some());
}

/// A path is checked on a worker thread as it is typed (a slow disk never
/// stalls the frame): its error and the estimate follow a few frames later.
#[test]
fn a_typed_model_path_is_checked_and_the_estimate_follows_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.run();
    let model = h.state().editor.config.model.path.clone();
    assert!(h.state().editor.estimate.is_some());
    h.get_by_label("Model directory").focus();
    h.run();
    h.get_by_label("Model directory").type_text("x");
    // Frames stepped, not run to rest: the check's result wakes frames of its own.
    h.step();
    assert_ne!(h.state().editor.config.model.path, model);
    wait_until(&mut h, "the typed path's error", |app| app.editor.error_for("model.path").is_some());
    h.get_by_label_contains("does not exist: point it at a Hugging Face model directory");
    assert!(h.state().editor.estimate.is_none(), "no estimate without the model's config");
    h.key_press(egui::Key::Backspace);
    h.step();
    assert_eq!(h.state().editor.config.model.path, model);
    wait_until(&mut h, "the model read again", |app| app.editor.errors.is_empty() && app.editor.estimate.is_some());
}

#[test]
fn applying_memory_advice_keeps_the_effective_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.run();
    assert_eq!((h.state().editor.config.training.batch_size, h.state().editor.config.training.grad_accum), (8, 2));
    let total = h.state().editor.estimate.as_ref().unwrap().total_bytes as f64;
    h.get_by_label("Memory limit").click();
    h.run();
    h.get_by_label("Limit (GiB)").set_value_accesskit(total * 0.9 / (1u64 << 30) as f64);
    h.run();
    assert!(!h.state().editor.estimate.as_ref().unwrap().fits);
    h.get_by_label_contains("Apply: batch 8 x accum 2 -> batch 4 x accum 4").click();
    h.run();
    let t = &h.state().editor.config.training;
    assert_eq!((t.batch_size, t.grad_accum, t.effective_batch()), (4, 4, 16));
    assert!(h.state().editor.estimate.as_ref().unwrap().fits);
}

#[test]
fn choosing_bf16_says_whether_this_cpu_has_amx_and_the_estimate_counts_the_packing() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.run();
    let f32_weights = h.state().editor.estimate.as_ref().unwrap().weights_bytes;
    assert!(h.query_by_label_contains("AMX").is_none());
    h.get_by_label("bf16").click();
    h.run();
    assert_eq!(h.state().editor.config.training.precision, engine::config::Precision::Bf16);
    let hint = if engine::device::cpu_has_amx() { "this CPU has AMX" } else { "this CPU has no AMX: the run will train in f32" };
    h.get_by_label(hint);
    // The packing is counted where it happens (a CPU with AMX).
    let bf16_weights = h.state().editor.estimate.as_ref().unwrap().weights_bytes;
    assert_eq!(bf16_weights > f32_weights, engine::device::cpu_has_amx(), "{bf16_weights} vs {f32_weights}");
    h.get_by_label("f32").click();
    h.run();
    assert!(h.query_by_label_contains("AMX").is_none());
    assert_eq!(h.state().editor.estimate.as_ref().unwrap().weights_bytes, f32_weights);
}

#[test]
fn launch_watch_points_arrive_then_cancel() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_setup(dir.path(), "epochs = 200\neval_every = 2");
    let mut h = harness(dir.path());
    h.state_mut().editor.load(&cfg).unwrap();
    h.run();
    h.get_by_label("Launch").click();
    wait_until(&mut h, "a run directory", |app| app.live.run_dir.is_some());
    assert_eq!(h.state().tab, Tab::Monitor);
    let run = h.state().live.run_dir.clone().unwrap();
    wait_until(&mut h, "three loss points", |app| app.monitor.series(&run, Metric::Loss).len() >= 3);
    wait_until(&mut h, "a validation point", |app| !app.monitor.series(&run, Metric::ValLoss).is_empty());
    h.get_by_label("Cancel").click();
    wait_until(&mut h, "the run to stop", |app| !app.live.active);
    h.state_mut().runs.refresh();
    h.step();
    let entry = h.state().runs.entries.iter().find(|e| e.path == run).map(|e| e.state);
    assert_eq!(entry, Some(Some(RunState::Cancelled)));
    h.get_by_label(&format!("Resume {}", run.file_name().unwrap().to_string_lossy()));
}

#[test]
fn runs_made_outside_the_window_are_listed_and_overlaid() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = tiny_config(dir.path(), "max_steps = 3\neval_every = 2");
    let a = train_outside(&cfg);
    cfg.training.learning_rate = 1e-3;
    let b = train_outside(&cfg);
    // Run `a` as a remote GPU job writes it: its accelerator's utilisation beside each step.
    let metrics = a.join(engine::runs::files::METRICS);
    let text = std::fs::read_to_string(&metrics).unwrap();
    let with_util: String = text.lines().map(|l| l.replacen("\"loss\"", "\"accelerator_util\":87.5,\"loss\"", 1) + "\n").collect();
    std::fs::write(&metrics, with_util).unwrap();
    let mut h = harness(dir.path());
    h.run();
    // The newest run is ticked on start; tick the other one too.
    assert_eq!(h.state().runs.selected_paths(), vec![b.clone()]);
    h.get_by_label(&a.file_name().unwrap().to_string_lossy()).click();
    h.run();
    assert_eq!(h.state().runs.selected_paths().len(), 2);
    h.get_by_label_contains("training.learning_rate");
    h.get_by_label("Monitor").click();
    h.run();
    assert_eq!(h.state().tab, Tab::Monitor);
    for run in [&a, &b] {
        assert_eq!(h.state_mut().monitor.series(run, Metric::Loss).len(), 3);
    }
    // The utilisation chart shows because one run has it.
    assert_eq!(h.state_mut().monitor.series(&a, Metric::AcceleratorUtil), vec![[1.0, 87.5], [2.0, 87.5], [3.0, 87.5]]);
    assert!(h.state_mut().monitor.series(&b, Metric::AcceleratorUtil).is_empty());
    h.get_by_label("Accelerator utilisation (%)");
}

#[test]
fn data_tab_counts_conversations_and_draws_the_length_histogram() {
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.run();
    h.get_by_label("Data").click();
    // The first visit starts the analysis of the config's training file.
    wait_until(&mut h, "the analysis", |app| app.data.report.is_some());
    h.run();
    let report = h.state().data.report.as_ref().unwrap().as_ref().unwrap().clone();
    assert_eq!(report.records, 3000);
    assert_eq!(report.histogram(32).iter().map(|b| b.2).sum::<usize>(), report.stats.count);
    h.get_by_label_contains("3000 conversations");
    h.get_by_label_contains("truncated at 256");
}

#[test]
fn evaluate_tab_compares_base_and_a_ticked_run() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config(dir.path(), "max_steps = 2\neval_every = 2");
    let run = train_outside(&cfg);
    let mut h = harness(dir.path());
    h.run();
    h.get_by_label("Evaluate").click();
    h.run();
    h.state_mut().evaluate.data_file = cfg.data.validation_file.clone();
    h.get_by_label("Evaluate base vs ticked runs").click();
    wait_until(&mut h, "the evaluation", |app| !app.evaluate.running());
    h.run();
    let rows = &h.state().evaluate.rows;
    assert_eq!(rows.len(), 2, "{:?}", h.state().evaluate.error);
    assert_eq!(rows[0].name, "base");
    assert_eq!(rows[1].name, run.file_name().unwrap().to_string_lossy());
    h.get_by_label("vs base");
    let ppl = rows[1].perplexity;

    // After a restart the table is still there: it was kept with the run.
    drop(h);
    let mut h = harness(dir.path());
    h.run();
    h.get_by_label("Evaluate").click();
    h.run();
    assert!(h.state().evaluate.rows.is_empty(), "nothing computed in this session");
    h.get_by_label_contains("saved with the runs");
    h.get_by_label("vs base");
    h.get_by_label(&format!("{ppl:.3}"));
}

#[test]
fn a_run_keeps_training_while_the_evaluate_and_data_tabs_work() {
    let dir = tempfile::tempdir().unwrap();
    let finished = train_outside(&tiny_config(dir.path(), "max_steps = 2\neval_every = 2"));
    let cfg = tiny_setup(dir.path(), "epochs = 500");
    let mut h = harness(dir.path());
    h.state_mut().editor.load(&cfg).unwrap();
    h.step();
    h.get_by_label("Launch").click();
    wait_until(&mut h, "the run's first step", |app| app.live.step >= 1);
    let live = h.state().live.run_dir.clone().unwrap();
    // Evaluate the finished run on the 3,000 shipped conversations: many training steps long.
    h.state_mut().runs.selected = [finished.clone()].into();
    h.state_mut().evaluate.data_file = Some(common::sample_dir().join("data/train.jsonl"));
    h.get_by_label("Evaluate").click();
    h.step();
    h.get_by_label("Evaluate base vs ticked runs").click();
    h.step();
    let step_at_start = h.state().live.step;
    assert!(h.state().evaluate.running());
    h.state_mut().data.file = dir.path().join("train.jsonl");
    h.get_by_label("Data").click();
    h.step();
    assert!(h.state().data.busy(), "the Data tab analyses its file at once, while the run trains");
    let mut steps_during = 0;
    wait_until(&mut h, "the evaluation and the analysis", |app| {
        if app.evaluate.running() {
            steps_during = app.live.step - step_at_start;
        }
        !app.evaluate.running() && app.data.report.is_some()
    });
    assert_eq!(h.state().evaluate.rows.len(), 2, "{:?}", h.state().evaluate.error);
    assert_eq!(h.state().data.report.as_ref().unwrap().as_ref().unwrap().records, 64);
    assert!(steps_during >= 2, "the run made {steps_during} steps during the evaluation");
    assert!(h.state().live.active, "the run is still training");
    assert_eq!(h.state().live.run_dir.as_ref(), Some(&live));
    h.state_mut().cancel();
    wait_until(&mut h, "the run to stop", |app| !app.live.active);
}

#[test]
fn runs_can_be_renamed_tagged_and_noted() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_outside(&tiny_config(dir.path(), "max_steps = 1"));
    let name = run.file_name().unwrap().to_string_lossy().into_owned();
    let mut h = harness(dir.path());
    h.run();
    h.get_by_label(&format!("Notes {name}")).click();
    h.run();
    for (field, text) in [("Display name", "baseline"), ("Tags", "r4, smoke"), ("Note", "first try")] {
        h.get_by_label(field).focus();
        h.run();
        h.get_by_label(field).type_text(text);
        h.run();
    }
    h.get_by_label("Save notes").click();
    h.run();
    let notes = engine::runs::Notes::read(&run).unwrap();
    assert_eq!(notes.display_name, "baseline");
    assert_eq!(notes.tags, vec!["r4".to_string(), "smoke".to_string()]);
    assert_eq!(notes.note, "first try");
    h.get_by_label("#smoke");
    h.get_by_label("first try");
}

/// eframe's storage, in memory.
#[derive(Default)]
struct MemoryStorage(std::collections::HashMap<String, String>);

impl eframe::Storage for MemoryStorage {
    fn get_string(&self, key: &str) -> Option<String> {
        self.0.get(key).cloned()
    }
    fn set_string(&mut self, key: &str, value: String) {
        self.0.insert(key.to_string(), value);
    }
    fn remove_string(&mut self, key: &str) {
        self.0.remove(key);
    }
    fn flush(&mut self) {}
}

#[test]
fn restart_restores_runs_folder_tab_and_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_setup(dir.path(), "max_steps = 1");
    let mut h = harness(dir.path());
    h.state_mut().editor.load(&cfg).unwrap();
    h.get_by_label("Monitor").click();
    h.run();
    let mut storage = MemoryStorage::default();
    eframe::App::save(h.state_mut(), &mut storage);

    let restored = WorkbenchApp::restore(None, sample_dir(), Some(&storage));
    assert_eq!(restored.tab, Tab::Monitor);
    assert_eq!(restored.editor.path.as_deref(), Some(cfg.as_path()));
    assert_eq!(restored.editor.config.run.runs_dir, dir.path().join("runs"));
    let explicit = WorkbenchApp::restore(Some(dir.path().join("elsewhere")), sample_dir(), Some(&storage));
    assert_eq!(explicit.editor.config.run.runs_dir, dir.path().join("elsewhere"));
}

#[test]
fn a_finished_run_is_merged_from_the_runs_list() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_outside(&tiny_config(dir.path(), "max_steps = 2\neval_every = 2"));
    let name = run.file_name().unwrap().to_string_lossy().into_owned();
    let mut h = harness(dir.path());
    h.run();
    h.get_by_label(&format!("Merge {name}")).click();
    h.step();
    assert!(h.state().merge_job.is_some(), "{:?}", h.state().banner);
    wait_until(&mut h, "the merge", |app| app.merge_job.is_none());
    assert_eq!(h.state().banner, None);
    let merged = run.join("merged");
    assert!(merged.join("model.safetensors").is_file() && merged.join("config.json").is_file());
    assert!(h.state().live.last_log.contains("merged model written to"), "{}", h.state().live.last_log);
}

#[test]
fn the_remote_tab_offers_each_target_with_its_settings_and_says_what_it_cannot_do() {
    use egui_kittest::kittest::NodeT;
    use engine::backend::slurm::profile::Target;
    let dir = tempfile::tempdir().unwrap();
    let mut h = harness(dir.path());
    h.state_mut().tab = Tab::Remote;
    h.run();
    // The engine target by default: its program on the cluster.
    h.get_by_label("Workbench program");
    h.get_by_label_contains("Estimate:");
    // Trainium: the sample model is a Mistral, which optimum-neuron cannot train; Submit is off until that changes.
    pick(&mut h, "Target", Target::Neuron.describe());
    h.get_by_label_contains("Cannot submit: model");
    h.get_by_label_contains("model_type \"mistral\"");
    h.get_by_label_contains("Not honoured: optimum-neuron cannot resume");
    assert!(h.get_by_label("Submit the configured run").accesskit_node().is_disabled());
    pick(&mut h, "Instance type", "trn2.48xlarge (64 NeuronCores, TP 4)");
    assert_eq!(h.state().remote.profile.cluster.instance_type, "trn2.48xlarge");
    // GPUs: the run can go; four GPUs per node and DeepSpeed ZeRO-3.
    pick(&mut h, "Target", Target::Cuda.describe());
    assert!(h.query_by_label_contains("Cannot submit").is_none());
    assert!(!h.get_by_label("Submit the configured run").accesskit_node().is_disabled());
    pick(&mut h, "DeepSpeed", "ZeRO-3");
    assert_eq!((h.state().remote.profile.cluster.target, h.state().remote.profile.cluster.deepspeed), (Target::Cuda, 3));
}

/// A run that grows while the Monitor shows it (another process training
/// it, a remote run's mirror) is read again on a worker thread, and its
/// chart follows without the user doing anything.
#[test]
fn the_monitor_follows_a_run_that_grows_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let run = train_outside(&tiny_config(dir.path(), "max_steps = 3\neval_every = 2"));
    let mut h = harness(dir.path());
    h.run();
    h.get_by_label("Monitor").click();
    h.run();
    assert_eq!(h.state_mut().monitor.series(&run, Metric::Loss).len(), 3);
    // Another process appends step 4: the last training record again, renumbered.
    let metrics = run.join(engine::runs::files::METRICS);
    let text = std::fs::read_to_string(&metrics).unwrap();
    let last = text.lines().rev().find(|l| l.contains("\"loss\":")).unwrap();
    let step = last.split("\"step\":").nth(1).unwrap().split(|c: char| !c.is_ascii_digit()).next().unwrap();
    let grown = last.replacen(&format!("\"step\":{step}"), "\"step\":4", 1);
    std::fs::write(&metrics, format!("{text}{grown}\n")).unwrap();
    wait_until(&mut h, "the fourth step on the chart", |app| app.monitor.series(&run, Metric::Loss).len() == 4);
}
