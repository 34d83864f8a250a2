//! The model against references: a fresh adapter equals the base, LoRA
//! gradients equal finite differences, checkpointed gradients equal plain
//! ones, adapters round-trip, weights load in every supported layout, and the
//! shipped model matches Hugging Face transformers' logits.

mod common;

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use engine::data::{Dataset, conversation::parse_line};
use engine::model::decoder::backprop::accumulate;
use engine::model::{LoraSpec, Model, Pass, weights};
use engine::train::gradients::GradAccumulator;

fn all_linear(rank: usize, dropout: f64) -> LoraSpec {
    LoraSpec { rank, alpha: 2.0 * rank as f64, dropout, targets: engine::config::LINEAR_MODULES.iter().map(|s| s.to_string()).collect() }
}

fn tiny(dtype: DType) -> Model {
    let cfg = engine::sample_build::tiny_model_config(64);
    Model::random(cfg, 3, dtype, &Device::Cpu).unwrap()
}

/// The tiny model and the transformers-made fixtures of the families whose
/// layer differs most (Phi-3's fused adapters; Gemma's sandwich norms,
/// GELU-tanh, soft caps, sliding layers), in `dtype`, each with its name.
fn tiny_of_each_family(dtype: DType) -> Vec<(&'static str, Model)> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = vec![("tiny", tiny(dtype))];
    for name in ["tiny-phi3", "tiny-gemma2", "tiny-gemma3"] {
        out.push((name, Model::load(&fixtures.join(name), dtype, &Device::Cpu).unwrap()));
    }
    out
}

fn ids(n: usize) -> Tensor {
    let v: Vec<u32> = (0..n as u32).map(|i| (i * 7 + 3) % 64).collect();
    Tensor::from_vec(v, (1, n), &Device::Cpu).unwrap()
}

fn max_abs_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).unwrap().abs().unwrap().max_all().unwrap().to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

fn batch(n_ex: usize, len: usize) -> engine::data::Batch {
    let examples = (0..n_ex)
        .map(|e| engine::chat::template::Encoded {
            ids: (0..len as u32).map(|i| (i * 5 + e as u32 * 11 + 1) % 64).collect(),
            trained: (0..len).map(|i| i % 3 != 0).collect(),
        })
        .collect();
    let ds = Dataset { examples, ..Default::default() };
    ds.batch(&(0..n_ex).collect::<Vec<_>>(), &Device::Cpu).unwrap()
}

#[test]
fn fresh_adapter_reproduces_the_base_model_exactly() {
    let base = tiny(DType::F32);
    let mut adapted = base.clone();
    adapted.add_lora(&all_linear(4, 0.0), 1).unwrap();
    assert_eq!(adapted.trainable().len(), 2 * 7 * 2);
    let a = base.forward(&ids(12), Pass::Eval).unwrap();
    let b = adapted.forward(&ids(12), Pass::Eval).unwrap();
    assert_eq!(max_abs_diff(&a, &b), 0.0);
}

/// Gives every B matrix random values so that gradients reach A too.
fn perturb_b(model: &Model) {
    for (i, p) in model.trainable().iter().enumerate() {
        if p.name.ends_with("lora_B.weight") {
            let t = Tensor::randn(0.0, 0.3, p.var.dims(), &Device::Cpu).unwrap().to_dtype(p.var.dtype()).unwrap();
            p.var.set(&(t * (1.0 + i as f64 * 0.01)).unwrap()).unwrap();
        }
    }
}

fn loss_of(model: &Model, b: &engine::data::Batch) -> f64 {
    let logits = model.forward(&b.inputs, Pass::Eval).unwrap();
    engine::model::kernels::cross_entropy::weighted_nll_sum(&logits, &b.targets, &b.weights)
        .unwrap()
        .to_dtype(DType::F64)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap()
}

