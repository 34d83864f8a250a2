//! Rotary position embeddings in Hugging Face's "rotate half" layout. On the
//! CPU (f32, f64) one fused pass, `(x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin)`,
//! whose backward is the same rotation by the opposite angle; other devices
//! and dtypes use the composed ops.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, D, DType, Device, Layout, Result, Shape, Tensor};
use num_traits::Float;
use rayon::prelude::*;

use super::{Real, by_dtype, slice};

const OP: &str = "rope";

/// Precomputed cosine and sine tables, `[positions, rotary_dim]` (each
/// frequency repeated in both halves). The rotation covers the first
/// `rotary_dim` values of each head (all of it but in Phi-4-mini's partial
/// rotary embedding); the rest passes through. `longrope` has a second set
/// of tables (its long factors') that a pass reaching beyond the first
/// set's positions uses for all of its positions, as transformers switches.
#[derive(Debug, Clone)]
pub struct Rope {
    cos: Tensor,
    sin: Tensor,
    /// The same tables for the fused CPU pass (f32 angles, as transformers
    /// computes them, so f32 holds every value exactly).
    cos_cpu: std::sync::Arc<Vec<f32>>,
    sin_cpu: std::sync::Arc<Vec<f32>>,
    head_dim: usize,
    rotary_dim: usize,
    /// The tables of a pass whose positions reach beyond these (`longrope`).
    long: Option<Box<Rope>>,
}

impl Rope {
    /// Builds tables for `positions` positions from the inverse frequencies
    /// ([`crate::ModelConfig::layer_rope`]), two rotated values of each
    /// head per frequency, with cosines and sines multiplied by `scale`
    /// (`longrope`'s attention factor; 1 elsewhere).
    pub fn new(head_dim: usize, positions: usize, inv_freq: &[f32], scale: f32, dtype: DType, device: &Device) -> Result<Self> {
        let rotary_dim = inv_freq.len() * 2;
        if rotary_dim == 0 || rotary_dim > head_dim {
            return Err(candle_core::Error::Msg(format!("{OP}: {} frequencies for head_dim {head_dim}", inv_freq.len())));
        }
        let mut cos = Vec::with_capacity(positions * rotary_dim);
        let mut sin = Vec::with_capacity(positions * rotary_dim);
        for p in 0..positions {
            for _half in 0..2 {
                for f in inv_freq {
                    let angle = p as f32 * f;
                    cos.push(angle.cos() * scale);
                    sin.push(angle.sin() * scale);
                }
            }
        }
        let table = |v: &Vec<f32>| Tensor::from_slice(v, (positions, rotary_dim), device)?.to_dtype(dtype);
        Ok(Self { cos: table(&cos)?, sin: table(&sin)?, cos_cpu: cos.into(), sin_cpu: sin.into(), head_dim, rotary_dim, long: None })
    }

    /// These tables, with `long` for the passes whose positions reach beyond them.
    pub fn with_long(self, long: Rope) -> Self {
        Self { long: Some(Box::new(long)), ..self }
    }

    /// The positions the tables cover.
    fn positions(&self) -> usize {
        self.cos_cpu.len() / self.rotary_dim
    }

    /// The tables of a pass over positions `..end`.
    fn for_pass(&self, end: usize) -> &Rope {
        match &self.long {
            Some(long) if end > self.positions() => long,
            _ => self,
        }
    }

