//! Causal grouped-query attention, `softmax(scale q k^T + mask) v` per head,
//! with the causal (and optional sliding-window) mask ([`causal_mask`]).
//!
//! Inputs and output keep the projections' layout `[batch, seq, heads *
//! head_dim]`, so no head transposes are copied and no reshape enters the
//! autograd graph. On the CPU (f32, f64) one
//! fused kernel: heads in parallel; query rows in blocks of [`BLOCK`], each
//! multiplied only with the keys it can see (masked scores are never
//! computed); key/value heads shared by a group of query heads are read in
//! place (no repeated copies); the probabilities are not kept but recomputed
//! in the backward pass, as flash attention does, which saves a
//! `[batch, heads, seq, seq]` tensor per layer. Other devices and dtypes use
//! the composed ops with an additive mask.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, D, DType, Device, Layout, Result, Shape, Tensor, WithDType};
use num_traits::Float;
use rayon::prelude::*;

use super::{KernelExp, Operand, SharedMut, by_dtype, gemm_raw, held, slice, uninit_output};
use crate::config::ModelConfig;

/// Query rows per block of the score matrix.
const BLOCK: usize = 64;

const OP: &str = "attention";

/// Query and key/value head counts of an attention call.
#[derive(Debug, Clone, Copy)]
pub struct Heads {
    /// Query heads.
    pub q: usize,
    /// Key/value heads (a divisor of `q`).
    pub kv: usize,
}

impl Heads {
    /// The head counts of a model.
    pub fn of(cfg: &ModelConfig) -> Self {
        Self { q: cfg.num_attention_heads, kv: cfg.kv_heads() }
    }
}

/// How one layer scores a query against the keys.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Scoring {
    /// The factor on `q k^T` (`head_dim^-1/2`, Gemma's `query_pre_attn_scalar^-1/2`).
    pub scale: f64,
    /// Gemma 2's soft cap: scaled scores become `cap * tanh(score / cap)`.
    pub softcap: Option<f64>,
    /// The sliding window: query `i` sees keys `i - window + 1 ..= i`.
    pub window: Option<usize>,
}

impl Scoring {
    /// Layer `layer`'s scoring under `cfg`.
    pub fn of(cfg: &ModelConfig, layer: usize) -> Self {
        Self { scale: cfg.attention_scale(), softcap: cfg.attn_logit_softcapping, window: cfg.layer_window(layer) }
    }

    /// `cap * tanh(s / cap)` of the scaled score `s` where a cap is set, else `s`.
    fn cap<T: Float>(&self, s: T) -> T {
        match self.softcap {
            Some(cap) => {
                let cap = T::from(cap).expect("a cap fits");
                (s / cap).tanh() * cap
            }
            None => s,
        }
    }

    /// [`Scoring::cap`] of scaled scores `s` (a tensor), with candle's ops.
    fn cap_tensor(&self, s: Tensor) -> Result<Tensor> {
        match self.softcap {
            Some(cap) => (s / cap)?.tanh()? * cap,
            None => Ok(s),
        }
    }
}

/// Attention of `q [b, t, heads.q * d]` over `k, v [b, t, heads.kv * d]` ->
/// `[b, t, heads.q * d]`, scored as `scoring` says; `mask` is the additive
/// `[t, t]` mask used off the CPU (the fused kernel applies the window itself).
pub fn attention(q: &Tensor, k: &Tensor, v: &Tensor, heads: Heads, scoring: Scoring, mask: &Tensor) -> Result<Tensor> {
    let (nh, nkv) = (heads.q, heads.kv);
    if nkv == 0 || nh % nkv != 0 || k.dims() != v.dims() {
        return Err(candle_core::Error::Msg(format!("{OP}: {nh} query heads cannot share {nkv} key/value heads")));
    }
    let fused = q.device().is_cpu() && matches!(q.dtype(), DType::F32 | DType::F64) && k.dtype() == q.dtype() && v.dtype() == q.dtype();
    if fused {
        q.contiguous()?.apply_op3(&k.contiguous()?, &v.contiguous()?, Attention { heads, scoring })
    } else {
        composed(q, k, v, heads, scoring, mask)
    }
}

