//! The Chat and Compare tabs driven as a person would, through egui_kittest
//! and the accessibility tree: an answer streamed into the Chat tab from a
//! real `workbench serve` engine on 127.0.0.1 (listed, picked, asked,
//! stopped, saved, exported as training data), and a side-by-side
//! comparison of a base model and a run's adapter stepped through a prompt
//! list with the keyboard and saved for human evaluation; and a reviewer
//! rating that comparison blind, by keyboard, in the Review tab.

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
use frames::{pick, wait_until};
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

    // The same two models in a new human evaluation, made in the Review tab: the shipped sample is listed
    // beside it; the answers are generated by a job; a model then judges it.
    h.state_mut().tab = Tab::Review;
    h.run();
    let sample_eval = sample_dir().join("evaluations/smollm2-base-vs-helpdesk");
    assert!(
        h.state().review.evals.iter().any(|e| e.canonicalize().ok() == sample_eval.canonicalize().ok()),
        "{:?}",
        h.state().review.evals
    );
    h.get_by_label("New evaluation").click();
    h.run();
    type_into(&mut h, "Title", "base vs tuned");
    type_into(&mut h, "Prompts", &dir.path().join("validation.jsonl").display().to_string());
    h.get_by_label("sample_data/model (base)").click();
    h.get_by_label(&format!("{run_name} (adapter)")).click();
    h.run();
    h.get_by_label("Generate answers").click();
    h.run();
    assert!(h.state().review.job.is_some(), "{:?}", h.state().review.notice);
    h.get_by_label_contains("answer ");
    wait_until(&mut h, "the evaluation's answers", |app| app.review.job.is_none());
    let made = h.state().review.selected.clone().expect("the new evaluation picked");
    assert_eq!(made, dir.path().join("evaluations/base-vs-tuned"), "{:?}", h.state().review.notice);
    let e = engine::human_eval::evaluation::Evaluation::open(&made).unwrap();
    assert_eq!((e.items.len(), e.models.len(), e.rubric.clone()), (8, 2, engine::human_eval::rubric::Rubric::story_a()));
    assert_eq!(e.items[1].answers[0], saved.items[0].answers[0].as_ref().unwrap().text, "the same greedy answer as in Compare");
    pick(&mut h, "Automatic judge", "sample_data/model (base)");
    h.get_by_label("Judge").click();
    h.run();
    wait_until(&mut h, "the judge", |app| app.review.judge_job.is_none());
    let notice = h.state().review.notice.clone().unwrap().0;
    assert!(notice.contains("judge: sample_data/model (base) rated") && notice.contains("items"), "{notice}");
}

/// Presses `keys` one frame each.
fn press(h: &mut Harness<'static, WorkbenchApp>, keys: &[egui::Key]) {
    for &k in keys {
        h.key_press(k);
        h.run();
    }
}