/// The training step's gradients (the fused CPU layers and head) against
/// finite differences of the loss, for each family's layer.
#[test]
fn lora_gradients_match_finite_differences() {
    for (name, model) in tiny_of_each_family(DType::F64) {
        check_gradients_by_finite_differences(name, model, false);
    }
}

/// Full fine-tuning of Phi-3 trains the parts of its fused `qkv_proj` and
/// `gate_up_proj` (the fused matrix's gradient is theirs side by side): the
/// training step's gradients of every weight against finite differences.
#[test]
fn full_fine_tuning_gradients_of_a_fused_checkpoint_match_finite_differences() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    check_gradients_by_finite_differences("tiny-phi3", Model::load(&fixtures.join("tiny-phi3"), DType::F64, &Device::Cpu).unwrap(), true);
}

/// Checks gradients of a LoRA adapter on every linear layer of `model`, or of every weight (`full`).
fn check_gradients_by_finite_differences(name: &str, mut model: Model, full: bool) {
    if full {
        model.make_fully_trainable().unwrap();
    } else {
        model.add_lora(&all_linear(2, 0.0), 5).unwrap();
        perturb_b(&model);
    }
    let b = batch(2, 9);
    let mut acc = GradAccumulator::new(model.trainable().len());
    accumulate(&model, &b, Pass::Eval, 1.0, false, &mut acc).unwrap();
    let grads = acc.finish(&model).unwrap();
    let eps = 1e-6;
    let mut checked = 0;
    for (p, g) in model.trainable().iter().zip(&grads).step_by(3) {
        let flat: Vec<f64> = p.var.flatten_all().unwrap().to_vec1().unwrap();
        let gflat: Vec<f64> = g.flatten_all().unwrap().to_vec1().unwrap();
        for &k in &[0, flat.len() / 2, flat.len() - 1] {
            let mut plus = flat.clone();
            plus[k] += eps;
            let mut minus = flat.clone();
            minus[k] -= eps;
            let shape = p.var.dims().to_vec();
            p.var.set(&Tensor::from_vec(plus, shape.clone(), &Device::Cpu).unwrap()).unwrap();
            let lp = loss_of(&model, &b);
            p.var.set(&Tensor::from_vec(minus, shape.clone(), &Device::Cpu).unwrap()).unwrap();
            let lm = loss_of(&model, &b);
            p.var.set(&Tensor::from_vec(flat.clone(), shape, &Device::Cpu).unwrap()).unwrap();
            let numeric = (lp - lm) / (2.0 * eps);
            let analytic = gflat[k];
            assert!(
                (numeric - analytic).abs() <= 1e-6 + 1e-4 * numeric.abs().max(analytic.abs()),
                "{name}: {}[{k}]: analytic {analytic} vs numeric {numeric}",
                p.name
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{name}: checked {checked} entries");
}

#[test]
fn gradient_checkpointing_gives_the_same_gradients() {
    let cases = tiny_of_each_family(DType::F64).into_iter().map(|(name, m)| (name, m, false)).chain([("tiny", tiny(DType::F64), true)]);
    for (name, mut model, full) in cases {
        if full {
            model.make_fully_trainable().unwrap();
        } else {
            model.add_lora(&all_linear(4, 0.2), 5).unwrap();
            perturb_b(&model);
        }
        let b = batch(3, 10);
        let pass = Pass::Train { seed: 99 };
        let mut plain = GradAccumulator::new(model.trainable().len());
        let loss_plain = accumulate(&model, &b, pass, 0.1, false, &mut plain).unwrap();
        let mut ckpt = GradAccumulator::new(model.trainable().len());
        let loss_ckpt = accumulate(&model, &b, pass, 0.1, true, &mut ckpt).unwrap();
        assert!((loss_plain - loss_ckpt).abs() < 1e-9);
        let (g1, g2) = (plain.finish(&model).unwrap(), ckpt.finish(&model).unwrap());
        for ((a, b), p) in g1.iter().zip(&g2).zip(model.trainable()) {
            let scale = a.abs().unwrap().max_all().unwrap().to_scalar::<f64>().unwrap().max(1e-12);
            assert!(max_abs_diff(a, b) / scale < 1e-9, "{name}: {} differs (full={full})", p.name);
            if p.name.contains("lora_A") || full {
                assert!(scale > 1e-12, "{name}: {} has no gradient", p.name);
            }
        }
    }
}

#[test]
fn adapter_round_trips_through_peft_layout() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = tiny(DType::F32);
    let spec = LoraSpec { targets: vec!["q_proj".into(), "v_proj".into(), "down_proj".into()], ..all_linear(3, 0.05) };
    model.add_lora(&spec, 9).unwrap();
    perturb_b(&model);
    let out = dir.path().join("adapter");
    engine::adapter::save(&model, &spec, dir.path(), &out).unwrap();
    let cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(out.join("adapter_config.json")).unwrap()).unwrap();
    assert_eq!(cfg["peft_type"], "LORA");
    assert_eq!(cfg["r"], 3);
    assert_eq!(cfg["lora_alpha"], 6.0);
    let saved = weights::load_file(&out.join("adapter_model.safetensors"), DType::F32, &Device::Cpu).unwrap();
    let a = &saved["base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight"];
    let b = &saved["base_model.model.model.layers.1.mlp.down_proj.lora_B.weight"];
    assert_eq!(a.dims(), &[3, 32]);
    assert_eq!(b.dims(), &[32, 3]);
    assert_eq!(saved.len(), 2 * 3 * 2);

    let mut loaded = tiny(DType::F32);
    let loaded_spec = engine::adapter::load_into(&mut loaded, &out).unwrap();
    assert_eq!(loaded_spec, spec);
    let x = ids(10);
    assert_eq!(max_abs_diff(&model.forward(&x, Pass::Eval).unwrap(), &loaded.forward(&x, Pass::Eval).unwrap()), 0.0);
}

fn save_tiny_dir(dir: &std::path::Path, model: &mut Model, dtype: DType) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), serde_json::to_string(&model.config).unwrap()).unwrap();
    let t: HashMap<String, Tensor> = model.hf_tensors().unwrap().into_iter().map(|(k, v)| (k, v.to_dtype(dtype).unwrap())).collect();
    weights::save_file(&dir.join("model.safetensors"), &t, None).unwrap();
}

