//! Stepping the window's frames in kittest tests while the engine works in
//! the background (for the tests that need the `gui` feature).

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use workbench::gui::WorkbenchApp;

/// Steps frames until `done` holds; fails after two minutes naming `what`.
pub fn wait_until(h: &mut Harness<'static, WorkbenchApp>, what: &str, mut done: impl FnMut(&mut WorkbenchApp) -> bool) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state_mut()) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
