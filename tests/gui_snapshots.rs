//! The look of each main panel: the real window state rendered on the CPU
//! (wgpu on Mesa's lavapipe or llvmpipe) and compared with the committed
//! images in `tests/snapshots/` (egui_kittest snapshots).
//!
//! What a panel shows must be the same on every machine, so the window works
//! in a fixed folder (`target/tmp/gui-snapshots`, the current directory of
//! this test binary) with paths relative to it, on the committed runs in
//! `tests/fixtures/runs/` (two real runs of the sample model, see their
//! README), and with a memory limit instead of this machine's RAM.
//!
//! After an intended change of the look: `UPDATE_SNAPSHOTS=1 cargo test --test
//! gui_snapshots`, look at the new images, commit them. A failing comparison
//! leaves `NAME.new.png` and `NAME.diff.png` beside the committed image.

mod common;
#[path = "common/frames.rs"]
mod frames;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use egui_kittest::kittest::Queryable;
use egui_kittest::{Harness, SnapshotOptions};
use engine::config::TrainConfig;
use engine::conversations::{Conversation, Turn};
use engine::data::conversation::Role;
use engine::generate::target::{Answer, Target};
use frames::wait_until;
use workbench::gui::{DataPanel, Tab, WorkbenchApp, Workspace};

const SIZE: [f32; 2] = [1280.0, 820.0];

/// The fixed working folder: fixture runs copied in, `sample_data` linked.
/// Every test of this binary uses the same one, so changing the current
/// directory once is safe.
fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = Path::new(env!("CARGO_TARGET_TMPDIR")).join("gui-snapshots");
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        copy_dir(&repo().join("tests/fixtures/runs"), &root.join("runs"));
        std::os::unix::fs::symlink(common::sample_dir(), root.join("sample_data")).unwrap();
        std::env::set_current_dir(&root).unwrap();
        root
    })
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// The Story A preset with its paths relative to [`root`] and a 2 GiB limit.
fn story_a() -> TrainConfig {
    let text = std::fs::read_to_string(common::sample_dir().join("configs/story-a-sample.toml")).unwrap();
    let text = text
        .replace("\"../model\"", "\"sample_data/model\"")
        .replace("\"../data/", "\"sample_data/data/")
        .replace("\"../../runs\"", "\"runs\"");
    let mut cfg = TrainConfig::from_toml(&text).unwrap();
    cfg.run.memory_limit_gb = Some(2.0);
    cfg
}

/// A window on `runs` under [`root`], rendered with wgpu, editing [`story_a`].
fn window(runs: &str) -> Harness<'static, WorkbenchApp> {
    root();
    let mut app = WorkbenchApp::new(Workspace::new(runs.into(), "sample_data".into()));
    app.editor.config = story_a();
    app.editor.path = None;
    app.editor.notice = None;
    app.editor.revalidate();
    app.data = DataPanel::new("sample_data/data/train.jsonl".into());
    Harness::builder().with_size(SIZE).wgpu().build_ui_state(|ui, app: &mut WorkbenchApp| app.ui(ui), app)
}

fn snapshot(h: &mut Harness<'static, WorkbenchApp>, name: &str) {
    h.snapshot_options(name, &SnapshotOptions::new().output_path(repo().join("tests/snapshots")));
}

#[test]
fn configure_panel() {
    let mut h = window("runs");
    h.run();
    assert!(h.state().editor.errors.is_empty(), "{:?}", h.state().editor.errors);
    snapshot(&mut h, "configure");
}

#[test]
fn configure_panel_over_budget_offers_advice() {
    let mut h = window("runs");
    h.state_mut().editor.config.run.memory_limit_gb = Some(0.12);
    h.state_mut().editor.revalidate();
    h.run();
    assert!(!h.state().editor.estimate.as_ref().unwrap().fits);
    h.get_by_label_contains("Apply: batch 8 x accum 2");
    snapshot(&mut h, "configure-advice");
}

