//! Quantized weights for inference: each projection and the output layer as
//! candle's GGML blocks (Q8_0: 8-bit, or Q4_0: 4-bit, one scale per 32
//! weights), multiplied by candle's quantized kernels, as llama.cpp and
//! Story A's 8-bit serving do. The f32 weights are dropped, so the model
//! takes about a quarter (Q8_0) or an eighth (Q4_0) of their memory; the
//! embedding stays f32 (a lookup reads one row). Norms, biases and LoRA
//! adapters (applied unmerged on top) stay f32. A quantized model generates
//! and evaluates; it cannot be trained, merged or saved.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Module, Result, Tensor};

use super::Model;
use crate::linear::Linear;

/// Which quantized format inference weights take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Quantization {
    /// 8-bit blocks (llama.cpp's Q8_0): nearly lossless.
    Q8_0,
    /// 4-bit blocks (llama.cpp's Q4_0).
    Q4_0,
}

impl Quantization {
    /// `q8_0` or `q4_0` (`8bit` and `4bit` also); anything else names the choices.
    pub fn parse(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "q8_0" | "8bit" | "int8" => Ok(Self::Q8_0),
            "q4_0" | "4bit" | "int4" => Ok(Self::Q4_0),
            other => Err(format!("unknown quantization {other:?}: choose q8_0 (8-bit) or q4_0 (4-bit)")),
        }
    }

    fn ggml(self) -> GgmlDType {
        match self {
            Self::Q8_0 => GgmlDType::Q8_0,
            Self::Q4_0 => GgmlDType::Q4_0,
        }
    }
}

impl std::fmt::Display for Quantization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Q8_0 => "q8_0",
            Self::Q4_0 => "q4_0",
        })
    }
}

/// Input width padding for candle's tiled AVX-512 VNNI kernels (Q8_0), which
/// take rows of a multiple of 256; zero weights and zero inputs add nothing.
pub(crate) fn padded_width(cols: usize, q: Quantization) -> usize {
    match q {
        Quantization::Q8_0 => cols.next_multiple_of(256),
        Quantization::Q4_0 => cols,
    }
}

/// `w` quantized as `q`, and a stand-in of its shape that holds no memory
/// (one zero broadcast), so shapes still read from the layer.
fn quantized(w: &Tensor, q: Quantization) -> Result<(Arc<QMatMul>, Tensor)> {
    let block = q.ggml().block_size();
    let (rows, cols) = w.dims2()?;
    if !cols.is_multiple_of(block) {
        candle_core::bail!("cannot quantize a [{rows}, {cols}] weight to {q}: its rows must be a multiple of {block} long");
    }
    let w32 = w.to_dtype(candle_core::DType::F32)?.pad_with_zeros(1, 0, padded_width(cols, q) - cols)?;
    let qm = QMatMul::from_qtensor(QTensor::quantize(&w32, q.ggml())?)?;
    let stand_in = Tensor::zeros((1, 1), w.dtype(), w.device())?.broadcast_as((rows, cols))?;
    Ok((Arc::new(qm), stand_in))
}

impl Model {
    /// Loads the model in `dir` (on the CPU) with its projections and output
    /// layer quantized to `q` as each is read, so that only one f32 weight is
    /// in memory at a time besides the embedding (what [`Model::quantize`]
    /// after [`Model::load`] would hold all at once).
    pub fn load_quantized(dir: &std::path::Path, q: Quantization) -> crate::error::Result<Self> {
        let config = crate::ModelConfig::load(dir)?;
        let mut blocks = std::collections::HashMap::new();
        let mut quantize_projection = |name: &str, t: Tensor| -> Result<Tensor> {
            let projection = name.ends_with("_proj.weight") || (name == "lm_head.weight" && !config.tie_word_embeddings);
            if !projection {
                return Ok(t);
            }
            let (qm, stand_in) = quantized(&t, q)?;
            blocks.insert(name.to_string(), qm);
            Ok(stand_in)
        };
        let device = candle_core::Device::Cpu;
        let tensors = crate::weights::load_model_dir_with(dir, candle_core::DType::F32, &device, &mut quantize_projection)?;
        let mut model =
            Self::from_tensors(config, tensors, candle_core::DType::F32, &device).map_err(|m| crate::error::Error::model(dir, m))?;
        model.quantize_with(q, |name, w| match blocks.remove(name) {
            Some(qm) => Ok((qm, w.clone())),
            None => quantized(w, q),
        })?;
        Ok(model)
    }

    /// Replaces the projections' and output layer's weights by `q` blocks
    /// (see the module documentation). Adapters attached stay as they are.
    pub fn quantize(&mut self, q: Quantization) -> Result<()> {
        self.quantize_with(q, |_, w| quantized(w, q))
    }

    /// Sets each projection's and the output layer's quantized weight and
    /// stand-in from `quantize(Hugging Face name, weight)`.
    fn quantize_with(&mut self, q: Quantization, mut quantize: impl FnMut(&str, &Tensor) -> Result<(Arc<QMatMul>, Tensor)>) -> Result<()> {
        if let Some(done) = self.quantization {
            candle_core::bail!("the model is already quantized ({done})");
        }
        self.drop_bf16_products();
        for (i, layer) in self.layers.iter_mut().enumerate() {
            for (group, module, lin) in layer.named_linears_mut() {
                let (qm, stand_in) = quantize(&format!("model.layers.{i}.{group}.{module}.weight"), &lin.weight)?;
                lin.quantized = Some(qm);
                lin.weight = stand_in;
            }
        }
        let (qm, stand_in) = quantize("lm_head.weight", &self.lm_head)?;
        self.head_quantized = Some(qm);
        self.lm_head = if self.config.tie_word_embeddings { self.embed_tokens.clone() } else { stand_in };
        self.quantization = Some(q);
        Ok(())
    }