/// Additive attention mask `[seq, seq]`: 0 where key j is visible from query i
/// (j <= i, and i - j < window when a sliding window is set), -inf elsewhere.
pub fn causal_mask(t: usize, window: Option<usize>, dtype: DType, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..t)
        .flat_map(|i| {
            (0..t).map(move |j| {
                let visible = j <= i && window.is_none_or(|w| i - j < w);
                if visible { 0.0 } else { f32::NEG_INFINITY }
            })
        })
        .collect();
    Tensor::from_vec(mask, (t, t), device)?.to_dtype(dtype)
}

/// [`attention`] with candle's ops: heads split and transposed, key/value heads repeated.
pub(crate) fn composed(q: &Tensor, k: &Tensor, v: &Tensor, heads: Heads, scoring: Scoring, mask: &Tensor) -> Result<Tensor> {
    let (b, t, width) = q.dims3()?;
    let d = width / heads.q;
    let split = |x: &Tensor, n: usize| x.reshape((b, t, n, d))?.transpose(1, 2)?.contiguous();
    let q = (split(q, heads.q)? * scoring.scale)?;
    let rep = heads.q / heads.kv;
    let (k, v) = (repeat_kv(split(k, heads.kv)?, rep)?, repeat_kv(split(v, heads.kv)?, rep)?);
    let probs = candle_nn::ops::softmax(&scoring.cap_tensor(q.matmul(&k.t()?)?)?.broadcast_add(mask)?, D::Minus1)?;
    probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, width))
}

/// Attention of `q [b, tq, heads.q * d]`, the queries of positions
/// `offset..offset + tq`, over `k, v [b, offset + tq, heads.kv * d]`, every
/// position so far (generation with a key/value cache): causal, and within
/// the window when set. Candle's ops, on any device.
pub fn attend_cached(q: &Tensor, k: &Tensor, v: &Tensor, heads: Heads, scoring: Scoring) -> Result<Tensor> {
    let window = scoring.window;
    let (b, tq, width) = q.dims3()?;
    let tk = k.dim(1)?;
    if tk < tq || k.dims() != v.dims() {
        candle_core::bail!("{OP}: {tq} queries over {tk} cached keys");
    }
    let offset = tk - tq;
    let d = width / heads.q;
    let split = |x: &Tensor, t: usize, n: usize| x.reshape((b, t, n, d))?.transpose(1, 2)?.contiguous();
    let q = (split(q, tq, heads.q)? * scoring.scale)?;
    let rep = heads.q / heads.kv;
    let (k, v) = (repeat_kv(split(k, tk, heads.kv)?, rep)?, repeat_kv(split(v, tk, heads.kv)?, rep)?);
    let scores = scoring.cap_tensor(q.matmul(&k.t()?)?)?;
    let needs_mask = tq > 1 || window.is_some_and(|w| w < tk);
    let scores = if needs_mask {
        let mask: Vec<f32> = (0..tq)
            .flat_map(|i| {
                let pos = offset + i;
                (0..tk).map(move |j| if j <= pos && window.is_none_or(|w| pos - j < w) { 0.0 } else { f32::NEG_INFINITY })
            })
            .collect();
        scores.broadcast_add(&Tensor::from_vec(mask, (tq, tk), q.device())?.to_dtype(q.dtype())?)?
    } else {
        scores
    };
    candle_nn::ops::softmax(&scores, D::Minus1)?.matmul(&v)?.transpose(1, 2)?.reshape((b, tq, width))
}

