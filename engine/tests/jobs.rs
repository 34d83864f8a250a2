//! The engine's job system as the GUI and CLI use it: start a run, watch its
//! events, pause, unpause, cancel; evaluate, analyse data and generate while it trains;
//! cancel an evaluation; a second training job is refused.

mod common;

use std::time::{Duration, Instant};

use engine::data::report::DataRequest;
use engine::eval::EvalRequest;
use engine::jobs::{Engine, EngineEvent, Job, JobEvent, JobId};
use engine::runs::{RunDir, RunState};
use engine::train::Event;

fn next(engine: &Engine) -> EngineEvent {
    engine.events().recv_timeout(Duration::from_secs(120)).expect("engine event")
}

/// Waits for an event of `job` that `f` accepts, returning what `f` made of it.
fn wait_for<T>(engine: &Engine, job: JobId, mut f: impl FnMut(&JobEvent) -> Option<T>) -> T {
    loop {
        let ev = next(engine);
        if ev.job == job
            && let Some(v) = f(&ev.event)
        {
            return v;
        }
    }
}

#[test]
fn pause_unpause_cancel_and_evaluate_while_training() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 8);
    let mut cfg = common::tiny_config(dir.path(), &model);
    cfg.training.epochs = 50;
    let engine = Engine::new();
    let train = engine.start(Job::Train(Box::new(cfg.clone()))).unwrap();

    let run_dir = wait_for(&engine, train, |e| match e {
        JobEvent::Train(Event::Started { run_dir, first_step, .. }) => {
            assert_eq!(*first_step, 1);
            Some(run_dir.clone())
        }
        _ => None,
    });
    // Let the first evaluation (step 3) save an adapter.
    wait_for(&engine, train, |e| matches!(e, JobEvent::Train(Event::Progress { step: 4, .. })).then_some(()));
    assert_eq!(engine.job_for_run(&run_dir), Some(train));
    // A second run while one trains is refused, not queued.
    let refused = engine.start(Job::Train(Box::new(cfg.clone()))).unwrap_err();
    assert!(refused.contains("is training"), "{refused}");

    // Evaluation and data analysis run as jobs of their own beside the training.
    // One example per forward pass over the 48 training conversations: longer than a training step.
    let mut eval = EvalRequest::for_runs(std::slice::from_ref(&run_dir), Some(cfg.data.train_file.clone())).unwrap();
    eval.batch_size = 1;
    let eval_job = engine.start(Job::Evaluate(Box::new(eval))).unwrap();
    let data_job = engine.start(Job::AnalyzeData(Box::new(DataRequest::for_config(&cfg, cfg.data.train_file.clone())))).unwrap();
    assert_ne!(eval_job, data_job);
    // So does generation, with the run's adapter (applied unmerged).
    let loaded = std::sync::Arc::new(engine::generate::Loaded::load(&model, Some(&run_dir.join("adapter")), "model").unwrap());
    let user = engine::data::conversation::Message { role: engine::data::conversation::Role::User, content: "How many PTO days?".into() };
    let request = loaded.chat_request(&[user], 8, Default::default(), Vec::new()).unwrap();
    let gen_job = engine.start(Job::Generate(loaded, Box::new(request))).unwrap();
    let (mut rows, mut report, mut generated, mut streamed, mut steps_meanwhile) = (None, None, None, String::new(), 0);
    while rows.is_none() || report.is_none() || generated.is_none() {
        let ev = next(&engine);
        match ev.event {
            JobEvent::Evaluated(r) if ev.job == eval_job => rows = Some(r),
            JobEvent::Analyzed(r) if ev.job == data_job => report = Some(r),
            JobEvent::Text(t) if ev.job == gen_job => streamed.push_str(&t),
            JobEvent::Generated(g) if ev.job == gen_job => generated = Some(g),
            JobEvent::Train(Event::Progress { .. }) if ev.job == train => steps_meanwhile += 1,
            JobEvent::Failed(e) => panic!("{} failed: {e}", ev.job),
            _ => {}
        }
    }
    let rows = rows.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].name, "base");
    assert!(rows.iter().all(|r| r.perplexity.is_finite() && r.tokens > 0));
    assert_eq!(report.unwrap().records, 48);
    let generated = generated.unwrap();
    assert!(!generated.tokens.is_empty() && generated.stats.prompt_tokens > 0);
    assert_eq!(streamed, generated.text, "the streamed pieces make the answer");
    assert!(steps_meanwhile > 0, "the run kept training while the other jobs ran");
    assert_eq!(engine::eval::saved::load(&run_dir).unwrap().len(), 1, "the table is kept with the run");

    // Paused: the step count stays put over several step durations, then moves again.
    let mut step_times = Vec::new();
    let mut t = Instant::now();
    for _ in 0..3 {
        wait_for(&engine, train, |e| matches!(e, JobEvent::Train(Event::Progress { .. })).then_some(()));
        step_times.push(t.elapsed());
        t = Instant::now();
    }
    engine.pause(train);
    wait_for(&engine, train, |e| matches!(e, JobEvent::Train(Event::Paused(true))).then_some(()));
    let last_step = RunDir::open(&run_dir).unwrap().status().unwrap().step;
    let step_time = step_times.into_iter().max().unwrap().max(Duration::from_millis(100));
    std::thread::sleep(step_time * 5);
    assert_eq!(RunDir::open(&run_dir).unwrap().status().unwrap().step, last_step, "a step ran while paused");
    while let Ok(ev) = engine.events().try_recv() {
        assert!(!matches!(ev.event, JobEvent::Train(Event::Progress { .. })), "progress while paused: {ev:?}");
    }
    engine.unpause(train);
    wait_for(&engine, train, |e| matches!(e, JobEvent::Train(Event::Paused(false))).then_some(()));
    let moved = wait_for(&engine, train, |e| match e {
        JobEvent::Train(Event::Progress { step, .. }) => Some(*step),
        _ => None,
    });
    assert_eq!(moved, last_step + 1, "training goes on after unpausing");

    engine.cancel(train);
    let state = wait_for(&engine, train, |e| match e {
        JobEvent::Train(Event::Finished { state, .. }) => Some(*state),
        _ => None,
    });
    assert_eq!(state, RunState::Cancelled);
    wait_for(&engine, train, |e| matches!(e, JobEvent::Ended).then_some(()));
    assert!(engine.jobs().is_empty());
    let run = RunDir::open(&run_dir).unwrap();
    let status = run.status().unwrap();
    assert_eq!(status.state, RunState::Cancelled);
    assert!(status.step < status.total_steps);
    assert_eq!(run.checkpoints().last().unwrap().0, status.step, "cancel leaves a checkpoint at the last step");
}

