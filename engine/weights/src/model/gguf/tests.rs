//! Import of tiny GGUF files written as llama.cpp would: exact round trips in
//! F32, bounded error for quantised types, the tokenizer, and the errors.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::quantized::GgmlDType;
use candle_core::quantized::gguf_file::Content;
use candle_core::{DType, Device, Tensor};

use super::fixture::{self, Fixture};
use super::metadata::Meta;
use super::tensors::{permute, read_f32, reverse_permute};
use super::{ImportReport, import};
use crate::model::testing::max_diff;
use crate::model::{Model, ModelConfig, Pass};

/// Writes the fixture, imports it with `dtype`; returns (original model, output dir, report).
fn import_fixture(dir: &Path, fx: &Fixture, dtype: DType) -> (Model, PathBuf, ImportReport) {
    let gguf = dir.join("tiny.gguf");
    let original = fixture::write(&gguf, fx).unwrap();
    let out = dir.join("imported");
    let report = import(&gguf, &out, dtype, |_, _| {}).unwrap();
    (original, out, report)
}

fn import_err(fx: &Fixture) -> String {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("bad.gguf");
    fixture::write(&gguf, fx).unwrap();
    let out = dir.path().join("out");
    let err = import(&gguf, &out, DType::F32, |_, _| {}).unwrap_err().to_string();
    assert!(!out.exists(), "a failed import left {}", out.display());
    assert!(err.contains("bad.gguf"), "the error does not name the file: {err}");
    err
}

fn logits(model: &Model) -> Tensor {
    let ids = Tensor::new(&[[1u32, 40, 77, 200, 3, 9, 261, 2]], &Device::Cpu).unwrap();
    model.forward(&ids, Pass::Eval).unwrap()
}