#[test]
fn configure_panel_shows_the_engines_message_in_red() {
    let mut h = window("runs");
    h.run();
    h.get_by_label("Learning rate").set_value_accesskit(-1.0);
    h.run();
    h.get_by_label_contains("training.learning_rate: must be positive");
    snapshot(&mut h, "configure-invalid");
}

#[test]
fn monitor_panel_overlays_two_runs() {
    let mut h = window("runs");
    let all: Vec<PathBuf> = h.state().runs.entries.iter().map(|e| e.path.clone()).collect();
    assert_eq!(all.len(), 2, "the fixture has two runs");
    h.state_mut().runs.selected.extend(all);
    h.state_mut().tab = Tab::Monitor;
    h.run();
    snapshot(&mut h, "monitor");
}

#[test]
fn data_panel() {
    let mut h = window("runs");
    h.state_mut().tab = Tab::Data;
    wait_until(&mut h, "the analysis", |app| app.data.report.is_some());
    h.run();
    snapshot(&mut h, "data");
}

#[test]
fn evaluate_panel_after_an_evaluation() {
    // A tiny run trained here (deterministic: fixed seed), renamed so its name is fixed.
    let eval = root().join("eval");
    std::fs::create_dir_all(&eval).unwrap();
    let cfg = TrainConfig::load(&common::tiny_setup(&eval, "max_steps = 8\neval_every = 4")).unwrap();
    let made = engine::train::train(&cfg, &mut engine::train::events::Unattended).unwrap().run_dir;
    let run = made.with_file_name("tiny-r4");
    std::fs::rename(&made, &run).unwrap();
    // Its duration (shown in the runs list) is the one thing that varies: pin it to 1 s.
    let status_file = run.join("status.json");
    let mut status: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&status_file).unwrap()).unwrap();
    status["updated_unix"] = (status["created_unix"].as_i64().unwrap() + 1).into();
    std::fs::write(&status_file, status.to_string()).unwrap();
    let mut h = window("eval/runs");
    h.state_mut().evaluate.data_file = Some("eval/validation.jsonl".into());
    h.state_mut().tab = Tab::Evaluate;
    h.run();
    h.get_by_label("Evaluate base vs ticked runs").click();
    wait_until(&mut h, "the evaluation", |app| !app.evaluate.running());
    h.run();
    assert_eq!(h.state().evaluate.rows.len(), 2, "{:?}", h.state().evaluate.error);
    snapshot(&mut h, "evaluate");
}

#[test]
fn chat_panel_with_a_markdown_answer() {
    let mut h = window("runs");
    let answer = "**Reset it in the self-service portal:**\n\n1. Open `https://id.example.com`.\n2. Choose *Forgot password* and follow the e-mail.\n\nIf the VPN still refuses you, run `vpn-cli logout` and sign in again.";
    let app = h.state_mut();
    app.tab = Tab::Chat;
    app.chat.conversation = Conversation {
        title: "How do I reset my VPN password?".into(),
        target: Some(Target::base(Path::new("sample_data/model"), "model")),
        system: "You are the internal help desk.".into(),
        settings: Default::default(),
        turns: vec![
            Turn::user("How do I reset my VPN password?"),
            Turn {
                role: Role::Assistant,
                content: answer.into(),
                answered_by: Some("sample_data/model (base)".into()),
                stats: Some(common::answer_stats(54)),
            },
        ],
    };
    h.run();
    h.get_by_label_contains("41.5 tokens/s");
    snapshot(&mut h, "chat");
}

