//! `workbench bench gui-frame`: the time of one egui frame of the Monitor tab
//! (UI code plus tessellation, no GPU) with many overlaid runs of many points
//! while a run trains on the engine thread. Prints one JSON line with the
//! median and 99th percentile.

use std::fmt::Write as _;
use std::time::Instant;

use anyhow::Result;
use eframe::egui;
use engine::config::TrainConfig;
use engine::runs::RunDir;

use crate::gui::{Tab, WorkbenchApp, Workspace};

/// Writes `runs` synthetic run directories of `points` records each, opens
/// the window's state on them, starts a training, and times `frames` frames.
pub fn gui_frame(runs: usize, points: usize, frames: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let sample = super::sample_dir();
    let mut cfg = TrainConfig::load(&sample.join("configs/quick-smoke.toml"))?;
    cfg.run.runs_dir = dir.path().join("runs");
    for r in 0..runs {
        cfg.run.name = format!("synthetic-{r:02}");
        let run = RunDir::create(&cfg, points)?;
        let mut text = String::with_capacity(points * 160);
        for step in 1..=points {
            let x = step as f64;
            let loss = 3.0 * (-x / 20_000.0).exp() + 0.5 + 0.1 * ((x * 0.37 + r as f64).sin());
            write!(
                text,
                r#"{{"step":{step},"epoch":{},"loss":{loss},"lr":{},"grad_norm":{},"tokens_per_s":{},"elapsed_s":{}"#,
                x / 10_000.0,
                2e-4,
                1.0 + (x * 0.11).cos().abs(),
                1500.0 + (x * 0.01).sin() * 100.0,
                x * 0.5
            )?;
            if step % 500 == 0 {
                write!(text, r#","val_loss":{},"val_ppl":{}"#, loss + 0.1, (loss + 0.1).exp())?;
            }
            text.push_str("}\n");
        }
        engine::atomic::write(&run.metrics_path(), text.as_bytes())?;
    }
    let mut app = WorkbenchApp::new(Workspace::new(dir.path().join("runs"), sample.clone()));
    app.runs.refresh();
    app.runs.selected = app.runs.entries.iter().map(|e| e.path.clone()).collect();
    // A real run trains on the engine thread during the measurement.
    app.editor.load(&sample.join("configs/quick-smoke.toml")).map_err(anyhow::Error::msg)?;
    app.editor.config.training.max_steps = Some(1_000_000);
    app.editor.config.run.runs_dir = dir.path().join("training");
    app.launch();
    app.tab = Tab::Monitor;
    let ctx = egui::Context::default();
    let input = || egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1600.0, 1000.0))),
        ..Default::default()
    };
    // Draw until the training run has started (its directory exists).
    let started = Instant::now();
    while app.live.run_dir.is_none() && app.live.active && started.elapsed().as_secs() < 60 {
        let mut out = ctx.run_ui(input(), |ui| app.ui(ui));
        out.textures_delta.clear();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames + 5 {
        let t0 = Instant::now();
        let mut out = ctx.run_ui(input(), |ui| app.ui(ui));
        let _meshes = ctx.tessellate(out.shapes, out.pixels_per_point);
        out.textures_delta.clear(); // no GPU to upload font textures to
        if i >= 5 {
            times.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let trained_meanwhile = app.live.active && app.live.run_dir.is_some();
    app.cancel();
    times.sort_by(f64::total_cmp);
    let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "{}",
        serde_json::json!({
            "bench": "gui_monitor_frame",
            "runs": runs,
            "points_per_run": points,
            "frames": frames,
            "median_ms": at(0.5),
            "p99_ms": at(0.99),
            "max_ms": at(1.0),
            "training_during_measurement": trained_meanwhile,
        })
    );
    Ok(())
}