    /// Rotates each head of `x [batch, seq, heads * head_dim]` (positions
    /// 0..seq), the layout of the q and k projections.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() && matches!(x.dtype(), DType::F32 | DType::F64) {
            return x.contiguous()?.apply_op1(self.for_pass(x.dim(1)?).rotation(false));
        }
        self.composed(x)
    }

    /// Rotates `x [b, t, width]` (rows of `width = heads * head_dim`) on the
    /// CPU, or by the opposite angles with `inverse` (the backward pass).
    pub(crate) fn rotate<T: Float + Send + Sync>(&self, x: &[T], t: usize, width: usize, inverse: bool) -> Result<Vec<T>> {
        let op = self.for_pass(t).rotation(inverse);
        op.check(t, width)?;
        Ok(op.rows(x, t, width))
    }

    /// Rotates in place each head of one position's `x [heads * head_dim]`
    /// (f32, on the CPU) by the angles of position `pos` (decoding: a pass
    /// over positions `..=pos`).
    pub(crate) fn rotate_at(&self, x: &mut [f32], pos: usize) -> Result<()> {
        let tables = self.for_pass(pos + 1);
        if !std::ptr::eq(tables, self) {
            return tables.rotate_at(x, pos);
        }
        let op = self.rotation(false);
        op.check(pos + 1, x.len())?;
        let (d, r) = (self.head_dim, self.rotary_dim);
        let (cos, sin) = (&self.cos_cpu[pos * r..(pos + 1) * r], &self.sin_cpu[pos * r..(pos + 1) * r]);
        let half = r / 2;
        for head in x.chunks_mut(d) {
            for i in 0..half {
                let (x1, x2) = (head[i], head[i + half]);
                head[i] = x1 * cos[i] - x2 * sin[i];
                head[i + half] = x2 * cos[i + half] + x1 * sin[i + half];
            }
        }
        Ok(())
    }

    /// The fused CPU rotation, forward or `inverse`.
    fn rotation(&self, inverse: bool) -> Rotate {
        let sign = if inverse { -1.0 } else { 1.0 };
        Rotate { cos: self.cos_cpu.clone(), sin: self.sin_cpu.clone(), sign, d: self.head_dim, r: self.rotary_dim }
    }

    /// [`Rope::apply`] with candle's ops.
    pub(crate) fn composed(&self, x: &Tensor) -> Result<Tensor> {
        self.apply_from(x, 0)
    }

    /// Rotates `x [batch, seq, heads * head_dim]` for positions
    /// `offset..offset + seq` (generation with a key/value cache), with candle's ops.
    pub fn apply_from(&self, x: &Tensor, offset: usize) -> Result<Tensor> {
        let (b, t, width) = x.dims3()?;
        let tables = self.for_pass(offset + t);
        if !std::ptr::eq(tables, self) {
            return tables.apply_from(x, offset);
        }
        let (d, r) = (self.head_dim, self.rotary_dim);
        if offset + t > self.cos.dim(0)? {
            candle_core::bail!("{OP}: position {} is beyond the rotary tables ({} positions)", offset + t, self.cos.dim(0)?);
        }
        let x = x.reshape((b, t, width / d, d))?;
        let cos = self.cos.narrow(0, offset, t)?.reshape((t, 1, r))?;
        let sin = self.sin.narrow(0, offset, t)?.reshape((t, 1, r))?;
        let rot = x.narrow(D::Minus1, 0, r)?;
        let x1 = rot.narrow(D::Minus1, 0, r / 2)?;
        let x2 = rot.narrow(D::Minus1, r / 2, r / 2)?;
        let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
        let rot = rot.broadcast_mul(&cos)?.add(&rotated.broadcast_mul(&sin)?)?;
        let out = if r < d { Tensor::cat(&[&rot, &x.narrow(D::Minus1, r, d - r)?], D::Minus1)? } else { rot };
        out.reshape((b, t, width))
    }
}

/// The rotation by `sign` times each position's angle.
struct Rotate {
    cos: std::sync::Arc<Vec<f32>>,
    sin: std::sync::Arc<Vec<f32>>,
    sign: f32,
    /// Head dimension.
    d: usize,
    /// Rotated values at the start of each head.
    r: usize,
}

impl Rotate {
    /// Errors for rows that are not whole heads or more positions than the tables hold.
    fn check(&self, t: usize, width: usize) -> Result<()> {
        let d = self.d;
        if d == 0 || !width.is_multiple_of(d) {
            return Err(candle_core::Error::Msg(format!("rope: width {width} is not a multiple of the head dimension {d}")));
        }
        if t * self.r > self.cos.len() {
            return Err(candle_core::Error::Msg(format!("rope: {t} positions, more than the table's {}", self.cos.len() / self.r)));
        }
        Ok(())
    }