#[test]
fn compare_panel_with_two_columns() {
    let mut h = window("runs");
    let app = h.state_mut();
    app.tab = Tab::Compare;
    app.compare.prompt_file = "sample_data/data/test.jsonl".into();
    app.compare.load_prompts();
    let answers = [
        "You can reset it from the portal.",
        "Open **Settings > VPN**, choose *Reset password*, and confirm the code sent to your phone. The new password works after about five minutes.",
    ];
    for (i, (col, text)) in app.compare.columns.iter_mut().zip(answers).enumerate() {
        col.target = Some(Target::base(Path::new(if i == 0 { "sample_data/model" } else { "models/tuned" }), "model"));
        col.text = text.into();
        col.answer = Some(Answer { text: text.into(), stats: common::answer_stats(10 + 20 * i) });
    }
    h.run();
    assert_eq!(h.get_all_by_label_contains("41.5 tokens/s").count(), 2);
    h.get_by_label_contains("prompt 1 of");
    snapshot(&mut h, "compare");
}

#[test]
fn review_panel_shows_an_item_blind() {
    use engine::comparisons::{Comparison, Prompt};
    use engine::human_eval::evaluation::Evaluation;
    use engine::human_eval::rubric::Rubric;
    let mut h = window("runs");
    let mut c = Comparison {
        title: "sample vs tuned".into(),
        targets: vec![Target::base(Path::new("sample_data/model"), "model"), Target::base(Path::new("models/tuned"), "model")],
        ..Default::default()
    };
    let answers = [
        "Ask IT.",
        "Open **Settings > VPN**, choose *Reset password* and confirm the code sent to your phone. The new password works after about five minutes.",
    ];
    c.record(
        &Prompt::question("How do I reset my VPN password?"),
        answers.iter().map(|a| Some(Answer { text: (*a).into(), stats: common::answer_stats(12) })).collect(),
    );
    let dir = root().join("evaluations/vpn");
    let _ = std::fs::remove_dir_all(&dir);
    Evaluation::from_comparison(&c, Rubric::story_a(), 4).unwrap().create(&dir).unwrap();
    let app = h.state_mut();
    app.tab = Tab::Review;
    app.review.refresh();
    app.review.selected = Some(dir);
    app.review.reviewer = "Ana".into();
    app.review.start();
    h.run();
    h.get_by_label_contains("Item 1 of 1");
    assert!(h.query_by_label_contains("tuned").is_none(), "a model name shows before rating");
    snapshot(&mut h, "review");
}

#[test]
fn remote_panel_with_a_profile_and_a_remote_run() {
    use engine::backend::slurm::mirror::RemoteRun;
    use engine::backend::slurm::profile::{Cluster, Profile};
    use engine::backend::slurm::ssh::SshTarget;
    root();
    let profile = Profile {
        name: "hyperpod".into(),
        ssh: SshTarget { host: "hyperpod-login".into(), user: Some("ubuntu".into()), ..Default::default() },
        cluster: Cluster {
            partition: "trn2".into(),
            time_limit: "04:00:00".into(),
            remote_dir: "/fsx/ubuntu/workbench".into(),
            setup: vec!["source /fsx/ubuntu/venv/bin/activate".into()],
            workbench: "/fsx/ubuntu/bin/workbench".into(),
            target: engine::backend::slurm::profile::Target::Cuda,
            tasks_per_node: 8,
            deepspeed: 3,
            ..Default::default()
        },
    };
    std::fs::create_dir_all(root().join("remote-profiles")).unwrap();
    std::fs::write(root().join("remote-profiles/hyperpod.toml"), toml::to_string(&profile).unwrap()).unwrap();
    let runs = root().join("remote-runs");
    let _ = std::fs::remove_dir_all(&runs);
    copy_dir(&repo().join("tests/fixtures/runs/story-a-sample"), &runs.join("story-a-sample"));
    let remote = RemoteRun {
        profile: "hyperpod".into(),
        job_id: "4242".into(),
        job_dir: "/fsx/ubuntu/workbench/story-a-sample".into(),
        run_dir: None,
    };
    remote.write(&runs.join("story-a-sample")).unwrap();
    let mut h = window("remote-runs");
    h.state_mut().tab = Tab::Remote;
    h.run();
    h.get_by_label("Fetch adapter story-a-sample");
    snapshot(&mut h, "remote");
}