    /// How the weights are quantized, if they are.
    pub fn quantization(&self) -> Option<Quantization> {
        self.quantization
    }

    /// An error naming `what` for a quantized model, which can only generate and evaluate.
    pub fn full_precision(&self, what: &str) -> Result<()> {
        match self.quantization {
            Some(q) => candle_core::bail!("cannot {what}: its weights are quantized ({q}) for inference; load the model again"),
            None => Ok(()),
        }
    }

    /// The output layer's logits for `x [rows, hidden]` (normed), quantized or not.
    pub(crate) fn output_logits(&self, x: &Tensor) -> Result<Tensor> {
        let logits = match &self.head_quantized {
            Some(q) => q.forward(&pad_input(q, x)?)?,
            None => crate::kernels::projection::project(x, &self.lm_head, None)?,
        };
        self.cap_logits(logits)
    }
}

/// `x [.., k]` padded with zeros to the width of the quantized weight `q`.
pub(crate) fn pad_input(q: &QMatMul, x: &Tensor) -> Result<Tensor> {
    let width = match q {
        QMatMul::QTensor(t) => t.shape().dims2()?.1,
        QMatMul::Tensor(t) | QMatMul::TensorF16(t) => t.dims2()?.1,
    };
    let k = x.dim(candle_core::D::Minus1)?;
    if k == width { Ok(x.clone()) } else { x.pad_with_zeros(candle_core::D::Minus1, 0, width - k) }
}

impl Linear {
    /// `x W^T` through the quantized weight, plus the unmerged adapter's
    /// `scale (x A^T) B^T` (no dropout: inference only).
    pub(crate) fn forward_quantized(&self, q: &QMatMul, x: &Tensor) -> Result<Tensor> {
        let y = q.forward(&pad_input(q, x)?)?;
        match &self.lora {
            Some(l) => y + (x.broadcast_matmul(&l.a.as_tensor().t()?)? * l.scale)?.broadcast_matmul(&l.b()?.t()?)?,
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device};

    use super::*;
    use crate::Pass;
    use crate::decoder::kv_cache::KvCache;
    use crate::testing::max_diff;

    fn sample() -> Model {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample_data/model");
        Model::load(&dir, DType::F32, &Device::Cpu).unwrap()
    }

    fn ids(list: &[u32]) -> Tensor {
        Tensor::new(list, &Device::Cpu).unwrap().unsqueeze(0).unwrap()
    }

    /// 8-bit logits stay close to f32's (4-bit less so), decoding with the
    /// cache equals the quantized full pass, and the model refuses what
    /// needs full-precision weights.
    #[test]
    fn quantized_logits_follow_f32_and_decoding_matches_the_full_pass() {
        let tokens = [1u32, 45, 300, 12, 999, 7, 64, 2000, 5];
        let f32_logits = sample().forward(&ids(&tokens), Pass::Eval).unwrap();
        let scale = f64::from(f32_logits.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap());
        let top = |l: &Tensor| l.argmax(1).unwrap().to_vec1::<u32>().unwrap();
        for (q, tolerance, same_top) in [(Quantization::Q8_0, 0.05, 9), (Quantization::Q4_0, 0.3, 6)] {
            let mut model = sample();
            model.quantize(q).unwrap();
            assert_eq!(model.quantization(), Some(q));
            let logits = model.forward(&ids(&tokens), Pass::Eval).unwrap();
            let d = max_diff(&logits, &f32_logits) / scale;
            assert!(d < tolerance && d > 0.0, "{q}: relative difference {d}");
            let agree = top(&logits).iter().zip(top(&f32_logits)).filter(|(a, b)| **a == *b).count();
            assert!(agree >= same_top, "{q}: the most likely token agrees at {agree} of 9 positions");
            let mut cache = KvCache::new(&model);
            let mut steps = vec![model.forward_cached(&ids(&tokens[..3]), &mut cache).unwrap()];
            for &t in &tokens[3..] {
                steps.push(model.forward_cached(&ids(&[t]), &mut cache).unwrap());
            }
            // candle quantizes the activations per 32 or per 256 values depending on the kernel,
            // so a single-token step and the full pass differ by that rounding only.
            for (k, step) in steps.iter().enumerate() {
                let want = logits.narrow(0, 2 + k, 1).unwrap();
                let d = max_diff(step, &want) / scale;
                assert!(d < 0.02, "{q}: cached step {k} differs from the full pass by {d} (relative)");
                assert_eq!(top(step), top(&want), "{q}: cached step {k}");
            }
            assert!(model.quantize(q).unwrap_err().to_string().contains("already quantized"));
            assert!(model.merge_lora().unwrap_err().to_string().contains("quantized"));
            let dir = tempfile::tempdir().unwrap();
            let err = crate::weights::save_model_dir(&mut model, dir.path(), &dir.path().join("out")).unwrap_err();
            assert!(err.to_string().contains("quantized"), "{err}");
        }
    }

    #[test]
    fn quantization_names_parse_and_unknown_ones_list_the_choices() {
        assert_eq!(Quantization::parse("Q8_0"), Ok(Quantization::Q8_0));
        assert_eq!(Quantization::parse("4bit"), Ok(Quantization::Q4_0));
        let e = Quantization::parse("q5_k").unwrap_err();
        assert!(e.contains("q8_0") && e.contains("q4_0"), "{e}");
    }
}