fn max_abs(t: &Tensor) -> f64 {
    t.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

#[test]
fn a_tensor_of_known_content_reads_in_row_major_order() {
    // A hand-written GGUF v3 file: one F32 tensor with ggml dims ne = [3, 2]
    // (3 is the fastest-varying, the input features of a weight), data 0..6.
    let mut b = Vec::new();
    b.extend(b"GGUF");
    b.extend(3u32.to_le_bytes());
    b.extend(1u64.to_le_bytes()); // tensors
    b.extend(0u64.to_le_bytes()); // metadata entries
    b.extend(1u64.to_le_bytes());
    b.extend(b"t");
    b.extend(2u32.to_le_bytes());
    b.extend(3u64.to_le_bytes());
    b.extend(2u64.to_le_bytes());
    b.extend(0u32.to_le_bytes()); // F32
    b.extend(0u64.to_le_bytes()); // offset
    b.resize(b.len().div_ceil(32) * 32, 0);
    for v in 0..6 {
        b.extend((v as f32).to_le_bytes());
    }
    let mut r = std::io::Cursor::new(b);
    let content = Content::read(&mut r).unwrap();
    let md = HashMap::new();
    let t = read_f32(&content, &mut r, "t", &Meta::new(&md, Path::new("known.gguf"))).unwrap();
    assert_eq!(t.to_vec2::<f32>().unwrap(), vec![vec![0.0, 1.0, 2.0], vec![3.0, 4.0, 5.0]]);
}

#[test]
fn the_q_k_permutation_is_llama_cpps_and_is_undone() {
    // numpy: np.arange(6).reshape(1, 2, 3, 1).swapaxes(1, 2).reshape(6) = [0, 3, 1, 4, 2, 5]
    let rows = |v: &[f32]| Tensor::from_slice(v, (v.len(), 1), &Device::Cpu).unwrap();
    let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
    let w = rows(&[0., 1., 2., 3., 4., 5.]);
    assert_eq!(flat(&permute(&w, 1).unwrap()), vec![0., 3., 1., 4., 2., 5.]);
    assert_eq!(flat(&reverse_permute(&rows(&[0., 3., 1., 4., 2., 5.]), 1).unwrap()), vec![0., 1., 2., 3., 4., 5.]);
    // Two heads of width 4: each head's halves interleaved separately.
    let w = rows(&[0., 1., 2., 3., 4., 5., 6., 7.]);
    assert_eq!(flat(&permute(&w, 2).unwrap()), vec![0., 2., 1., 3., 4., 6., 5., 7.]);
    let w = Tensor::randn(0f32, 1.0, (24, 5), &Device::Cpu).unwrap();
    assert_eq!(max_diff(&reverse_permute(&permute(&w, 3).unwrap(), 3).unwrap(), &w), 0.0);
    assert!(reverse_permute(&w, 5).is_err());
}

/// Every tensor equal to the original exactly, the model loading, and its
/// logits equal to the original's.
fn assert_exact_round_trip(fx: &Fixture) {
    let dir = tempfile::tempdir().unwrap();
    let (mut original, out, report) = import_fixture(dir.path(), fx, DType::F32);
    let imported = crate::model::weights::load_model_dir(&out, DType::F32, &Device::Cpu).unwrap();
    let want = original.hf_tensors().unwrap();
    assert_eq!(imported.len(), want.len());
    for (name, t) in &want {
        let got = imported.get(name).unwrap_or_else(|| panic!("{name} not imported"));
        assert_eq!(got.dims(), t.dims(), "{name}");
        assert_eq!(max_diff(got, t), 0.0, "{name} differs");
    }
    let config = ModelConfig::load(&out).unwrap();
    assert_eq!(config.model_type, fx.architecture);
    assert_eq!(config.architectures, vec![original.config.architectures[0].clone()]);
    assert_eq!(config.rms_norm_eps, 1e-5);
    assert_eq!(config.rope_theta, 10_000.0);
    assert_eq!(config.head_dim(), fx.head_dim);
    assert_eq!(config.head_dim.is_some(), fx.head_dim * 4 != fx.hidden_size || fx.architecture == "qwen3");
    assert_eq!(config.tie_word_embeddings, fx.tied);
    assert_eq!((config.bos_token_id, config.eos_token_id), (Some(1), Some(2)));
    assert_eq!(config.num_parameters(), report.parameters);
    let model = Model::load(&out, DType::F32, &Device::Cpu).unwrap();
    crate::model::tokenizer::load(&out, &model.config).unwrap();
    assert_eq!(max_diff(&logits(&model), &logits(&original)), 0.0);
    assert_eq!(report.architecture, fx.architecture);
    assert_eq!(report.tied_embeddings, fx.tied);
    let biases = if fx.architecture == "qwen2" { 2 * 3 } else { 0 };
    let qk_norms = if fx.architecture == "qwen3" { 2 * 2 } else { 0 };
    assert_eq!(report.tensor_types.get("F32"), Some(&(2 * 9 + 2 + usize::from(!fx.tied) + biases + qk_norms)));
}

#[test]
fn f32_import_round_trips_every_tensor_exactly_and_the_logits() {
    assert_exact_round_trip(&Fixture::default());
}

/// Qwen2: q/k/v biases, and rows not permuted (llama.cpp permutes Llama's only).
#[test]
fn qwen2_with_biases_round_trips_exactly() {
    assert_exact_round_trip(&Fixture { architecture: "qwen2".into(), ..Fixture::default() });
}

/// Qwen3: per-head q/k norms (`attn_q_norm`, `attn_k_norm`), rows not permuted.
#[test]
fn qwen3_with_q_k_norms_round_trips_exactly() {
    assert_exact_round_trip(&Fixture { architecture: "qwen3".into(), head_dim: 16, ..Fixture::default() });
}

#[test]
fn tied_embeddings_and_a_head_dim_other_than_hidden_over_heads_round_trip() {
    assert_exact_round_trip(&Fixture { tied: true, head_dim: 16, ..Fixture::default() });
}

/// Imports `fx` with weights of a quantised type; every tensor within
/// `rel * max |w|` of the original, logits within `logit_rel * max |logit|`.
fn assert_close_round_trip(fx: &Fixture, dtype: DType, rel: f64, logit_rel: f64) {
    let dir = tempfile::tempdir().unwrap();
    let (mut original, out, report) = import_fixture(dir.path(), fx, dtype);
    let name = super::tensors::type_name(fx.weight_type);
    let matrices = 2 * 7 + 1 + usize::from(!fx.tied);
    let count = if fx.weight_type == GgmlDType::F32 { matrices + 2 * 2 + 1 } else { matrices };
    assert_eq!(report.tensor_types.get(name), Some(&count), "{:?}", report.tensor_types);
    let imported = crate::model::weights::load_model_dir(&out, DType::F32, &Device::Cpu).unwrap();
    for (name, t) in original.hf_tensors().unwrap() {
        let d = max_diff(&imported[&name], &t);
        assert!(d <= rel * max_abs(&t), "{name}: differs by {d}, bound {}", rel * max_abs(&t));
    }
    let model = Model::load(&out, DType::F32, &Device::Cpu).unwrap();
    let (got, want) = (logits(&model), logits(&original));
    let d = max_diff(&got, &want);
    assert!(d <= logit_rel * max_abs(&want), "logits differ by {d} (largest logit {})", max_abs(&want));
}

#[test]
fn q8_0_import_is_within_the_quantisation_error() {
    // Q8_0 rounds each value to a step of (block max) / 127, at most half a step
    // off, and stores the step as f16 (relative error 2^-11, times up to 127 steps).
    let bound = 0.5 / 127.0 + 1.0 / 1024.0;
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q8_0, ..Fixture::default() }, DType::F32, bound, 0.02);
}

