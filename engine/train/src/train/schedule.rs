//! Learning-rate schedules with linear warmup.

use crate::config::{Schedule, TrainingSection};

/// Warmup steps for a run of `total` optimizer steps.
pub fn warmup_steps(t: &TrainingSection, total: usize) -> usize {
    t.warmup_steps.unwrap_or_else(|| (t.warmup_ratio * total as f64).ceil() as usize).min(total)
}

/// Learning rate of optimizer step `step` (0-based) out of `total`, with
/// `warmup` steps rising linearly to `peak`, then the schedule's decay to zero.
pub fn lr_at(schedule: Schedule, peak: f64, step: usize, warmup: usize, total: usize) -> f64 {
    if step < warmup {
        return peak * (step + 1) as f64 / warmup as f64;
    }
    let decay_steps = total.saturating_sub(warmup).max(1) as f64;
    let progress = ((step - warmup) as f64 / decay_steps).min(1.0);
    match schedule {
        Schedule::Constant => peak,
        Schedule::Linear => peak * (1.0 - progress),
        Schedule::Cosine => peak * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_rises_to_peak_then_cosine_decays_to_zero() {
        let (peak, warm, total) = (2e-4, 10, 100);
        assert!((lr_at(Schedule::Cosine, peak, 0, warm, total) - 2e-5).abs() < 1e-12);
        assert!((lr_at(Schedule::Cosine, peak, 9, warm, total) - peak).abs() < 1e-12);
        assert!((lr_at(Schedule::Cosine, peak, 10, warm, total) - peak).abs() < 1e-12);
        let mid = lr_at(Schedule::Cosine, peak, 55, warm, total);
        assert!((mid - peak / 2.0).abs() < 1e-9);
        assert!(lr_at(Schedule::Cosine, peak, 99, warm, total) < 1e-6);
        assert!((lr_at(Schedule::Linear, peak, 55, warm, total) - peak / 2.0).abs() < 1e-12);
        assert_eq!(lr_at(Schedule::Constant, peak, 80, warm, total), peak);
    }

    #[test]
    fn warmup_ratio_is_a_fraction_of_total_steps() {
        let t = TrainingSection { warmup_ratio: 0.1, ..Default::default() };
        assert_eq!(warmup_steps(&t, 95), 10);
        let t = TrainingSection { warmup_steps: Some(3), ..t };
        assert_eq!(warmup_steps(&t, 95), 3);
    }
}
