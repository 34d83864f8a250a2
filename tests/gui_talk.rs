//! The Chat and Compare tabs driven as a person would, through egui_kittest
//! and the accessibility tree: an answer streamed into the Chat tab from a
//! real `workbench serve` engine on 127.0.0.1 (listed, picked, asked,
//! stopped, saved, exported as training data), and a side-by-side
//! comparison of a base model and a run's adapter stepped through a prompt
//! list with the keyboard and saved for human evaluation.

mod common;
#[path = "common/frames.rs"]
mod frames;

use std::path::Path;
use std::sync::Arc;

use common::{sample_dir, tiny_setup};
use eframe::egui;
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use engine::comparisons::Comparison;
use engine::conversations::Conversation;
use engine::data::conversation::Role;
use engine::generate::FinishReason;
use engine::generate::target::{AnswerSettings, Question, Target};
use engine::jobs::CancelFlag;
use engine::serve::{ServeOptions, ServedModel};
use frames::wait_until;
use workbench::gui::{Tab, WorkbenchApp, Workspace};

fn harness(dir: &Path, tab: Tab) -> Harness<'static, WorkbenchApp> {
    let mut app = WorkbenchApp::new(Workspace::new(dir.join("runs"), sample_dir()));
    app.tab = tab;
    Harness::builder().with_size([1500.0, 1000.0]).build_ui_state(|ui, app: &mut WorkbenchApp| app.ui(ui), app)
}

/// Types `text` into the field labelled `label`.
fn type_into(h: &mut Harness<'static, WorkbenchApp>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.run();
    h.get_by_label(label).type_text(text);
    h.run();
}

/// Replaces the text of the field labelled `label` as typing would.
fn retype(h: &mut Harness<'static, WorkbenchApp>, label: &str, text: &str) {
    h.get_by_label(label).focus();
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::A);
    h.run();
    type_into(h, label, text);
}

/// Picks `option` in the combo box labelled `label`.
fn pick(h: &mut Harness<'static, WorkbenchApp>, label: &str, option: &str) {
    h.get_by_label(label).click();
    h.run();
    h.get_by_label(option).click();
    h.run();
}

#[test]
fn chat_streams_an_answer_from_a_real_server_stops_saves_and_exports() {
    let dir = tempfile::tempdir().unwrap();
    let loaded = Arc::new(engine::generate::Loaded::load(&sample_dir().join("model"), None, "model").unwrap());
    let models = vec![ServedModel { name: "sample".into(), loaded, parent: None }];
    let server = engine::serve::start(ServeOptions { host: "127.0.0.1".into(), port: 0, api_key: Some("s3cret".into()), models }).unwrap();
    let url = format!("http://{}", server.addr);

    let mut h = harness(dir.path(), Tab::Chat);
    h.run();
    h.get_by_label("OpenAI-compatible endpoint (vLLM, workbench serve)").click();
    h.run();
    retype(&mut h, "Endpoint URL", &url);
    retype(&mut h, "API key", "s3cret");
    h.get_by_label("List models").click();
    wait_until(&mut h, "the endpoint's models", |app| !app.endpoint.models.is_empty() || app.endpoint.error.is_some());
    assert_eq!(h.state().endpoint.error, None);
    let label = format!("sample @ {url}");
    pick(&mut h, "Model", &label);
    assert!(matches!(&h.state().chat.conversation.target, Some(Target::Remote { model, .. }) if model == "sample"));

    // A whole answer, streamed in: text shows before the answer is done.
    type_into(&mut h, "Message", "How many vacation days do I get?");
    h.get_by_label("Send").click();
    let mut partial = false;
    wait_until(&mut h, "the answer", |app| {
        partial |= app.chat.pending.as_ref().is_some_and(|p| !p.is_empty()) && app.chat.conversation.turns.len() == 1;
        app.chat.conversation.turns.len() == 2 && !app.chat.answering()
    });
    let turns = &h.state().chat.conversation.turns;
    let stats = turns[1].stats.clone().unwrap();
    assert_eq!((turns[1].role, stats.finish_reason), (Role::Assistant, FinishReason::Stop));
    // The same answer the server gives any client.
    let endpoint = engine::remote::Endpoint::new(&url, "s3cret");
    let direct = Question {
        target: Target::Remote { endpoint, model: "sample".into() },
        messages: h.state().chat.conversation.messages()[..1].to_vec(),
        settings: AnswerSettings::default(),
    }
    .ask(&engine::generate::models::Models::new(), &CancelFlag::new(), |_| {})
    .unwrap();
    assert_eq!(turns[1].content, direct.text);
    assert!(stats.completion_tokens > 3 && stats.tokens_per_s > 0.0, "{stats:?}");
    h.get_by_label_contains(&format!("· {} tokens ·", stats.completion_tokens));
    h.get_by_label_contains("tokens/s");

    // Saved after the answer, and listed for reloading.
    let saved = h.state().chat.path.clone().expect("saved");
    assert!(saved.starts_with(dir.path().join("chats")));
    let on_disk: Conversation = engine::documents::load(&saved).unwrap();
    assert_eq!(on_disk.turns, h.state().chat.conversation.turns);
    assert_eq!(on_disk.title, "How many vacation days do I get?");

    // A long answer, stopped: the text so far stays, marked stopped.
    h.get_by_label("System prompt and generation settings").click();
    h.run();
    h.get_by_label("Max new tokens").set_value_accesskit(300.0);
    h.get_by_label("Ignore end of turn").click();
    h.run();
    type_into(&mut h, "Message", "Tell me everything about expenses.");
    h.get_by_label("Send").click();
    wait_until(&mut h, "streamed text", |app| app.chat.pending.as_ref().is_some_and(|p| !p.is_empty()) || !app.chat.answering());
    assert!(partial || h.state().chat.answering(), "no text was ever shown before its answer was done");
    h.get_by_label("Stop").click();
    wait_until(&mut h, "the stopped answer", |app| !app.chat.answering());
    let last = h.state().chat.conversation.turns.last().unwrap().clone();
    let stats = last.stats.unwrap();
    assert_eq!(stats.finish_reason, FinishReason::Cancelled);
    assert!(stats.completion_tokens < 300 && !last.content.is_empty(), "{stats:?}");
    h.get_by_label_contains("stopped");

    // Exported as a training line, readable as training data.
    let export = dir.path().join("more-data.jsonl");
    retype(&mut h, "Export to", &export.display().to_string());
    h.get_by_label("Export as training data").click();
    h.step();
    let records = engine::data::conversation::read_jsonl(&export, false).unwrap().records;
    assert_eq!(records.len(), 1);

    // A new chat, then the saved one reloaded from the list.
    h.get_by_label("New chat").click();
    h.step();
    assert!(h.state().chat.conversation.turns.is_empty());
    h.get_by_label("How many vacation days do I get?").click();
    h.step();
    assert_eq!(h.state().chat.conversation.turns.len(), 4);
    server.stop();
}