#[test]
fn f16_q4_0_q4_1_import_and_bf16_output() {
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::F16, ..Fixture::default() }, DType::F32, 1e-3, 1e-3);
    // 4-bit: 16 levels per block. Q4_0: a step of max / 8, with -8..7 levels,
    // so the side opposite the block's largest value is clipped at 7/8 of it;
    // Q4_1: a step of range / 15.
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q4_0, ..Fixture::default() }, DType::F32, 0.13, 0.3);
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q4_1, tied: true, ..Fixture::default() }, DType::F32, 0.07, 0.3);
    // bf16 keeps 8 significant bits.
    assert_close_round_trip(&Fixture::default(), DType::BF16, 1.0 / 256.0, 0.01);
    let dir = tempfile::tempdir().unwrap();
    let (_, out, report) = import_fixture(dir.path(), &Fixture::default(), DType::BF16);
    assert_eq!(report.dtype, "bfloat16");
    assert_eq!(ModelConfig::load(&out).unwrap().torch_dtype.as_deref(), Some("bfloat16"));
    let raw = crate::model::weights::load_file(&out.join("model.safetensors"), DType::F32, &Device::Cpu).unwrap();
    let bytes = std::fs::read(out.join("model.safetensors")).unwrap();
    assert!(String::from_utf8_lossy(&bytes[..2000.min(bytes.len())]).contains("BF16"), "{}", raw.len());
}

#[test]
fn k_quant_import_q2_k_to_q6_k() {
    // K-quants pack 256 values per block: rows must be 256 wide.
    let wide = Fixture { hidden_size: 256, intermediate_size: 512, head_dim: 64, ..Fixture::default() };
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q6K, ..wide.clone() }, DType::F32, 0.05, 0.1);
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q5K, ..wide.clone() }, DType::F32, 0.08, 0.2);
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q4K, ..wide.clone() }, DType::F32, 0.15, 0.5);
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q3K, ..wide.clone() }, DType::F32, 0.3, 1.0);
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q2K, ..wide }, DType::F32, 0.6, 2.0);
}

/// 5-bit blocks of 32 (what a Q4_K_M file holds where a row is not 256 wide,
/// as in Gemma 3 270M) and BF16 files.
#[test]
fn q5_0_q5_1_and_bf16_import() {
    // 32 levels per block: Q5_0 a step of max / 16 (-16..15, the far side
    // clipped at 15/16 of the largest value), Q5_1 a step of range / 31.
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q5_0, ..Fixture::default() }, DType::F32, 0.07, 0.15);
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::Q5_1, ..Fixture::default() }, DType::F32, 0.035, 0.15);
    // bf16 keeps 8 significant bits.
    assert_close_round_trip(&Fixture { weight_type: GgmlDType::BF16, ..Fixture::default() }, DType::F32, 1.0 / 256.0, 0.01);
}

#[test]
fn progress_counts_every_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    fixture::write(&gguf, &Fixture::default()).unwrap();
    let mut seen = Vec::new();
    import(&gguf, &dir.path().join("out"), DType::F32, |done, total| seen.push((done, total))).unwrap();
    assert_eq!(seen.len(), 2 * 9 + 3);
    assert_eq!(seen.last(), Some(&(21, 21)));
}