#[test]
fn loads_f32_bf16_f16_and_sharded_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = tiny(DType::F32);
    let x = ids(8);
    let reference = model.forward(&x, Pass::Eval).unwrap();
    for (dtype, tol) in [(DType::F32, 0.0), (DType::BF16, 0.05), (DType::F16, 0.01)] {
        let d = dir.path().join(format!("{dtype:?}"));
        save_tiny_dir(&d, &mut model, dtype);
        let loaded = Model::load(&d, DType::F32, &Device::Cpu).unwrap();
        let diff = max_abs_diff(&reference, &loaded.forward(&x, Pass::Eval).unwrap());
        assert!(diff <= tol, "{dtype:?}: {diff}");
    }
    // Sharded: two files and an index, as transformers writes them.
    let d = dir.path().join("sharded");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("config.json"), serde_json::to_string(&model.config).unwrap()).unwrap();
    let all = model.hf_tensors().unwrap();
    let mut names: Vec<&String> = all.keys().collect();
    names.sort();
    let mut map = serde_json::Map::new();
    for (i, chunk) in names.chunks(names.len() / 2 + 1).enumerate() {
        let file = format!("model-{:05}-of-00002.safetensors", i + 1);
        let part: HashMap<String, Tensor> = chunk.iter().map(|n| ((*n).clone(), all[*n].clone())).collect();
        weights::save_file(&d.join(&file), &part, None).unwrap();
        for n in chunk {
            map.insert((*n).clone(), serde_json::Value::String(file.clone()));
        }
    }
    std::fs::write(d.join("model.safetensors.index.json"), serde_json::json!({"metadata": {}, "weight_map": map}).to_string()).unwrap();
    let loaded = Model::load(&d, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(max_abs_diff(&reference, &loaded.forward(&x, Pass::Eval).unwrap()), 0.0);
}