#[test]
fn an_evaluation_can_be_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 3);
    let data = common::data_slice(dir.path(), "validation", 64);
    let mut req = EvalRequest::new(model, data);
    req.batch_size = 1;
    let engine = Engine::new();
    let job = engine.start(Job::Evaluate(Box::new(req))).unwrap();
    engine.cancel(job);
    let end = wait_for(&engine, job, |e| match e {
        JobEvent::Cancelled | JobEvent::Evaluated(_) | JobEvent::Failed(_) => Some(format!("{e:?}")),
        _ => None,
    });
    assert_eq!(end, "Cancelled");
    wait_for(&engine, job, |e| matches!(e, JobEvent::Ended).then_some(()));
}

/// A plan for two tiny models (different seeds) answering three held-out prompts.
fn evaluation_plan(dir: &std::path::Path) -> engine::human_eval::plan::Plan {
    use engine::generate::target::{AnswerSettings, Target};
    let models: Vec<Target> = [5, 6]
        .iter()
        .map(|&seed| {
            let sub = dir.join(format!("m{seed}"));
            std::fs::create_dir_all(&sub).unwrap();
            Target::base(&common::tiny_model(&sub, seed), "mistral")
        })
        .collect();
    let prompts = engine::comparisons::prompts_from_file(&common::data_slice(dir, "validation", 3)).unwrap();
    engine::human_eval::plan::Plan {
        title: "tiny".into(),
        prompts,
        models,
        system: String::new(),
        settings: AnswerSettings { max_new_tokens: 6, ..Default::default() },
        rubric: engine::human_eval::rubric::Rubric::story_a(),
        seed: 2,
        out: dir.join("evaluations/tiny"),
    }
}