/// An import or export run as a job stops at the next tensor once cancelled,
/// and writes nothing; uncancelled, the same requests convert.
#[test]
fn cancelled_conversions_write_nothing() {
    use crate::cancel::CancelFlag;
    use crate::model::gguf::export::{ExportRequest, ExportType};
    let dir = tempfile::tempdir().unwrap();
    let gguf = dir.path().join("tiny.gguf");
    fixture::write(&gguf, &Fixture::default()).unwrap();
    let import = super::ImportRequest { file: gguf, out: dir.path().join("model"), dtype: DType::F32 };
    let cancel = CancelFlag::new();
    let mut steps = 0;
    let err = import.run(&cancel, |_, _| {
        steps += 1;
        cancel.set();
    });
    assert!(matches!(err, Err(crate::error::Error::Cancelled)), "{err:?}");
    assert_eq!(steps, 1, "went on after the cancel");
    assert!(!import.out.exists(), "a cancelled import wrote its folder");
    import.run(&CancelFlag::new(), |_, _| {}).unwrap();
    let export = ExportRequest { model: import.out.clone(), adapter: None, out: dir.path().join("back.gguf"), ty: ExportType::F16 };
    let cancelled = CancelFlag::new();
    cancelled.set();
    assert!(matches!(export.run(&cancelled, |_, _| {}), Err(crate::error::Error::Cancelled)));
    assert!(!export.out.exists(), "a cancelled export wrote its file");
    export.run(&CancelFlag::new(), |_, _| {}).unwrap();
    assert!(export.out.is_file());
}

#[test]
fn an_unsupported_architecture_is_named_with_the_supported_ones() {
    let err = import_err(&Fixture { architecture: "falcon".into(), ..Fixture::default() });
    assert!(err.contains("\"falcon\"") && err.contains("llama, qwen2, qwen3, phi3, gemma2, gemma3"), "{err}");
}

#[test]
fn mistral_architecture_is_written_as_mistral() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, report) = import_fixture(dir.path(), &Fixture { architecture: "mistral".into(), ..Fixture::default() }, DType::F32);
    let config = ModelConfig::load(&out).unwrap();
    assert_eq!((config.model_type.as_str(), report.architecture.as_str()), ("mistral", "mistral"));
    assert_eq!(config.architectures, vec!["MistralForCausalLM".to_string()]);
}

#[test]
fn a_missing_tensor_is_named() {
    let err = import_err(&Fixture { drop_tensor: Some("blk.1.ffn_down.weight".into()), ..Fixture::default() });
    assert!(err.contains("blk.1.ffn_down.weight") && err.contains("model.layers.1.mlp.down_proj.weight"), "{err}");
}

#[test]
fn an_unsupported_tensor_type_is_named_with_its_tensor() {
    let err = import_err(&Fixture { weight_type: GgmlDType::Q8_1, ..Fixture::default() });
    assert!(err.contains("type Q8_1") && err.contains("blk.0.") && err.contains("Q4_K"), "{err}");
}

#[test]
fn bad_paths_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.gguf");
    let err = import(&missing, &dir.path().join("out"), DType::F32, |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("missing.gguf") && err.contains("cannot open"), "{err}");

    let not_gguf = dir.path().join("notes.gguf");
    std::fs::File::create(&not_gguf).unwrap().write_all(b"this is not a gguf file at all, just text").unwrap();
    let err = import(&not_gguf, &dir.path().join("out"), DType::F32, |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("notes.gguf") && err.contains("not a readable GGUF file"), "{err}");

    let gguf = dir.path().join("tiny.gguf");
    fixture::write(&gguf, &Fixture::default()).unwrap();
    let taken = dir.path().join("taken");
    std::fs::create_dir(&taken).unwrap();
    std::fs::write(taken.join("keep.txt"), "mine").unwrap();
    let err = import(&gguf, &taken, DType::F32, |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("taken") && err.contains("not empty"), "{err}");
    assert_eq!(std::fs::read_to_string(taken.join("keep.txt")).unwrap(), "mine");
    // An empty folder is fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    import(&gguf, &empty, DType::F32, |_, _| {}).unwrap();
    assert!(empty.join("model.safetensors").is_file());
    assert!(import(&gguf, &dir.path().join("x"), DType::F16, |_, _| {}).is_err());
}