#[test]
fn sliding_window_limits_attention() {
    let mut cfg = engine::sample_build::tiny_model_config(64);
    let full = Model::random(cfg.clone(), 3, DType::F32, &Device::Cpu).unwrap();
    cfg.sliding_window = Some(4);
    let windowed = Model::random(cfg, 3, DType::F32, &Device::Cpu).unwrap();
    let x = ids(10);
    let a = full.forward(&x, Pass::Eval).unwrap();
    let b = windowed.forward(&x, Pass::Eval).unwrap();
    // The first 4 positions see the same keys; later ones do not.
    assert_eq!(max_abs_diff(&a.narrow(0, 0, 4).unwrap(), &b.narrow(0, 0, 4).unwrap()), 0.0);
    assert!(max_abs_diff(&a.narrow(0, 4, 6).unwrap(), &b.narrow(0, 4, 6).unwrap()) > 1e-6);
}

/// The largest logit difference between the engine's forward pass on the
/// model in `dir` and transformers' logits in `reference_logits.safetensors`
/// (made by `scripts/reference_logits.py` or `scripts/make_tiny_references.py`)
/// over every stored input; at least two inputs.
fn worst_reference_diff(dir: &Path, model: &Model) -> f64 {
    worst_diff_against(&dir.join("reference_logits.safetensors"), model)
}

/// [`worst_reference_diff`] against the reference file `file`.
fn worst_diff_against(file: &Path, model: &Model) -> f64 {
    let reference =
        weights::load_file(file, DType::F32, &Device::Cpu).unwrap_or_else(|e| panic!("{}: reference logits: {e}", file.display()));
    let mut compared = 0;
    let mut worst = 0f64;
    for i in 0.. {
        let (Some(input), Some(expected)) = (reference.get(&format!("input_ids_{i}")), reference.get(&format!("logits_{i}"))) else {
            break;
        };
        let ids = input.to_dtype(DType::U32).unwrap().unsqueeze(0).unwrap();
        let logits = model.forward(&ids, Pass::Eval).unwrap();
        worst = worst.max(max_abs_diff(&logits, expected));
        compared += 1;
    }
    assert!(compared >= 2, "{}: the reference file holds {compared} inputs", file.display());
    worst
}

/// Tolerance on logits: f32 on both sides, different summation orders.
const LOGIT_TOLERANCE: f64 = 1e-3;

#[test]
fn shipped_model_matches_transformers_reference_logits() {
    let dir = common::sample_dir().join("model");
    let model = Model::load(&dir, DType::F32, &Device::Cpu).unwrap();
    let diff = worst_reference_diff(&dir, &model);
    assert!(diff < LOGIT_TOLERANCE, "max |logit difference| {diff}");
}

/// Qwen2 (q/k/v biases, untied head) and Llama with Llama 3 rope scaling and
/// an explicit head_dim, as transformers computes them.
#[test]
fn qwen2_and_llama3_rope_scaling_match_transformers() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in ["tiny-qwen2", "tiny-llama3-rope"] {
        let dir = fixtures.join(name);
        let model = Model::load(&dir, DType::F32, &Device::Cpu).unwrap_or_else(|e| panic!("{name}: {e}"));
        let diff = worst_reference_diff(&dir, &model);
        assert!(diff < LOGIT_TOLERANCE, "{name}: max |logit difference| {diff}");
    }
    // Without its scaling, the Llama 3 model computes something else: the comparison can fail.
    let dir = tempfile::tempdir().unwrap();
    let src = fixtures.join("tiny-llama3-rope");
    for f in ["config.json", "model.safetensors", "reference_logits.safetensors"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let cfg = std::fs::read_to_string(src.join("config.json")).unwrap().replace("\"llama3\"", "\"default\"");
    std::fs::write(dir.path().join("config.json"), cfg).unwrap();
    let unscaled = Model::load(dir.path(), DType::F32, &Device::Cpu).unwrap();
    let diff = worst_reference_diff(dir.path(), &unscaled);
    assert!(diff > 10.0 * LOGIT_TOLERANCE, "rope scaling made no visible difference ({diff})");
}

