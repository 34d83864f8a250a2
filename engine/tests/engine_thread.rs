//! The engine thread as the GUI and CLI use it: start a run over the command
//! channel, watch events, pause, continue, cancel; evaluate afterwards.

mod common;

use std::time::Duration;

use engine::engine_thread::{Command, EngineEvent, EngineHandle};
use engine::eval::EvalRequest;
use engine::runs::{RunDir, RunState};
use engine::train::Event;

fn next(engine: &EngineHandle) -> EngineEvent {
    engine.events.recv_timeout(Duration::from_secs(120)).expect("engine event")
}

#[test]
fn commands_pause_continue_cancel_and_evaluate() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 8);
    let mut cfg = common::tiny_config(dir.path(), &model);
    cfg.training.epochs = 50;
    let engine = EngineHandle::spawn();
    engine.send(Command::Train(Box::new(cfg.clone())));

    let run_dir = loop {
        if let EngineEvent::Train(Event::Started { run_dir, first_step, .. }) = next(&engine) {
            assert_eq!(first_step, 1);
            break run_dir;
        }
    };
    // Let the first evaluation (step 3) save an adapter.
    while !matches!(next(&engine), EngineEvent::Train(Event::Progress { step: 4, .. })) {}
    // A second run while one trains is rejected, not queued.
    engine.send(Command::Train(Box::new(cfg.clone())));
    engine.send(Command::Pause);
    let (mut rejected, mut paused_at) = (false, None);
    let mut last_step = 0;
    while paused_at.is_none() {
        match next(&engine) {
            EngineEvent::Rejected(_) => rejected = true,
            EngineEvent::Train(Event::Progress { step, .. }) => last_step = step,
            EngineEvent::Train(Event::Paused(true)) => paused_at = Some(last_step),
            _ => {}
        }
    }
    assert!(rejected);
    // Paused: no progress arrives.
    assert!(engine.events.recv_timeout(Duration::from_millis(300)).is_err());
    engine.send(Command::Continue);
    assert_eq!(next(&engine), EngineEvent::Train(Event::Paused(false)));
    engine.send(Command::Cancel);
    let state = loop {
        if let EngineEvent::Train(Event::Finished { state, .. }) = next(&engine) {
            break state;
        }
    };
    assert_eq!(state, RunState::Cancelled);
    let run = RunDir::open(&run_dir).unwrap();
    let status = run.status().unwrap();
    assert_eq!(status.state, RunState::Cancelled);
    assert!(status.step < status.total_steps);
    assert_eq!(run.checkpoints().last().unwrap().0, status.step, "cancel leaves a checkpoint at the last step");

    engine.send(Command::Evaluate(Box::new(EvalRequest {
        model_dir: model.clone(),
        adapters: vec![run.adapter_dir()],
        data_file: cfg.data.validation_file.clone().unwrap(),
        max_seq_len: 64,
        batch_size: 4,
        device: "cpu".into(),
    })));
    let rows = loop {
        if let EngineEvent::EvalDone(r) = next(&engine) {
            break r.unwrap();
        }
    };
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].name, "base");
    assert!(rows.iter().all(|r| r.perplexity.is_finite() && r.tokens > 0));
}