#[test]
fn rope_freqs_of_ones_are_ignored_and_others_refused() {
    use candle_core::quantized::QTensor;
    use candle_core::quantized::gguf_file::{self, Value};
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("tiny.gguf");
    fixture::write(&src, &Fixture::default()).unwrap();
    // Rewrite the file with an extra rope_freqs.weight.
    let with = |values: Vec<f32>, name: &str| -> PathBuf {
        let mut r = std::fs::File::open(&src).unwrap();
        let content = Content::read(&mut r).unwrap();
        let md: Vec<(&str, &Value)> = content.metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
        let mut ts: Vec<(String, QTensor)> =
            content.tensor_infos.keys().map(|n| (n.clone(), content.tensor(&mut r, n, &Device::Cpu).unwrap())).collect();
        let freqs = Tensor::from_vec(values, 4, &Device::Cpu).unwrap();
        ts.push(("rope_freqs.weight".into(), QTensor::quantize(&freqs, GgmlDType::F32).unwrap()));
        let refs: Vec<(&str, &QTensor)> = ts.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let path = dir.path().join(name);
        gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &md, &refs).unwrap();
        path
    };
    let ones = with(vec![1.0; 4], "ones.gguf");
    import(&ones, &dir.path().join("a"), DType::F32, |_, _| {}).unwrap();
    let scaled = with(vec![1.0, 1.0, 4.0, 8.0], "scaled.gguf");
    let err = import(&scaled, &dir.path().join("b"), DType::F32, |_, _| {}).unwrap_err().to_string();
    assert!(err.contains("rope_freqs.weight") && err.contains("not supported"), "{err}");
}

/// The byte-level BPE tokenizer of the fixture's vocabulary built directly
/// with the tokenizers crate, with transformers' settings for a `gpt2` GGUF.
fn reference_tokenizer() -> tokenizers::Tokenizer {
    use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
    use tokenizers::models::bpe::{BPE, Vocab};
    use tokenizers::pre_tokenizers::byte_level::ByteLevel;
    use tokenizers::{AddedToken, DecoderWrapper, PreTokenizerWrapper, Tokenizer};
    let (tokens, merges, _) = fixture::vocab();
    let vocab: Vocab = tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
    let merges = merges.iter().map(|m| m.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())).unwrap()).collect();
    let mut tok = Tokenizer::new(BPE::builder().vocab_and_merges(vocab, merges).build().unwrap());
    tok.with_pre_tokenizer(Some(PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, true))));
    tok.with_decoder(Some(DecoderWrapper::ByteLevel(ByteLevelDecoder::default())));
    tok.add_special_tokens(fixture::SPECIALS.iter().map(|s| AddedToken::from(*s, true))).unwrap();
    tok
}

#[test]
fn the_imported_tokenizer_encodes_as_a_byte_level_bpe_of_the_same_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, report) = import_fixture(dir.path(), &Fixture::default(), DType::F32);
    let (tokens, _, _) = fixture::vocab();
    assert_eq!(report.vocab_size, tokens.len());
    let config = ModelConfig::load(&out).unwrap();
    let tok = crate::model::tokenizer::load(&out, &config).unwrap();
    let reference = reference_tokenizer();
    let texts = [
        "Hello world",
        "the  world   in 12345 apples\n\ttabs",
        "Hello café, naïve 日本語 🙂",
        " leading space and trailing ",
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    ];
    for text in texts {
        let got = tok.encode(text, false).unwrap();
        let want = reference.encode(text, false).unwrap();
        assert_eq!(got.get_ids(), want.get_ids(), "{text:?}");
        assert_eq!(tok.decode(got.get_ids(), false).unwrap(), text, "decoding {text:?}");
        // No post-processor adds tokens.
        assert_eq!(tok.encode(text, true).unwrap().get_ids(), got.get_ids(), "{text:?}");
    }
    // Merges applied: spaces as Ġ, é's two bytes merged, digits in the pairs the merges make.
    let pieces = |text: &str| tok.encode(text, false).unwrap().get_tokens().to_vec();
    assert_eq!(pieces("Hello world café"), ["Hello", "Ġworld", "Ġ", "cafÃ©"]);
    assert_eq!(pieces("12345"), ["12", "3", "4", "5"]);
    // Control tokens are single, special ids.
    let chat = tok.encode("<|im_start|>user\nHi<|im_end|>", false).unwrap();
    assert_eq!(chat.get_ids().first(), Some(&1));
    assert_eq!(chat.get_ids().last(), Some(&2));
    assert_eq!(tok.token_to_id("<|im_start|>"), Some(1));
    assert_eq!(tok.token_to_id("<|im_end|>"), Some(2));
    assert_eq!(tok.decode(chat.get_ids(), true).unwrap(), "user\nHi");

    let tc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("tokenizer_config.json")).unwrap()).unwrap();
    assert_eq!(tc["bos_token"], "<|im_start|>");
    assert_eq!(tc["eos_token"], "<|im_end|>");
    assert_eq!(tc["pad_token"], "<|im_end|>");
    assert_eq!(tc["unk_token"], "<|endoftext|>");
    assert_eq!(tc["chat_template"], fixture::CHAT_TEMPLATE);
    let gc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("generation_config.json")).unwrap()).unwrap();
    assert_eq!((gc["bos_token_id"].as_u64(), gc["eos_token_id"].as_u64()), (Some(1), Some(2)));
}

