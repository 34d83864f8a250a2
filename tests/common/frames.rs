//! Stepping the window's frames in kittest tests while the engine works in
//! the background (for the tests that need the `gui` feature).
#![allow(dead_code)]

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

/// Steps frames until a widget whose label contains `text` shows (what a
/// panel reads on a worker thread comes a few frames later); panics after two minutes.
pub fn wait_for_label(h: &mut Harness<'static, WorkbenchApp>, text: &str) {
    use egui_kittest::kittest::Queryable;
    let start = Instant::now();
    while h.query_by_label_contains(text).is_none() {
        assert!(start.elapsed() < Duration::from_secs(120), "timed out waiting for a label containing {text:?}");
        std::thread::sleep(Duration::from_millis(20));
        h.step();
    }
}

/// Picks `option` in the combo box labelled `label`.
pub fn pick(h: &mut Harness<'static, WorkbenchApp>, label: &str, option: &str) {
    use egui_kittest::kittest::Queryable;
    h.get_by_label(label).click();
    h.run();
    h.get_by_label(option).click();
    h.run();
}