/// Qwen2 with its sliding window on (transformers-made: full attention below
/// `max_window_layers`, the window above it, shorter than the longer input):
/// the same logits, and greedy decoding through the KV cache; the same with
/// the layer list left out (the `max_window_layers` rule), and other logits
/// with the window off.
#[test]
fn qwen2_with_its_sliding_window_on_matches_transformers() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tiny-qwen2-window");
    let model = Model::load(&src, DType::F32, &Device::Cpu).unwrap();
    assert_eq!((model.config.layer_window(0), model.config.layer_window(1)), (None, Some(16)));
    let diff = worst_reference_diff(&src, &model);
    assert!(diff < LOGIT_TOLERANCE, "max |logit difference| {diff}");
    assert_greedy_decoding_matches(&src.join("reference_logits.safetensors"), &model);
    let variant = |edit: &dyn Fn(&mut serde_json::Value)| {
        let dir = tempfile::tempdir().unwrap();
        for f in ["model.safetensors", "reference_logits.safetensors"] {
            std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
        }
        let mut cfg: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(src.join("config.json")).unwrap()).unwrap();
        edit(&mut cfg);
        std::fs::write(dir.path().join("config.json"), cfg.to_string()).unwrap();
        let model = Model::load(dir.path(), DType::F32, &Device::Cpu).unwrap();
        worst_reference_diff(dir.path(), &model)
    };
    let by_rule = variant(&|c| {
        c.as_object_mut().unwrap().remove("layer_types");
    });
    assert!(by_rule < LOGIT_TOLERANCE, "by max_window_layers: max |logit difference| {by_rule}");
    let off = variant(&|c| c["use_sliding_window"] = false.into());
    assert!(off > 10.0 * LOGIT_TOLERANCE, "the window made no visible difference ({off})");
}

/// Greedy decoding with the engine's KV cache (prefill, then one token a
/// step) continues each of the reference file's inputs with the tokens
/// transformers decoded with its cache (`greedy_{i}`).
fn assert_greedy_decoding_matches(file: &Path, model: &Model) {
    use engine::model::decoder::kv_cache::KvCache;
    let reference = weights::load_file(file, DType::U32, &Device::Cpu).unwrap();
    let argmax = |logits: Tensor| logits.flatten_all().unwrap().argmax(0).unwrap().to_scalar::<u32>().unwrap();
    let mut checked = 0;
    for i in 0.. {
        let (Some(prompt), Some(want)) = (reference.get(&format!("input_ids_{i}")), reference.get(&format!("greedy_{i}"))) else {
            break;
        };
        let want: Vec<u32> = want.to_vec1().unwrap();
        let mut cache = KvCache::new(model);
        let mut got = vec![argmax(model.forward_cached(&prompt.unsqueeze(0).unwrap(), &mut cache).unwrap())];
        while got.len() < want.len() {
            let last = Tensor::new(&[[*got.last().unwrap()]], &Device::Cpu).unwrap();
            got.push(argmax(model.forward_cached(&last, &mut cache).unwrap()));
        }
        assert_eq!(got, want, "{}: greedy tokens after input {i} differ from transformers'", file.display());
        checked += 1;
    }
    assert!(checked >= 1, "{}: no greedy reference", file.display());
}

