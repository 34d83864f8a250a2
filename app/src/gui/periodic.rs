//! Reads that run on a worker thread now and then, their results taken up
//! on a later frame: the panels that follow files on disk (the runs list, the
//! Monitor's metrics, a remote job's output) keep drawing what they last read
//! while the next read runs, so a slow disk never stalls a frame.

use std::time::{Duration, Instant};

use super::pending::{self, LOOK_AGAIN, Pending};

/// A read started at most every `every`, one at a time.
pub struct Periodic<T> {
    every: Duration,
    reading: Option<Pending<T>>,
    started: Option<Instant>,
}

impl<T: Send + 'static> Periodic<T> {
    /// Nothing read yet; the first read is due at once.
    pub fn new(every: Duration) -> Self {
        Self { every, reading: None, started: None }
    }

    /// The result of the read that finished since the last call, if one did.
    pub fn finished(&mut self) -> Option<T> {
        pending::take(&mut self.reading)
    }

    /// Starts the read `make` builds on a worker thread, if none is under way
    /// and the last one started `every` ago (or none did); `make` runs only
    /// then. Returns when the caller should look again (for
    /// `request_repaint_after`).
    pub fn start_when_due<F: FnOnce() -> T + Send + 'static>(&mut self, make: impl FnOnce() -> F) -> Duration {
        if self.reading.is_some() {
            return LOOK_AGAIN;
        }
        let since = self.started.map(|t| t.elapsed());
        if let Some(since) = since.filter(|s| *s < self.every) {
            return self.every - since;
        }
        self.reading = Some(Pending::spawn(make()));
        self.started = Some(Instant::now());
        LOOK_AGAIN
    }

    /// Drops a read under way (the caller has just read for itself, and that
    /// read's result would be older) and counts the next one from now.
    pub fn restart(&mut self) {
        self.reading = None;
        self.started = Some(Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_run_one_at_a_time_when_due_and_are_taken_up_once() {
        let mut p = Periodic::new(Duration::from_secs(3600));
        assert_eq!(p.finished(), None);
        let mut built = 0;
        p.start_when_due(|| {
            built += 1;
            || 7
        });
        // Not due again within the hour, and one read at a time: nothing more is built.
        let again = p.start_when_due(|| {
            built += 1;
            || 8
        });
        assert!(again <= Duration::from_secs(3600));
        let start = Instant::now();
        let value = loop {
            if let Some(v) = p.finished() {
                break v;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the read never finished");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!((value, built), (7, 1));
        assert_eq!(p.finished(), None, "a result is taken up once");
        assert!(p.start_when_due(|| || 9) > LOOK_AGAIN, "the next read waits for its time");
        // A restart drops nothing when idle and keeps the next read waiting.
        p.restart();
        assert_eq!(p.finished(), None);
    }
}