/// A `qwen2` pre-tokenizer: Qwen2's split (single digits, so the `1 2` merge
/// never applies), as transformers' GGUF loader sets it (without Qwen2's NFC
/// normaliser, which a GGUF file does not carry).
#[test]
fn the_qwen2_pre_tokenizer_splits_digits() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, _) = import_fixture(dir.path(), &Fixture { architecture: "qwen2".into(), ..Fixture::default() }, DType::F32);
    let config = ModelConfig::load(&out).unwrap();
    let tok = crate::model::tokenizer::load(&out, &config).unwrap();
    let pieces = |text: &str| tok.encode(text, false).unwrap().get_tokens().to_vec();
    assert_eq!(pieces("12345"), ["1", "2", "3", "4", "5"]);
    assert_eq!(pieces("Hello world"), ["Hello", "Ġworld"]);
}

/// A SentencePiece vocabulary (Mistral, Llama 2 files) tokenises as
/// transformers 5.24 tokenises the same GGUF vocabulary
/// (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`; the ids below were
/// printed by it for `fixture::sentencepiece_vocab`, and `scripts/proof.py`
/// repeats the comparison): merges recovered from the scores, byte fallback,
/// `▁` prepended to the first word only, BOS added, control tokens whole.
#[test]
fn a_sentencepiece_vocabulary_tokenises_as_transformers_does() {
    let dir = tempfile::tempdir().unwrap();
    let (_, out, _) = import_fixture(dir.path(), &Fixture { sentencepiece: true, ..Fixture::default() }, DType::F32);
    let config = ModelConfig::load(&out).unwrap();
    let tok = crate::model::tokenizer::load(&out, &config).unwrap();
    let cases: [(&str, &[u32]); 4] = [
        ("Hello world", &[1, 273, 278]),
        ("  Hello the world", &[1, 259, 273, 281, 278]),
        ("[INST] Hello [/INST]", &[1, 284, 273, 259, 285]),
        ("héllo ☃", &[1, 259, 268, 198, 172, 261, 271, 259, 229, 155, 134]),
    ];
    for (text, want) in cases {
        let got = tok.encode(text, true).unwrap();
        assert_eq!(got.get_ids(), want, "{text:?}: {:?}", got.get_tokens());
        // The decoder strips the one space SentencePiece prepends (a leading space of the text goes with it, as in transformers).
        assert_eq!(tok.decode(&got.get_ids()[1..], false).unwrap(), text.strip_prefix(' ').unwrap_or(text), "decoding {text:?}");
    }
    let tc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("tokenizer_config.json")).unwrap()).unwrap();
    assert_eq!((tc["bos_token"].as_str(), tc["add_bos_token"].as_bool()), (Some("<s>"), Some(true)));
    // Without scores the merges cannot be recovered: named.
    let err = {
        use candle_core::quantized::QTensor;
        use candle_core::quantized::gguf_file::{self, Value};
        let src = dir.path().join("tiny.gguf");
        let mut r = std::fs::File::open(&src).unwrap();
        let content = Content::read(&mut r).unwrap();
        let md: Vec<(&str, &Value)> =
            content.metadata.iter().filter(|(k, _)| *k != "tokenizer.ggml.scores").map(|(k, v)| (k.as_str(), v)).collect();
        let ts: Vec<(String, QTensor)> =
            content.tensor_infos.keys().map(|n| (n.clone(), content.tensor(&mut r, n, &Device::Cpu).unwrap())).collect();
        let refs: Vec<(&str, &QTensor)> = ts.iter().map(|(n, t)| (n.as_str(), t)).collect();
        let path = dir.path().join("noscores.gguf");
        gguf_file::write(&mut std::fs::File::create(&path).unwrap(), &md, &refs).unwrap();
        import(&path, &dir.path().join("out2"), DType::F32, |_, _| {}).unwrap_err().to_string()
    };
    assert!(err.contains("noscores.gguf") && err.contains("tokenizer.ggml.scores"), "{err}");
}