/// Qwen3 (per-head q/k norms, a query width other than the hidden size, norms
/// away from one): transformers' logits and greedy tokens, without and with a
/// PEFT-made adapter (B non-zero, on every linear layer, `target_modules` as
/// PEFT writes "all-linear" out), in f32.
#[test]
fn qwen3_matches_transformers_and_peft() {
    assert_matches_transformers_and_peft("tiny-qwen3", "qwen3");
}

/// Phi-3 as Phi-4-mini is made (fused `qkv_proj` and `gate_up_proj`, 3/4 of
/// each head rotated, `longrope`, a sliding window shorter than the longer
/// inputs): the same checks, the PEFT adapter one `A` per fused module. An
/// input longer than the pretraining context is rotated by the long factors,
/// and decoding that crosses it switches to them, as transformers does.
#[test]
fn phi3_matches_transformers_and_peft() {
    assert_matches_transformers_and_peft("tiny-phi3", "phi3");
}

/// Gemma 2 (1 + w norms drawn away from one, sandwich norms, GELU-tanh,
/// the embedding scale, attention and final soft caps small enough to bend,
/// a sliding layer and a full one, `query_pre_attn_scalar`, tied
/// embeddings): the same checks.
#[test]
fn gemma2_matches_transformers_and_peft() {
    assert_matches_transformers_and_peft("tiny-gemma2", "gemma2");
}

/// Gemma 3 (Gemma 2's layer without soft caps, per-head q/k norms, sliding
/// layers with their own RoPE base, the full one with linear RoPE scaling):
/// the same checks.
#[test]
fn gemma3_matches_transformers_and_peft() {
    assert_matches_transformers_and_peft("tiny-gemma3", "gemma3_text");
}

/// The fixture `name`'s model (family `model_type`): transformers' logits and
/// greedy tokens; with its PEFT adapter, unmerged and merged; and the adapter
/// saved again by the engine in PEFT's layout (its `target_modules` as the
/// checkpoint names them) reloads to the same logits.
fn assert_matches_transformers_and_peft(name: &str, model_type: &str) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name);
    let mut model = Model::load(&dir, DType::F32, &Device::Cpu).unwrap();
    assert_eq!(model.config.family().model_type, model_type);
    let diff = worst_reference_diff(&dir, &model);
    assert!(diff < LOGIT_TOLERANCE, "{name}: max |logit difference| {diff}");
    assert_greedy_decoding_matches(&dir.join("reference_logits.safetensors"), &model);
    let adapted = dir.join("reference_logits_adapter.safetensors");
    let base_vs_adapted = worst_diff_against(&adapted, &model);
    assert!(base_vs_adapted > 10.0 * LOGIT_TOLERANCE, "{name}: the adapter changes nothing ({base_vs_adapted})");
    let base = model.clone();
    let spec = engine::adapter::load_into(&mut model, &dir.join("adapter")).unwrap();
    let diff = worst_diff_against(&adapted, &model);
    assert!(diff < LOGIT_TOLERANCE, "{name}: with the adapter: max |logit difference| {diff}");
    assert_greedy_decoding_matches(&adapted, &model);
    let saved = tempfile::tempdir().unwrap();
    engine::adapter::save(&model, &spec, &dir, saved.path()).unwrap();
    let written = std::fs::read_to_string(saved.path().join(engine::adapter::CONFIG_FILE)).unwrap();
    for module in model.config.family().modules() {
        assert!(written.contains(&format!("\"{module}\"")), "{name}: saved target_modules lack {module}: {written}");
    }
    let mut reloaded = base;
    engine::adapter::load_into(&mut reloaded, saved.path()).unwrap();
    let diff = worst_diff_against(&adapted, &reloaded);
    assert!(diff < LOGIT_TOLERANCE, "{name}: the adapter saved again: max |logit difference| {diff}");
    // Merged into the weights, the adapter computes the same logits.
    model.merge_lora().unwrap();
    let diff = worst_diff_against(&adapted, &model);
    assert!(diff < LOGIT_TOLERANCE, "{name}: merged: max |logit difference| {diff}");
}