/// Attention of one position's queries `q [heads.q * d]` (position `pos`) over
/// the cached keys and values of positions `0..pos` (`cached_k`, `cached_v`:
/// rows of `heads.kv * d`) and this position's own `k`, `v` (decoding, f32 on
/// the CPU), scored as `scoring` says. Returns `[heads.q * d]`.
pub(crate) fn attend_row<'a>(
    q: &[f32],
    (cached_k, cached_v): (&'a [f32], &'a [f32]),
    (k, v): (&'a [f32], &'a [f32]),
    (heads, pos): (Heads, usize),
    scoring: Scoring,
) -> Vec<f32> {
    let (scale, window) = (scoring.scale as f32, scoring.window);
    let d = q.len() / heads.q;
    let kv_width = heads.kv * d;
    let first = window.map_or(0, |w| (pos + 1).saturating_sub(w));
    let mut ctx = vec![0f32; heads.q * d];
    let mut scores = Vec::with_capacity(pos + 1 - first);
    for (head, out) in ctx.chunks_mut(d).enumerate() {
        let g = head / (heads.q / heads.kv);
        let qh = &q[head * d..(head + 1) * d];
        // Head g of position j: in the cache before `pos`, in this position's own row at `pos`.
        let pick = |cached: &'a [f32], own: &'a [f32], j: usize| -> &'a [f32] {
            if j < pos { &cached[j * kv_width + g * d..][..d] } else { &own[g * d..][..d] }
        };
        let key = |j: usize| pick(cached_k, k, j);
        let value = |j: usize| pick(cached_v, v, j);
        scores.clear();
        scores.extend((first..=pos).map(|j| scoring.cap(scale * key(j).iter().zip(qh).map(|(a, b)| a * b).sum::<f32>())));
        let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut total = 0.0;
        for s in scores.iter_mut() {
            *s = (*s - max).exp();
            total += *s;
        }
        for (j, p) in (first..=pos).zip(&scores) {
            let w = p / total;
            out.iter_mut().zip(value(j)).for_each(|(o, v)| *o += w * v);
        }
    }
    ctx
}

/// Repeats each key/value head `n` times for grouped-query attention.
fn repeat_kv(x: Tensor, n: usize) -> Result<Tensor> {
    if n == 1 {
        return Ok(x);
    }
    let (b, kv, t, d) = x.dims4()?;
    x.unsqueeze(2)?.broadcast_as((b, kv, n, t, d))?.reshape((b, kv * n, t, d))
}

/// Sizes and strides of one attention call.
#[derive(Clone, Copy)]
pub(crate) struct Geometry {
    b: usize,
    t: usize,
    nh: usize,
    nkv: usize,
    d: usize,
    scoring: Scoring,
}

impl Geometry {
    /// Layer `layer`'s attention over `b` sequences of `t` positions (the
    /// fused decoder layer's call).
    pub(crate) fn of(cfg: &ModelConfig, layer: usize, b: usize, t: usize) -> Self {
        let heads = Heads::of(cfg);
        Self { b, t, nh: heads.q, nkv: heads.kv, d: cfg.head_dim(), scoring: Scoring::of(cfg, layer) }
    }

    fn new(lq: &Layout, lk: &Layout, heads: Heads, scoring: Scoring) -> Result<Self> {
        let ((b, t, qw), (kb, kt, kw)) = (lq.shape().dims3()?, lk.shape().dims3()?);
        let (nh, nkv) = (heads.q, heads.kv);
        let d = qw / nh.max(1);
        if (kb, kt) != (b, t) || nkv == 0 || nh % nkv != 0 || qw != nh * d || kw != nkv * d {
            return Err(candle_core::Error::Msg(format!("{OP}: q {:?} and k {:?} do not fit", lq.dims(), lk.dims())));
        }
        Ok(Self { b, t, nh, nkv, d, scoring })
    }

    /// Row stride of q, the output and their gradients.
    fn q_row(&self) -> usize {
        self.nh * self.d
    }

