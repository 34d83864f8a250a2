//! The real `workbench` binary in a real window under Xvfb, clicked through
//! with xdotool by `scripts/window_tour.sh`: Launch is clicked, training
//! metrics and a validation point reach the run directory, each tab is
//! clicked and photographed during the run (the Evaluate tab evaluates the
//! running run's adapter), and Esc cancels the run.
//!
//! Needs the packages `.ci/run` installs: xvfb, xdotool, imagemagick and Mesa.

mod common;

use std::path::Path;
use std::process::Command;

use engine::runs::{RunDir, RunState};

/// Fraction of pixels that differ between two screenshots of the same size.
fn difference(a: &Path, b: &Path) -> f64 {
    let (a, b) = (image::open(a).unwrap().to_rgb8(), image::open(b).unwrap().to_rgb8());
    assert_eq!(a.dimensions(), b.dimensions());
    let differing = a.pixels().zip(b.pixels()).filter(|(p, q)| p != q).count();
    differing as f64 / (a.width() * a.height()) as f64
}

/// Distinct colours in a screenshot (a blank or black window has one or two).
fn colours(png: &Path) -> usize {
    let img = image::open(png).unwrap().to_rgb8();
    img.pixels().map(|p| p.0).collect::<std::collections::HashSet<_>>().len()
}

#[test]
fn clicking_through_the_real_window_launches_watches_and_cancels_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::tiny_setup(dir.path(), "epochs = 1000\neval_every = 4");
    let (out, runs) = (dir.path().join("shots"), dir.path().join("runs"));
    let tour = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/window_tour.sh");
    let result = Command::new("bash")
        .arg(&tour)
        .args([&out, &config, &runs])
        .arg(env!("CARGO_BIN_EXE_workbench"))
        .env("VAL_POINTS", "2")
        .env("TIMEOUT", "180")
        .output()
        .unwrap();
    let log = format!("{}{}", String::from_utf8_lossy(&result.stdout), String::from_utf8_lossy(&result.stderr));
    let window_log = std::fs::read_to_string(out.join("window.log")).unwrap_or_default();
    assert!(result.status.success(), "the tour failed:\n{log}\nwindow log:\n{window_log}");

    // The click on Launch started a run, which trained, evaluated, and was cancelled by Esc.
    let listed = engine::runs::run_dir::list(&runs);
    assert_eq!(listed.len(), 1, "{log}");
    let run = RunDir { path: listed[0].path.clone() };
    assert_eq!(run.status().unwrap().state, RunState::Cancelled);
    let metrics = std::fs::read_to_string(run.path.join("metrics.jsonl")).unwrap();
    assert!(metrics.lines().filter(|l| l.contains("\"val_loss\"")).count() >= 2);
    // The Evaluate click computed base vs adapter perplexity while the run trained, kept with the run.
    let saved = engine::eval::saved::load(&run.path).unwrap();
    assert_eq!(saved.len(), 1, "{log}");
    assert!(saved[0].base.perplexity.is_finite() && saved[0].adapter.perplexity.is_finite());

    // Each tab was drawn (not blank), and each click changed what the window shows.
    let shot = |name: &str| out.join(format!("{name}.png"));
    for name in ["before-launch", "monitor", "data", "evaluate", "configure", "cancelled"] {
        assert!(colours(&shot(name)) > 50, "{name}.png looks blank");
    }
    for (a, b) in [("configure", "monitor"), ("monitor", "data"), ("data", "evaluate"), ("evaluate", "configure")] {
        let d = difference(&shot(a), &shot(b));
        assert!(d > 0.05, "{a}.png and {b}.png differ in only {:.1}% of pixels: the tab click did not switch", d * 100.0);
    }
}