#[test]
fn an_evaluation_is_generated_as_a_job_with_progress_and_its_answers_are_frozen() {
    use engine::generate::target::Question;
    use engine::human_eval::evaluation::Evaluation;
    let dir = tempfile::tempdir().unwrap();
    let plan = evaluation_plan(dir.path());
    let engine = Engine::new();
    let job = engine.start(Job::CreateEvaluation(Box::new(plan.clone()))).unwrap();
    let mut progress = Vec::new();
    let made = wait_for(&engine, job, |e| match e {
        JobEvent::Progress { done, total } => {
            progress.push((*done, *total));
            None
        }
        JobEvent::EvaluationCreated(dir) => Some(Ok(dir.clone())),
        JobEvent::Failed(e) => Some(Err(e.clone())),
        _ => None,
    })
    .unwrap();
    assert_eq!(made, plan.out);
    assert_eq!(progress, (0..=6).map(|d| (d, 6)).collect::<Vec<_>>(), "one step per answer");
    let eval = Evaluation::open(&made).unwrap();
    assert_eq!((eval.items.len(), eval.models.len(), eval.seed), (3, 2, 2));
    // Each frozen answer is what that model says to that prompt (greedy).
    let models = engine::generate::models::Models::new();
    for item in &eval.items {
        for k in 0..2 {
            let q = Question {
                target: plan.models[item.models[k]].clone(),
                messages: item.prompt.messages.clone(),
                settings: plan.settings.clone(),
            };
            let a = q.ask(&models, &engine::jobs::CancelFlag::new(), |_| {}).unwrap();
            assert_eq!(item.answers[k], a.text);
        }
    }
    assert_ne!(eval.items[0].answers[0], eval.items[0].answers[1], "two different models");
    // A judge rates every item (the sample model writes no JSON: each reply is reported unreadable, not guessed;
    // a tiny model's context is too short for the prompt: said per item).
    let sample = engine::generate::target::Target::base(&common::sample_dir().join("model"), "mistral");
    let req = engine::human_eval::judge::JudgeRequest { dir: made.clone(), judge: sample, settings: plan.settings.clone() };
    let job = engine.start(Job::Judge(Box::new(req))).unwrap();
    let mut steps = 0;
    let judged = wait_for(&engine, job, |e| match e {
        JobEvent::Progress { .. } => {
            steps += 1;
            None
        }
        JobEvent::Judged(j) => Some(Ok(j.clone())),
        JobEvent::Failed(e) => Some(Err(e.clone())),
        _ => None,
    })
    .unwrap();
    assert_eq!((steps, judged.rated + judged.unreadable.len()), (4, 3));
    assert!(judged.unreadable.iter().all(|u| u.contains("the reply began")), "{:?}", judged.unreadable);
    let lines = std::fs::read_to_string(engine::human_eval::judge::judge_path(&made)).unwrap_or_default();
    assert_eq!(lines.lines().count(), judged.rated);
    let tiny =
        engine::human_eval::judge::JudgeRequest { dir: made.clone(), judge: plan.models[0].clone(), settings: plan.settings.clone() };
    let job = engine.start(Job::Judge(Box::new(tiny))).unwrap();
    let judged = wait_for(&engine, job, |e| if let JobEvent::Judged(j) = e { Some(j.clone()) } else { None });
    assert_eq!(judged.unreadable.len(), 3);
    assert!(
        judged.unreadable[0].starts_with("item 1: the judge could not answer:") && judged.unreadable[0].contains("context"),
        "{:?}",
        judged.unreadable
    );
    // Its results come from a job too (two models, two criteria, no person has rated yet); a missing folder is named.
    let job = engine.start(Job::Results(made.clone())).unwrap();
    let (dir, results) = wait_for(&engine, job, |e| if let JobEvent::Results(d, r) = e { Some((d.clone(), r.clone())) } else { None });
    assert_eq!((dir, results.criteria.len(), results.reviewers.len()), (made.clone(), 4, 0), "{results:?}");
    let missing = engine.start(Job::Results(made.join("nowhere"))).unwrap();
    let e = wait_for(&engine, missing, |e| if let JobEvent::Failed(e) = e { Some(e.clone()) } else { None });
    assert!(e.contains("nowhere"), "{e}");
    // The same folder again is refused before anything is generated.
    let again = engine.start(Job::CreateEvaluation(Box::new(plan))).unwrap();
    let e = wait_for(&engine, again, |e| if let JobEvent::Failed(e) = e { Some(e.clone()) } else { None });
    assert!(e.contains("already exists"), "{e}");
}

#[test]
fn a_cancelled_evaluation_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut plan = evaluation_plan(dir.path());
    plan.settings.max_new_tokens = 200;
    plan.settings.ignore_eos = true;
    let out = plan.out.clone();
    let engine = Engine::new();
    let job = engine.start(Job::CreateEvaluation(Box::new(plan))).unwrap();
    wait_for(&engine, job, |e| matches!(e, JobEvent::Progress { done: 0, .. }).then_some(()));
    engine.cancel(job);
    let end = wait_for(&engine, job, |e| match e {
        JobEvent::Cancelled | JobEvent::EvaluationCreated(_) | JobEvent::Failed(_) => Some(format!("{e:?}")),
        _ => None,
    });
    assert_eq!(end, "Cancelled");
    assert!(!out.exists(), "no half-made evaluation folder");
}