/// Qwen3, Phi-3 and Gemma 3 saved by transformers in bfloat16: read (and computed in
/// f32) as transformers computes those rounded weights in f32, logits and
/// greedy tokens; and not the f32 model's logits (the rounding shows).
#[test]
fn bfloat16_checkpoints_match_transformers() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in ["tiny-qwen3", "tiny-phi3", "tiny-gemma3"] {
        let dir = fixtures.join(format!("{name}-bf16"));
        assert_eq!(engine::model::ModelConfig::load(&dir).unwrap().torch_dtype.as_deref(), Some("bfloat16"));
        let model = Model::load(&dir, DType::F32, &Device::Cpu).unwrap();
        let diff = worst_reference_diff(&dir, &model);
        assert!(diff < LOGIT_TOLERANCE, "{name}: max |logit difference| {diff}");
        assert_greedy_decoding_matches(&dir.join("reference_logits.safetensors"), &model);
        let against_f32 = worst_diff_against(&fixtures.join(name).join("reference_logits.safetensors"), &model);
        assert!(against_f32 > 10.0 * LOGIT_TOLERANCE, "{name}: the bfloat16 rounding changed nothing ({against_f32})");
    }
}

/// Model directories saved by the engine hold the checkpoint's tensors as
/// transformers names and stores them and load back to the same logits: Phi-3
/// its fused `qkv_proj` and `gate_up_proj`, Gemma its norms as `w - 1`
/// (the stored values come back unchanged). Phi-3 fully fine-tuned (its
/// fused projections trained as their parts) is saved fused again.
#[test]
fn saved_model_directories_keep_the_checkpoint_layout() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    for name in ["tiny-phi3", "tiny-gemma2", "tiny-gemma3"] {
        let dir = fixtures.join(name);
        let mut model = Model::load(&dir, DType::F32, &Device::Cpu).unwrap();
        let tensors = model.hf_tensors().unwrap();
        let stored = weights::load_file(&dir.join("model.safetensors"), DType::F32, &Device::Cpu).unwrap();
        let mut names: Vec<&String> = tensors.keys().collect();
        let mut want: Vec<&String> = stored.keys().filter(|k| *k != "lm_head.weight" || !model.config.tie_word_embeddings).collect();
        names.sort();
        want.sort();
        assert_eq!(names, want, "{name}: saved tensor names");
        for (k, t) in &tensors {
            assert!(max_abs_diff(t, &stored[k]) < 1e-6, "{name}: {k} changed on saving");
        }
        let out = tempfile::tempdir().unwrap();
        std::fs::copy(dir.join("config.json"), out.path().join("config.json")).unwrap();
        weights::save_file(&out.path().join("model.safetensors"), &tensors, None).unwrap();
        std::fs::copy(dir.join("reference_logits.safetensors"), out.path().join("reference_logits.safetensors")).unwrap();
        let again = Model::load(out.path(), DType::F32, &Device::Cpu).unwrap();
        assert!(worst_reference_diff(out.path(), &again) < LOGIT_TOLERANCE, "{name}: reloaded");
    }
    let mut phi3 = Model::load(&fixtures.join("tiny-phi3"), DType::F32, &Device::Cpu).unwrap();
    phi3.make_fully_trainable().unwrap();
    for p in phi3.trainable().iter().filter(|p| p.name.contains("_proj")) {
        p.var.set(&(p.var.as_tensor() * 1.1).unwrap()).unwrap();
    }
    let trained = phi3.forward(&ids(12), Pass::Eval).unwrap();
    let out = tempfile::tempdir().unwrap();
    let tensors = phi3.hf_tensors().unwrap();
    assert!(
        tensors.contains_key("model.layers.0.self_attn.qkv_proj.weight") && tensors.contains_key("model.layers.0.mlp.gate_up_proj.weight")
    );
    assert!(!tensors.keys().any(|k| k.contains(".q_proj.") || k.contains(".up_proj.")), "saved apart");
    std::fs::copy(fixtures.join("tiny-phi3/config.json"), out.path().join("config.json")).unwrap();
    weights::save_file(&out.path().join("model.safetensors"), &tensors, None).unwrap();
    let again = Model::load(out.path(), DType::F32, &Device::Cpu).unwrap();
    // Trainable weights run candle's products, frozen ones the fused kernels: summation orders differ.
    assert!(max_abs_diff(&again.forward(&ids(12), Pass::Eval).unwrap(), &trained) < 1e-4, "the trained parts saved fused");
}