    /// Row stride of k, v and their gradients.
    fn kv_row(&self) -> usize {
        self.nkv * self.d
    }

    /// Offset of head `h` of batch `bi` in q (position 0).
    fn q_at(&self, bi: usize, h: usize) -> usize {
        bi * self.t * self.q_row() + h * self.d
    }

    /// Offset of key/value head `h` of batch `bi` (position 0).
    fn kv_at(&self, bi: usize, h: usize) -> usize {
        bi * self.t * self.kv_row() + h * self.d
    }

    /// Query heads per key/value head.
    fn group(&self) -> usize {
        self.nh / self.nkv
    }

    /// Row blocks `(r0, r1, c0)`: rows `r0..r1` see no key before `c0` nor after `r1 - 1`.
    fn blocks(&self) -> impl Iterator<Item = (usize, usize, usize)> + use<> {
        let (t, window) = (self.t, self.scoring.window);
        (0..t).step_by(BLOCK).map(move |r0| ((r0 + BLOCK).min(t), r0)).map(move |(r1, r0)| (r0, r1, first_visible(r0, window)))
    }
}

/// The first key query `i` sees.
fn first_visible(i: usize, window: Option<usize>) -> usize {
    window.map_or(0, |w| (i + 1).saturating_sub(w))
}

/// Row pointer helpers for the kernels: `q`-layout and `kv`-layout operands.
fn rows<T>(ptr: *const T, offset: usize, row: usize) -> Operand<T> {
    // SAFETY (of the offset): callers pass offsets inside the tensor.
    Operand { ptr: ptr.wrapping_add(offset), rs: row as isize, cs: 1 }
}

/// The transpose of a row-major operand (rows become columns).
fn cols<T>(ptr: *const T, offset: usize, row: usize) -> Operand<T> {
    Operand { ptr: ptr.wrapping_add(offset), rs: 1, cs: row as isize }
}

/// Writes the attention probabilities of query head `h`, batch `bi`, rows
/// `r0..r1` into `p` (row stride `t`, columns `c0..r1`; zero where masked).
/// Under a soft cap, `slopes` (same layout) gets each visible score's
/// `d capped / d scaled`, `1 - tanh^2`, for the backward pass.
///
/// # Safety
/// `q` and `k` hold the tensors `g` describes; `p` (and `slopes`, when
/// given) has `t * t` elements.
#[allow(clippy::too_many_arguments)]
unsafe fn probabilities<T: WithDType + Float + KernelExp>(
    g: &Geometry,
    q: *const T,
    k: *const T,
    (bi, h): (usize, usize),
    (r0, r1, c0): (usize, usize, usize),
    scale: T,
    p: &mut [T],
    mut slopes: Option<&mut [T]>,
) {
    let t = g.t;
    let kvh = h / g.group();
    let scores = p[r0 * t + c0..].as_mut_ptr();
    // SAFETY: rows r0..r1 of head h and keys c0..r1 of head kvh lie in q and k.
    unsafe {
        let qs = rows(q, g.q_at(bi, h) + r0 * g.q_row(), g.q_row());
        let ks = cols(k, g.kv_at(bi, kvh) + c0 * g.kv_row(), g.kv_row());
        gemm_raw(r1 - r0, r1 - c0, g.d, scores, t as isize, qs, ks, scale, false, false);
    }
    for i in r0..r1 {
        let row = &mut p[i * t + c0..i * t + r1];
        let (lo, hi) = (first_visible(i, g.scoring.window) - c0, i + 1 - c0);
        if let Some(cap) = g.scoring.softcap {
            let cap = T::from(cap).expect("a cap fits");
            row[lo..hi].iter_mut().for_each(|v| *v = (*v / cap).tanh() * cap);
            if let Some(slopes) = slopes.as_deref_mut() {
                let dst = &mut slopes[i * t + c0 + lo..i * t + c0 + hi];
                dst.iter_mut().zip(&row[lo..hi]).for_each(|(d, &v)| *d = T::one() - (v / cap) * (v / cap));
            }
        }
        let max = row[lo..hi].iter().copied().fold(T::neg_infinity(), Float::max);
        row[lo..hi].iter_mut().for_each(|v| *v = (*v - max).kexp());
        let inv = row[lo..hi].iter().fold(T::zero(), |acc, &e| acc + e).recip();
        row[lo..hi].iter_mut().for_each(|v| *v *= inv);
        row[..lo].fill(T::zero());
        row[hi..].fill(T::zero());
    }
}

