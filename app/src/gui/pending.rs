//! One piece of work on a worker thread, its result taken up on a later
//! frame: what would stall a frame if done on the window's thread (file
//! checks as the user types, reads that follow the disk) runs beside it, and
//! the panel keeps drawing what it has until the result comes.

use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::Duration;

/// How soon a panel waiting for a result should draw again.
pub const LOOK_AGAIN: Duration = Duration::from_millis(50);

/// The result of work started on a worker thread, not yet taken up.
pub struct Pending<T>(Receiver<T>);

impl<T: Send + 'static> Pending<T> {
    /// Runs `work` on a new worker thread.
    pub fn spawn(work: impl FnOnce() -> T + Send + 'static) -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || tx.send(work()));
        Self(rx)
    }
}

/// The result in `slot` once its work has finished, emptying the slot (also
/// when the work died without a result); None while it runs or when the slot
/// is empty. Replacing the slot's content drops an older result unread.
pub fn take<T>(slot: &mut Option<Pending<T>>) -> Option<T> {
    let pending = slot.as_ref()?;
    match pending.0.try_recv() {
        Ok(value) => {
            *slot = None;
            Some(value)
        }
        Err(TryRecvError::Disconnected) => {
            *slot = None;
            None
        }
        Err(TryRecvError::Empty) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_result_is_taken_up_once_and_a_replaced_one_never() {
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let mut slot = Some(Pending::spawn(move || {
            wait.recv().unwrap();
            1
        }));
        assert_eq!(take(&mut slot), None, "still running");
        assert!(slot.is_some());
        slot = Some(Pending::spawn(|| 2));
        go.send(()).ok();
        let start = std::time::Instant::now();
        let value = loop {
            if let Some(v) = take(&mut slot) {
                break v;
            }
            assert!(start.elapsed() < Duration::from_secs(60), "the work never finished");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(value, 2);
        assert!(slot.is_none());
        assert_eq!(take(&mut slot), None);
        let mut died: Option<Pending<u8>> = Some(Pending::spawn(|| panic!("worker died")));
        while died.is_some() {
            assert_eq!(take(&mut died), None);
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
