//! What a long model conversion (GGUF import and export) reports its
//! progress to, and asks whether to go on.

use crate::cancel::CancelFlag;
use crate::error::{Error, Result};

/// A sink for `done` of `total` steps; an error stops the work.
pub trait Progress {
    /// Records a finished step; `Err` (cancellation) stops the work before the next.
    fn step(&mut self, done: usize, total: usize) -> Result<()>;
}

/// A closure that is told each step and never stops the work.
impl<F: FnMut(usize, usize)> Progress for F {
    fn step(&mut self, done: usize, total: usize) -> Result<()> {
        self(done, total);
        Ok(())
    }
}

/// `progress`, stopped with [`Error::Cancelled`] once `cancel` is set.
pub struct Cancellable<'a, F> {
    /// The flag the work's caller sets.
    pub cancel: &'a CancelFlag,
    /// Told each step.
    pub progress: F,
}

impl<F: FnMut(usize, usize)> Progress for Cancellable<'_, F> {
    fn step(&mut self, done: usize, total: usize) -> Result<()> {
        if self.cancel.is_set() {
            return Err(Error::Cancelled);
        }
        (self.progress)(done, total);
        Ok(())
    }
}