    /// Rotates `x [b, t, heads * d]`: positions in parallel.
    fn rows<T: Float + Send + Sync>(&self, x: &[T], t: usize, width: usize) -> Vec<T> {
        let (d, r) = (self.d, self.r);
        let half = r / 2;
        let cast = |v: f32| T::from(v).expect("table value fits");
        let mut out = x.to_vec();
        out.par_chunks_mut(width).zip(x.par_chunks(width)).enumerate().for_each(|(row_index, (o, block))| {
            let p = row_index % t;
            let (cos, sin) = (&self.cos[p * r..(p + 1) * r], &self.sin[p * r..(p + 1) * r]);
            for (row, dst) in block.chunks(d).zip(o.chunks_mut(d)) {
                for i in 0..half {
                    let (x1, x2) = (row[i], row[i + half]);
                    let (s1, s2) = (cast(self.sign * sin[i]), cast(self.sign * sin[i + half]));
                    dst[i] = x1 * cast(cos[i]) - x2 * s1;
                    dst[i + half] = x2 * cast(cos[i + half]) + x1 * s2;
                }
            }
        });
        out
    }
}

impl CustomOp1 for Rotate {
    fn name(&self) -> &'static str {
        "rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        fn run<T: Real>(op: &Rotate, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
            let (_, t, width) = l.shape().dims3()?;
            op.check(t, width)?;
            Ok((T::to_cpu_storage_owned(op.rows(slice::<T>(s, l, OP, "input")?, t, width)), l.shape().clone()))
        }
        by_dtype!(s.dtype(), OP, run(self, s, l))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        // Both halves share each frequency, so the transpose is the inverse rotation.
        let inverse = Rotate { cos: self.cos.clone(), sin: self.sin.clone(), sign: -self.sign, d: self.d, r: self.r };
        Ok(Some(g.contiguous()?.apply_op1_no_bwd(&inverse)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rope_scaling::RopeScaling;
    use crate::testing::assert_same;
    use candle_core::Var;

    fn freqs(d: usize, theta: f64) -> Vec<f32> {
        RopeScaling::Default.inv_freq(d, theta)
    }

    #[test]
    fn at_position_zero_is_identity() {
        let rope = Rope::new(4, 8, &freqs(4, 10000.0), 1.0, DType::F32, &Device::Cpu).unwrap();
        let x = Tensor::arange(0f32, 8.0, &Device::Cpu).unwrap().reshape((1, 1, 8)).unwrap();
        let y = rope.apply(&x).unwrap();
        let diff = (y - &x).unwrap().abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-6);
    }

    #[test]
    fn fused_matches_composed_forward_and_backward() {
        // The whole head rotated, and the first 6 of 8 values (a partial rotary embedding), scaled.
        for (freqs, scale) in [(freqs(8, 10000.0), 1.0), (freqs(6, 10000.0), 1.2)] {
            let rope = Rope::new(8, 16, &freqs, scale, DType::F64, &Device::Cpu).unwrap();
            let x = Var::from_tensor(&Tensor::randn(0f64, 1.0, (2, 5, 3 * 8), &Device::Cpu).unwrap()).unwrap();
            // A non-contiguous input too.
            let swapped = |x: &Tensor| x.transpose(0, 1).unwrap();
            assert_same(&[&x], |t| rope.apply(t[0]).unwrap(), |t| rope.composed(t[0]).unwrap());
            assert_same(&[&x], |t| rope.apply(&swapped(t[0])).unwrap(), |t| rope.composed(&swapped(t[0])).unwrap());
        }
    }

    /// With a long set of tables (`longrope`), a pass within the first set's
    /// positions uses them, and a pass reaching beyond rotates all its
    /// positions by the long set: fused, composed, from an offset (a key/value
    /// cache) and one position at a time (decoding) alike.
    #[test]
    fn a_pass_beyond_the_short_tables_uses_the_long_ones_for_all_its_positions() {
        let (d, short, long) = (8, 4, 12);
        let (short_freqs, long_freqs) = (freqs(d, 10000.0), freqs(d, 10.0));
        let tables = |f: &[f32], n| Rope::new(d, n, f, 1.1, DType::F32, &Device::Cpu).unwrap();
        let rope = tables(&short_freqs, short).with_long(tables(&long_freqs, long));
        let (only_short, only_long) = (tables(&short_freqs, short), tables(&long_freqs, long));
        let x = |t| Tensor::randn(0f32, 1.0, (1, t, 2 * d), &Device::Cpu).unwrap();
        let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        let within = x(short);
        assert_eq!(diff(&rope.apply(&within).unwrap(), &only_short.apply(&within).unwrap()), 0.0);
        let beyond = x(short + 3);
        let want = only_long.apply(&beyond).unwrap();
        assert_eq!(diff(&rope.apply(&beyond).unwrap(), &want), 0.0);
        assert!(diff(&rope.composed(&beyond).unwrap(), &want) < 1e-6);
        // From an offset: positions short-1 .. short+1 reach beyond.
        let chunk = x(2);
        assert!(diff(&rope.apply_from(&chunk, short - 1).unwrap(), &only_long.apply_from(&chunk, short - 1).unwrap()) < 1e-6);
        assert!(diff(&rope.apply_from(&chunk, 0).unwrap(), &only_short.apply_from(&chunk, 0).unwrap()) < 1e-6);
        // One position at a time: the last short position, then the first long one.
        for (pos, by) in [(short - 1, &only_short), (short, &only_long)] {
            let mut row: Vec<f32> = x(1).flatten_all().unwrap().to_vec1().unwrap();
            let mut want = row.clone();
            rope.rotate_at(&mut row, pos).unwrap();
            by.rotate_at(&mut want, pos).unwrap();
            assert_eq!(row, want, "position {pos}");
        }
        // Beyond the long tables too: refused.
        assert!(rope.apply(&x(long + 1)).is_err());
    }

    /// Positions other than 0 against the formula, computed here in f64:
    /// `x cos(p θ_i) + rotate_half(x) sin(p θ_i)` with `θ_i = theta^(-2i/d)`
    /// for frequency `i` (both halves of a head share it) and
    /// `rotate_half(x1, x2) = (-x2, x1)`; fused (CPU) and composed alike.
    #[test]
    fn rotates_by_position_times_frequency() {
        let (d, heads, t, theta) = (8, 2, 6, 10000.0);
        let rope = Rope::new(d, 16, &freqs(d, theta), 1.0, DType::F64, &Device::Cpu).unwrap();
        let x = Tensor::randn(0f64, 1.0, (1, t, heads * d), &Device::Cpu).unwrap();
        let xs: Vec<f64> = x.flatten_all().unwrap().to_vec1().unwrap();
        let mut expected = vec![0f64; xs.len()];
        for p in 0..t {
            for h in 0..heads {
                let head = (p * heads + h) * d;
                for j in 0..d {
                    let i = j % (d / 2);
                    let angle = p as f64 * f64::powf(theta, -2.0 * i as f64 / d as f64);
                    let rotated = if j < d / 2 { -xs[head + j + d / 2] } else { xs[head + j - d / 2] };
                    expected[head + j] = xs[head + j] * angle.cos() + rotated * angle.sin();
                }
            }
        }
        for y in [rope.apply(&x).unwrap(), rope.composed(&x).unwrap()] {
            let y: Vec<f64> = y.flatten_all().unwrap().to_vec1().unwrap();
            let worst = y.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
            // The tables hold f32 angles and values (as transformers computes them).
            assert!(worst < 1e-5, "differs from the formula by {worst:e}");
        }
    }
}