/// The forward pass: each (batch, query head) in parallel.
pub(crate) fn forward<T: WithDType + Float + KernelExp>(g: &Geometry, q: &[T], k: &[T], v: &[T]) -> Vec<T> {
    let (t, d, scale) = (g.t, g.d, T::from_f64(g.scoring.scale));
    uninit_output::<T>(q.len(), |out| {
        let out = SharedMut::new(out);
        (0..g.b * g.nh).into_par_iter().for_each_init(
            || vec![T::zero(); t * t],
            |p, item| {
                let (bi, h) = (item / g.nh, item % g.nh);
                let kvh = h / g.group();
                for (r0, r1, c0) in g.blocks() {
                    // SAFETY: offsets stay inside q, k, v and the output (same
                    // size as q); this item alone writes head h of batch bi.
                    unsafe {
                        probabilities(g, q.as_ptr(), k.as_ptr(), (bi, h), (r0, r1, c0), scale, p, None);
                        let probs = rows(p.as_ptr(), r0 * t + c0, t);
                        let vs = rows(v.as_ptr(), g.kv_at(bi, kvh) + c0 * g.kv_row(), g.kv_row());
                        let dst = out.at(g.q_at(bi, h) + r0 * g.q_row());
                        gemm_raw(r1 - r0, d, r1 - c0, dst, g.q_row() as isize, probs, vs, T::one(), false, false);
                    }
                }
            },
        );
    })
}