#[test]
fn compare_base_and_adapter_side_by_side_through_a_prompt_list() {
    let dir = tempfile::tempdir().unwrap();
    // The shipped sample model fine-tuned a few steps, so both columns write text.
    let config = tiny_setup(dir.path(), "epochs = 1\neval_every = 4");
    let sample = sample_dir().join("model").canonicalize().unwrap();
    let text = std::fs::read_to_string(&config).unwrap().replace("path = \"model\"", &format!("path = {:?}", sample.display().to_string()));
    std::fs::write(&config, text).unwrap();
    let cfg = engine::config::TrainConfig::load(&config).unwrap();
    let run = engine::train::train(&cfg, &mut engine::train::events::Unattended).unwrap().run_dir;
    let mut h = harness(dir.path(), Tab::Compare);
    h.run();
    let run_name = run.file_name().unwrap().to_string_lossy().into_owned();
    pick(&mut h, "Column 1", "sample_data/model (base)");
    pick(&mut h, "Column 2", &format!("{run_name} (adapter)"));

    retype(&mut h, "Prompt list", &dir.path().join("validation.jsonl").display().to_string());
    h.get_by_label("Load prompts").click();
    h.run();
    assert_eq!(h.state().compare.prompts.len(), 8);
    h.get_by_label("prompt 1 of 8");
    h.key_press(egui::Key::N);
    h.run();
    h.get_by_label("prompt 2 of 8");
    let second = h.state().compare.prompts[1].clone();
    assert_eq!(h.state().compare.question, second.question_text());

    h.get_by_label("Ask all models").click();
    wait_until(&mut h, "both answers", |app| !app.compare.answering());
    for col in &h.state().compare.columns {
        assert_eq!((&col.error, col.answer.is_some()), (&None, true), "{:?}", h.state().compare.notice);
    }
    // Each column answered by its own model: the engine asked directly agrees.
    let models = engine::generate::models::Models::new();
    for col in &h.state().compare.columns {
        let target = col.target.clone().unwrap();
        let messages = h.state().compare.comparison.messages_for(&second);
        let direct = Question { target, messages, settings: AnswerSettings::default() }.ask(&models, &CancelFlag::new(), |_| {}).unwrap();
        assert_eq!(col.answer.as_ref().unwrap().text, direct.text);
        assert_eq!(col.text, direct.text);
    }
    assert_eq!(h.get_all_by_label_contains("tokens/s").count(), 2, "speed under each column");
    let texts: Vec<&str> = h.state().compare.columns.iter().map(|c| c.text.as_str()).collect();
    assert_ne!(texts[0], texts[1], "the fine-tune answers like its base");

    // Saved with targets and settings, for a later human evaluation.
    let path = h.state().compare.path.clone().expect("saved");
    assert!(path.starts_with(dir.path().join("comparisons")));
    let saved: Comparison = engine::documents::load(&path).unwrap();
    assert_eq!(saved.targets.len(), 2);
    assert_eq!(saved.items.len(), 1);
    assert_eq!(saved.items[0].prompt, second);
    assert!(saved.items[0].answers.iter().all(Option::is_some));

    // Next prompt with the keyboard, asked with Enter; back shows the recorded answers.
    h.key_press(egui::Key::ArrowDown);
    h.run();
    h.get_by_label("prompt 3 of 8");
    assert!(h.state().compare.columns.iter().all(|c| c.answer.is_none()));
    h.key_press(egui::Key::Enter);
    h.step();
    assert!(h.state().compare.answering(), "Enter asked");
    wait_until(&mut h, "the third prompt's answers", |app| !app.compare.answering());
    let saved: Comparison = engine::documents::load(&path).unwrap();
    assert_eq!(saved.items.len(), 2);
    h.key_press(egui::Key::P);
    h.run();
    assert_eq!(h.state().compare.columns[0].answer, saved.items[0].answers[0]);
}
