//! AdamW (decoupled weight decay, PyTorch semantics) over the trainable
//! parameters, with its moments exposed for checkpoints.

use std::collections::HashMap;

use candle_core::{Result, Tensor};

use crate::model::Trainable;

/// AdamW hyper-parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWParams {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
}

/// AdamW state: moments per parameter and the step count.
pub struct AdamW {
    params: Vec<Trainable>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates applied so far.
    pub t: usize,
    hp: AdamWParams,
}

impl AdamW {
    /// Fresh state (zero moments) for `params`.
    pub fn new(params: &[Trainable], hp: AdamWParams) -> Result<Self> {
        let zeros = |p: &Trainable| p.var.as_tensor().zeros_like();
        Ok(Self {
            m: params.iter().map(zeros).collect::<Result<_>>()?,
            v: params.iter().map(zeros).collect::<Result<_>>()?,
            params: params.to_vec(),
            t: 0,
            hp,
        })
    }

    /// Applies one update with gradients `grads` (same order as the params).
    pub fn step(&mut self, grads: &[Tensor], lr: f64) -> Result<()> {
        self.t += 1;
        let AdamWParams { beta1, beta2, eps, weight_decay } = self.hp;
        let bc1 = 1.0 - beta1.powi(self.t as i32);
        let bc2 = 1.0 - beta2.powi(self.t as i32);
        for (i, (p, g)) in self.params.iter().zip(grads).enumerate() {
            let theta = p.var.as_tensor();
            let m = ((&self.m[i] * beta1)? + (g * (1.0 - beta1))?)?;
            let v = ((&self.v[i] * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
            let update = ((&m / bc1)? / ((&v / bc2)?.sqrt()? + eps)?)?;
            let decayed = (theta * (1.0 - lr * weight_decay))?;
            p.var.set(&(decayed - (update * lr)?)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// Moments by `m.NAME` / `v.NAME`, for a checkpoint.
    pub fn state_tensors(&self) -> HashMap<String, Tensor> {
        let mut out = HashMap::new();
        for (i, p) in self.params.iter().enumerate() {
            out.insert(format!("m.{}", p.name), self.m[i].clone());
            out.insert(format!("v.{}", p.name), self.v[i].clone());
        }
        out
    }

    /// Restores moments saved by [`AdamW::state_tensors`] and the step count.
    pub fn load_state(&mut self, tensors: &HashMap<String, Tensor>, t: usize) -> std::result::Result<(), String> {
        for (i, p) in self.params.iter().enumerate() {
            for (slot, prefix) in [(&mut self.m[i], "m"), (&mut self.v[i], "v")] {
                let key = format!("{prefix}.{}", p.name);
                let saved = tensors.get(&key).ok_or_else(|| format!("optimizer state lacks {key}"))?;
                *slot = saved.clone();
            }
        }
        self.t = t;
        Ok(())
    }
}