#[test]
fn a_reviewer_rates_blind_by_keyboard_and_the_results_follow_the_models() {
    use engine::comparisons::Prompt;
    use engine::human_eval::evaluation::Evaluation;
    use engine::human_eval::rubric::Verdict;
    let dir = tempfile::tempdir().unwrap();
    let mut c = Comparison {
        title: "base vs tuned".into(),
        targets: vec![Target::base(Path::new("/m/basemodel"), "model"), Target::base(Path::new("/m/tunedmodel"), "model")],
        ..Default::default()
    };
    for q in ["How do I reset my VPN password?", "Where is the printer?"] {
        c.record(
            &Prompt::question(q),
            vec![
                Some(common::answer(&format!("base says: ask IT about {q}"))),
                Some(common::answer(&format!("tuned says: {q} is handled in the portal"))),
            ],
        );
    }
    let file = dir.path().join("comparisons/base-vs-tuned.json");
    engine::documents::save(&file, &c).unwrap();

    let mut h = harness(dir.path(), Tab::Review);
    h.state_mut().compare.path = Some(file);
    h.run();
    h.get_by_label("New evaluation from the last comparison").click();
    h.run();
    let eval_dir = h.state().review.selected.clone().expect("an evaluation made");
    type_into(&mut h, "Reviewer", "Ana");
    h.get_by_label("Start reviewing").click();
    h.run();
    assert!(
        h.query_by_label_contains("basemodel").is_none() && h.query_by_label_contains("tunedmodel").is_none(),
        "a model name shows before rating"
    );
    h.get_by_label_contains("Item 1 of 2");

    // Item 1: A relevant and accurate, B not relevant but accurate, B better; Enter saves.
    press(&mut h, &[egui::Key::Num1, egui::Key::Num1, egui::Key::Num0, egui::Key::Num1, egui::Key::B, egui::Key::Enter]);
    let ratings = engine::human_eval::ratings::read(&Evaluation::ratings_path(&eval_dir)).unwrap();
    assert_eq!(ratings.all.len(), 1, "{:?}", h.state().review.notice);
    let first = &ratings.all[0];
    assert_eq!((first.scores_a["relevance"], first.scores_b["relevance"], first.verdict), (1, 0, Some(Verdict::B)));
    assert!(
        h.query_by_label_contains("basemodel").is_some() && h.query_by_label_contains("tunedmodel").is_some(),
        "names revealed once rated"
    );
    // Enter again: the next item; rate it with Y / N; then the results.
    press(&mut h, &[egui::Key::Enter]);
    h.get_by_label_contains("Item 2 of 2");
    assert!(h.query_by_label_contains("basemodel").is_none(), "the next item is blind again");
    press(&mut h, &[egui::Key::Y, egui::Key::Y, egui::Key::Y, egui::Key::N, egui::Key::T, egui::Key::Enter]);

    // A second reviewer, Ben, in his own order and sides: he finds the tuned answer relevant and the
    // base one not, both accurate, and prefers the tuned one, wherever it is shown.
    retype(&mut h, "Reviewer", "Ben");
    h.get_by_label("Start reviewing").click();
    h.run();
    h.get_by_label_contains("Item 1 of 2 · 0 rated · you are Ben");
    for _ in 0..2 {
        let shown = h.state().review.review.as_ref().unwrap().shown().unwrap().map(str::to_string);
        use egui::Key::{A, B, Enter, Num0, Num1};
        let (a, b, better) = if shown[0].starts_with("tuned") { (Num1, Num0, A) } else { (Num0, Num1, B) };
        press(&mut h, &[a, Num1, b, Num1, better, Enter, Enter]);
    }
    h.get_by_label("Results").click();
    wait_until(&mut h, "the results job", |app| app.review.results_job.is_none() && app.review.results.is_some());
    let r = h.state().review.results.clone().expect("results");
    let all = engine::human_eval::ratings::read(&Evaluation::ratings_path(&eval_dir)).unwrap();
    assert_eq!(all.all.len(), 4, "two reviewers, two items each");
    // Each model's relevance: the "A" or "B" score of each rating, through that rating's sides.
    let e = Evaluation::open(&eval_dir).unwrap();
    let mut relevant = [0usize; 2];
    for rating in &all.all {
        let item = &e.items[rating.item];
        let (a_model, b_model) = if rating.first_is_a { (item.models[0], item.models[1]) } else { (item.models[1], item.models[0]) };
        relevant[a_model] += usize::from(rating.scores_a["relevance"]);
        relevant[b_model] += usize::from(rating.scores_b["relevance"]);
    }
    for rating in all.all.iter().filter(|r| r.reviewer == "Ben") {
        let (tuned, base) = if rating.first_is_a { (&rating.scores_b, &rating.scores_a) } else { (&rating.scores_a, &rating.scores_b) };
        assert_eq!((tuned["relevance"], base["relevance"]), (1, 0), "Ben's keys followed the tuned answer through its side");
    }
    for (model, &yes) in relevant.iter().enumerate() {
        let got = r.criteria.iter().find(|c| c.model == model && c.criterion == "relevance").unwrap().rate.unwrap();
        assert_eq!((got.rate, got.n), (yes as f64 / 4.0, 4), "model {model}");
        // The results view shows that rate with its interval.
        let text = engine::human_eval::results::describe(Some(got));
        assert!(h.query_all_by_label(&text).next().is_some(), "{text} not shown");
    }
    h.get_by_label_contains("agreement on relevance (2 reviewers)");
    assert_eq!(r.reviewers.iter().map(|v| (v.reviewer.as_str(), v.rated)).collect::<Vec<_>>(), [("Ana", 2), ("Ben", 2)]);
    h.get_by_label_contains("Ben: 2 items");
    h.get_by_label("Export ratings as CSV").click();
    h.run();
    let csv = std::fs::read_to_string(eval_dir.join("ratings.csv")).unwrap();
    assert_eq!(csv.lines().count(), 5, "a header and one row per rating:\n{csv}");
    h.get_by_label("Write report").click();
    h.run();
    let report = std::fs::read_to_string(eval_dir.join("report/report.md")).unwrap();
    assert!(report.contains("4 ratings by 2 reviewer(s)") && report.contains("![Rates with 95% intervals](rates.png)"), "{report}");
    let png = image::open(eval_dir.join("report/rates.png")).unwrap();
    assert_eq!((png.width(), png.height()), (900, 420));
}
