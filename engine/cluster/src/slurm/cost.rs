//! Before submitting: how long a remote run should take and what it will
//! cost. Steps come from the config and the size of its training file;
//! time from the throughput measured on this profile's last remote run (its
//! `metrics.jsonl`), when there is one; cost from the price per node-hour
//! the user enters. The time limit bounds the cost whatever happens.

use std::path::Path;

use super::mirror::RemoteRun;
use super::profile::Profile;
use crate::config::TrainConfig;

/// What a run will take.
#[derive(Debug, Clone, PartialEq)]
pub struct CostEstimate {
    /// Optimizer steps.
    pub steps: usize,
    /// Tokens processed, at most (every sequence at `max_seq_len`).
    pub tokens: u64,
    /// Tokens per second measured on this profile, if known.
    pub tokens_per_s: Option<f64>,
    /// Expected hours at that throughput.
    pub hours: Option<f64>,
    /// Expected cost (hours x nodes x price).
    pub cost: Option<f64>,
    /// The most it can cost: the time limit x nodes x price.
    pub cost_bound: Option<f64>,
}

impl CostEstimate {
    /// One line for the window and the CLI.
    pub fn describe(&self) -> String {
        let mut s = format!("{} steps, at most {} tokens", self.steps, self.tokens);
        match (self.hours, self.tokens_per_s) {
            (Some(h), Some(t)) if h < 1.0 => s += &format!("; about {:.0} min at {t:.0} tokens/s (this profile's last run)", h * 60.0),
            (Some(h), Some(t)) => s += &format!("; about {h:.1} h at {t:.0} tokens/s (this profile's last run)"),
            _ => s += "; time unknown until a first run on this profile measures its speed",
        }
        if let Some(c) = self.cost {
            s += &format!(", about ${c:.2}");
        }
        if let Some(b) = self.cost_bound {
            s += &format!("; at most ${b:.2} within the time limit");
        }
        s
    }
}

/// Hours in a Slurm `--time` value: minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS.
pub fn time_limit_hours(text: &str) -> Option<f64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let (days, rest) = match text.split_once('-') {
        Some((d, r)) => (d.parse::<f64>().ok()?, r),
        None => (0.0, text),
    };
    let parts: Vec<f64> = rest.split(':').map(|p| p.parse::<f64>().ok()).collect::<Option<_>>()?;
    let seconds = match (text.contains('-'), parts.as_slice()) {
        (false, [m]) => m * 60.0,
        (false, [m, s]) => m * 60.0 + s,
        (_, [h, m, s]) => h * 3600.0 + m * 60.0 + s,
        (true, [h]) => h * 3600.0,
        (true, [h, m]) => h * 3600.0 + m * 60.0,
        _ => return None,
    };
    Some(days * 24.0 + seconds / 3600.0)
}

/// The median tokens/s of the newest remote run of `profile` under `runs_dir` that logged any.
pub fn measured_tokens_per_s(runs_dir: &Path, profile: &str) -> Option<f64> {
    let mut runs: Vec<_> = std::fs::read_dir(runs_dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| RemoteRun::read(p).is_ok_and(|r| r.profile == profile))
        .collect();
    runs.sort();
    runs.iter().rev().find_map(|run| {
        let mut tps: Vec<f64> = crate::runs::RunDir::open(run).ok()?.metrics().ok()?.iter().filter_map(|m| m.tokens_per_s).collect();
        tps.sort_by(f64::total_cmp);
        tps.get(tps.len() / 2).copied()
    })
}

/// The estimate of `config` on `profile`, its training file counted.
pub fn estimate(config: &TrainConfig, profile: &Profile, tokens_per_s: Option<f64>) -> CostEstimate {
    let t = &config.training;
    let lines = std::fs::read_to_string(&config.data.train_file).map_or(0, |s| s.lines().filter(|l| !l.trim().is_empty()).count());
    let train = if config.data.validation_file.is_some() { lines } else { lines - (lines as f64 * config.data.validation_ratio) as usize };
    let steps = t.total_steps(train.div_ceil(t.batch_size).div_ceil(t.grad_accum).max(1));
    let tokens = (steps * t.batch_size * t.grad_accum * config.data.max_seq_len) as u64;
    let c = &profile.cluster;
    let price = (c.price_per_node_hour > 0.0).then_some(c.price_per_node_hour);
    let hours = tokens_per_s.filter(|t| *t > 0.0).map(|tps| tokens as f64 / tps / 3600.0);
    let nodes = f64::from(c.nodes.max(1));
    CostEstimate {
        steps,
        tokens,
        tokens_per_s,
        hours,
        cost: hours.zip(price).map(|(h, p)| h * nodes * p),
        cost_bound: time_limit_hours(&c.time_limit).zip(price).map(|(h, p)| h * nodes * p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_time_limits_in_every_form() {
        for (t, h) in [("90", 1.5), ("30:00", 0.5), ("02:00:00", 2.0), ("1-00", 24.0), ("1-12:30", 36.5), ("2-01:00:00", 49.0)] {
            assert_eq!(time_limit_hours(t), Some(h), "{t}");
        }
        assert_eq!(time_limit_hours(""), None);
        assert_eq!(time_limit_hours("soon"), None);
    }

    #[test]
    fn the_estimate_counts_steps_from_the_data_and_prices_the_time() {
        let dir = tempfile::tempdir().unwrap();
        let train = dir.path().join("train.jsonl");
        std::fs::write(&train, "{}\n".repeat(100)).unwrap();
        let mut cfg = TrainConfig::from_toml(&format!("[model]\npath = \"m\"\n[data]\ntrain_file = {:?}\nvalidation_file = \"v.jsonl\"\nmax_seq_len = 512\n[training]\nbatch_size = 4\ngrad_accum = 2\nepochs = 3\n", train.display().to_string())).unwrap();
        let mut p = Profile::default();
        p.cluster.price_per_node_hour = 21.5;
        p.cluster.time_limit = "04:00:00".into();
        let e = estimate(&cfg, &p, Some(1024.0));
        assert_eq!((e.steps, e.tokens), (13 * 3, 39 * 8 * 512));
        assert!((e.hours.unwrap() - 39.0 * 8.0 * 512.0 / 1024.0 / 3600.0).abs() < 1e-12);
        assert!((e.cost.unwrap() - e.hours.unwrap() * 21.5).abs() < 1e-9);
        assert_eq!(e.cost_bound, Some(86.0));
        assert_eq!(
            e.describe(),
            "39 steps, at most 159744 tokens; about 3 min at 1024 tokens/s (this profile's last run), about $0.93; at most $86.00 within the time limit"
        );
        cfg.training.max_steps = Some(10);
        let unknown = estimate(&cfg, &Profile::default(), None);
        assert_eq!((unknown.steps, unknown.cost, unknown.cost_bound), (10, None, None));
        assert!(unknown.describe().contains("time unknown"));
    }
}