/// The backward pass: each (batch, key/value head) in parallel, its query
/// heads in turn. Returns `dq`, `dk`, `dv` in one buffer, in that order.
pub(crate) fn backward<T: WithDType + Float + KernelExp>(g: &Geometry, (q, k, v): (&[T], &[T], &[T]), out: &[T], grad: &[T]) -> Vec<T> {
    let (t, d, scale) = (g.t, g.d, T::from_f64(g.scoring.scale));
    // The soft cap's slopes, where there is one.
    let slope_len = if g.scoring.softcap.is_some() { t * t } else { 0 };
    let mut all = vec![T::zero(); q.len() + 2 * k.len()];
    let base = SharedMut::new(&mut all);
    let (dq_at, dk_at, dv_at) = (0, q.len(), q.len() + k.len());
    (0..g.b * g.nkv).into_par_iter().for_each_init(
        || (vec![T::zero(); t * t], vec![T::zero(); t * t], vec![T::zero(); slope_len]),
        |(p, ds, slopes), item| {
            let (bi, kvh) = (item / g.nkv, item % g.nkv);
            let kv = g.kv_at(bi, kvh);
            for h in kvh * g.group()..(kvh + 1) * g.group() {
                let qh = g.q_at(bi, h);
                for (r0, r1, c0) in g.blocks() {
                    let (m, n) = (r1 - r0, r1 - c0);
                    // SAFETY: offsets stay inside the tensors; this item alone
                    // writes key/value head kvh of batch bi and its query heads.
                    unsafe {
                        let capped = (!slopes.is_empty()).then_some(&mut slopes[..]);
                        probabilities(g, q.as_ptr(), k.as_ptr(), (bi, h), (r0, r1, c0), scale, p, capped);
                        // dP = dO V^T
                        let go = rows(grad.as_ptr(), qh + r0 * g.q_row(), g.q_row());
                        let vt = cols(v.as_ptr(), kv + c0 * g.kv_row(), g.kv_row());
                        gemm_raw(m, n, d, ds[r0 * t + c0..].as_mut_ptr(), t as isize, go, vt, T::one(), false, false);
                        // dS = P (dP - rowsum(dO * O)) * scale (times the cap's slope), in place
                        for i in r0..r1 {
                            let o = qh + i * g.q_row();
                            let dot = (0..d).fold(T::zero(), |acc, j| acc + grad[o + j] * out[o + j]);
                            for j in c0..r1 {
                                ds[i * t + j] = p[i * t + j] * (ds[i * t + j] - dot) * scale;
                            }
                            if !slopes.is_empty() {
                                let lo = first_visible(i, g.scoring.window).max(c0);
                                (lo..=i).for_each(|j| ds[i * t + j] *= slopes[i * t + j]);
                            }
                        }
                        // dV += P^T dO;  dQ = dS K;  dK += dS^T Q
                        let pt = cols(p.as_ptr(), r0 * t + c0, t);
                        gemm_raw(n, d, m, base.at(dv_at + kv + c0 * g.kv_row()), g.kv_row() as isize, pt, go, T::one(), true, false);
                        let dsr = rows(ds.as_ptr(), r0 * t + c0, t);
                        let ks = rows(k.as_ptr(), kv + c0 * g.kv_row(), g.kv_row());
                        gemm_raw(m, d, n, base.at(dq_at + qh + r0 * g.q_row()), g.q_row() as isize, dsr, ks, T::one(), false, false);
                        let dst = cols(ds.as_ptr(), r0 * t + c0, t);
                        let qs = rows(q.as_ptr(), qh + r0 * g.q_row(), g.q_row());
                        gemm_raw(n, d, m, base.at(dk_at + kv + c0 * g.kv_row()), g.kv_row() as isize, dst, qs, T::one(), true, false);
                    }
                }
            }
        },
    );
    all
}

/// The fused forward; arguments `q`, `k`, `v`.
struct Attention {
    heads: Heads,
    scoring: Scoring,
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        lq: &Layout,
        k: &CpuStorage,
        lk: &Layout,
        v: &CpuStorage,
        lv: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType + Float + KernelExp>(
            op: &Attention,
            q: &CpuStorage,
            lq: &Layout,
            k: &CpuStorage,
            lk: &Layout,
            v: &CpuStorage,
            lv: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let g = Geometry::new(lq, lk, op.heads, op.scoring)?;
            let (q, k, v) = (slice::<T>(q, lq, OP, "q")?, slice::<T>(k, lk, OP, "k")?, slice::<T>(v, lv, OP, "v")?);
            Ok((T::to_cpu_storage_owned(forward(&g, q, k, v)), lq.shape().clone()))
        }
        by_dtype!(q.dtype(), OP, run(self, q, lq, k, lk, v, lv))
    }

    fn bwd(
        &self,
        q: &Tensor,
        k: &Tensor,
        v: &Tensor,
        out: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let op = AttentionGrad { heads: self.heads, scoring: self.scoring, out: out.detach(), grad: grad.detach().contiguous()? };
        let all = q.detach().apply_op3_no_bwd(&k.detach(), &v.detach(), &op)?;
        let (nq, nk) = (q.elem_count(), k.elem_count());
        let part = |start: usize, len: usize, like: &Tensor| all.narrow(0, start, len)?.reshape(like.shape());
        let wanted = |x: &Tensor, g: Result<Tensor>| if x.track_op() { g.map(Some) } else { Ok(None) };
        Ok((wanted(q, part(0, nq, q))?, wanted(k, part(nq, nk, k))?, wanted(v, part(nq + nk, nk, v))?))
    }
}

/// The fused backward; arguments `q`, `k`, `v`; output `dq`, `dk`, `dv`
/// flattened one after the other.
struct AttentionGrad {
    heads: Heads,
    scoring: Scoring,
    out: Tensor,
    grad: Tensor,
}