/// A Gemma whose attention scale llama.cpp would not compute (the
/// transformers-made fixtures' `query_pre_attn_scalar` is not their head
/// width) is refused by name, and nothing is written.
#[test]
fn gguf_export_of_a_gemma_llama_cpp_would_scale_otherwise_is_refused_by_name() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let out = tempfile::tempdir().unwrap();
    for (name, arch) in [("tiny-gemma2", "gemma2"), ("tiny-gemma3", "gemma3")] {
        let file = out.path().join(format!("{name}.gguf"));
        let ty = engine::model::gguf::export::ExportType::F16;
        let err = engine::model::gguf::export::export(&fixtures.join(name), &file, ty, |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("query_pre_attn_scalar is 20") && err.contains(&format!("{arch} model by 12")), "{name}: {err}");
        assert!(!file.exists(), "{name}: a refused export wrote a file");
    }
}

#[test]
fn template_tokenisation_marks_only_replies_as_trained() {
    let dir = common::sample_dir().join("model");
    let cfg = engine::model::ModelConfig::load(&dir).unwrap();
    let tok = engine::model::tokenizer::load(&dir, &cfg).unwrap();
    let r =
        parse_line(r#"{"messages":[{"role":"user","content":"How many PTO days?"},{"role":"assistant","content":"25 days."}]}"#).unwrap();
    let enc = engine::chat::template::encode(&tok, &engine::chat::template::ChatTemplate::Mistral, &r, engine::config::TrainOn::Assistant)
        .unwrap();
    let trained: Vec<u32> = enc.ids.iter().zip(&enc.trained).filter(|(_, t)| **t).map(|(i, _)| *i).collect();
    let text = tok.decode(&trained, false).unwrap();
    assert_eq!(text.trim(), "25 days.</s>");
    let prompt: Vec<u32> = enc.ids.iter().zip(&enc.trained).filter(|(_, t)| !**t).map(|(i, _)| *i).collect();
    assert_eq!(tok.decode(&prompt, false).unwrap(), "<s>[INST] How many PTO days? [/INST]");
}

#[test]
fn tensors_the_model_would_not_use_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let model = common::tiny_model(dir.path(), 2);
    let path = model.join("model.safetensors");
    let mut tensors = weights::load_file(&path, DType::F32, &Device::Cpu).unwrap();
    let h = Model::load(&model, DType::F32, &Device::Cpu).unwrap().config.hidden_size;
    // Qwen2-style q/k/v biases under a Llama/Mistral config: ignoring them would be silently wrong.
    for proj in ["q_proj", "k_proj"] {
        tensors.insert(format!("model.layers.0.self_attn.{proj}.bias"), Tensor::zeros(h, DType::F32, &Device::Cpu).unwrap());
    }
    tensors.insert("model.layers.0.self_attn.rotary_emb.inv_freq".into(), Tensor::zeros(4, DType::F32, &Device::Cpu).unwrap());
    weights::save_file(&path, &tensors, None).unwrap();
    let err = Model::load(&model, DType::F32, &Device::Cpu).unwrap_err().to_string();
    assert!(err.contains("model.layers.0.self_attn.q_proj.bias") && err.contains("model.layers.0.self_attn.k_proj.bias"), "{err}");
    assert!(!err.contains("inv_freq"), "stored rotary tables are not an error: {err}");
}