impl CustomOp3 for AttentionGrad {
    fn name(&self) -> &'static str {
        "attention-grad"
    }

    fn cpu_fwd(
        &self,
        q: &CpuStorage,
        lq: &Layout,
        k: &CpuStorage,
        lk: &Layout,
        v: &CpuStorage,
        lv: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        fn run<T: WithDType + Float + KernelExp>(
            op: &AttentionGrad,
            q: &CpuStorage,
            lq: &Layout,
            k: &CpuStorage,
            lk: &Layout,
            v: &CpuStorage,
            lv: &Layout,
        ) -> Result<(CpuStorage, Shape)> {
            let g = Geometry::new(lq, lk, op.heads, op.scoring)?;
            let (q, k, v) = (slice::<T>(q, lq, OP, "q")?, slice::<T>(k, lk, OP, "k")?, slice::<T>(v, lv, OP, "v")?);
            let (out, grad) = (op.out.storage_and_layout(), op.grad.storage_and_layout());
            let (out, grad) = (held::<T>(&out, OP, "output")?, held::<T>(&grad, OP, "output gradient")?);
            if out.len() != q.len() || grad.len() != q.len() {
                return Err(candle_core::Error::Msg(format!("{OP}: output or gradient is not shaped like q")));
            }
            let all = backward(&g, (q, k, v), out, grad);
            let len = all.len();
            Ok((T::to_cpu_storage_owned(all), Shape::from(len)))
        }
        by_dtype!(q.dtype(), OP, run(self, q, lq, k, lk, v, lv))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Var};

    use super::*;
    use crate::testing::assert_same;

    /// Two row blocks (t > BLOCK), two query heads per key/value head; with
    /// and without a window, with and without a soft cap (Gemma 2) small
    /// enough to bend the scores.
    #[test]
    fn fused_matches_composed_forward_and_backward() {
        let t = BLOCK + 6;
        for (window, softcap) in [(None, None), (Some(5), None), (Some(BLOCK + 1), None), (None, Some(0.8)), (Some(7), Some(1.5))] {
            let var = |heads: usize| Var::from_tensor(&Tensor::randn(0f64, 1.0, (2, t, heads * 8), &Device::Cpu).unwrap()).unwrap();
            let (q, k, v) = (var(4), var(2), var(2));
            let mask = causal_mask(t, window, DType::F64, &Device::Cpu).unwrap();
            let heads = Heads { q: 4, kv: 2 };
            let scoring = Scoring { scale: 1.0 / 8f64.sqrt(), softcap, window };
            assert_same(
                &[&q, &k, &v],
                |x| attention(x[0], x[1], x[2], heads, scoring, &mask).unwrap(),
                |x| composed(x[0], x[1], x[2], heads, scoring, &mask).unwrap(),
            );
        }
    }

    #[test]
    fn mask_hides_future_and_outside_window() {
        let m = causal_mask(4, Some(2), DType::F32, &Device::Cpu).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(m[0][1], f32::NEG_INFINITY);
        assert_eq!(m[3][3], 0.0);
        assert_eq!(m[3][2], 0.0);
        assert_eq!(m[3][1], f32::NEG_INFINITY);
    }

    #[test]
    fn heads_that_do_not_share_evenly_are_an_error() {
        let x = |heads: usize| Tensor::zeros((1, 3, heads * 4), DType::F32, &Device::Cpu).unwrap();
        let mask = causal_mask(3, None, DType::F32, &Device::Cpu).unwrap();
        let scoring = Scoring { scale: 1.0, softcap: None, window: None };
        let err = attention(&x(3), &x(2), &x(2), Heads { q: 3, kv: 2 }, scoring, &mask).unwrap_err().to_string();
        assert!(err.contains("3 query heads cannot share 2"), "{err}");
    }
}
