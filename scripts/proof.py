#!/usr/bin/env python3
"""The proof that the workbench reads, trains, merges and exports real models
as Hugging Face does (issue 10). Run by scripts/proof.sh, which builds the
binaries, fetches SmolLM2, trains a short LoRA run, merges and exports it,
then calls this in the reference venv (transformers, PEFT, gguf):

    .venv-ref/bin/python scripts/proof.py --work DIR --run RUN_DIR

Each check compares what the engine computes (through the proof_dump
example and the workbench binary) with the reference library, prints one
line, and the script exits non-zero if any check fails. The results are
also written to WORK/proof.json.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from safetensors.numpy import load_file
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
DUMP = os.path.join(ROOT, "target", "release", "examples", "proof_dump")
WORKBENCH = os.path.join(ROOT, "target", "release", "workbench")
MODEL = os.path.join(ROOT, "models", "smollm2-135m-instruct")
CACHE = os.path.expanduser("~/.cache/lora-workbench/smollm2-135m-instruct")
DATA = [os.path.join(ROOT, "sample_data", "data", f) for f in ("train.jsonl", "validation.jsonl", "test.jsonl")]
MULTILINGUAL = [
    "How do I reset my VPN password?",
    "Wie setze ich mein VPN-Passwort zurück? Ärger mit Umlauten: äöüß",
    "¿Cómo restablezco mi contraseña? Ça marche, naïve café, œuvre",
    "Как сбросить пароль VPN? Спасибо!",
    "VPNのパスワードをリセットするには？ 日本語のテキスト",
    "如何重置我的VPN密码？谢谢",
    "비밀번호를 재설정하려면 어떻게 해야 하나요?",
    "مرحبا، كيف أعيد تعيين كلمة المرور؟",
    "नमस्ते, मैं अपना पासवर्ड कैसे रीसेट करूं?",
    "Emoji: 🙂👍🏽🚀 🇩🇪 👩‍💻 and ZWJ ✨",
    "Tabs\tand  double  spaces,\n\nnewlines\r\n and trailing space ",
    "Numbers 1234567890 3.14159 1,000,000 and code: fn main() { println!(\"hi\"); }",
    "<|im_start|>user\nInline special tokens<|im_end|>",
]
torch.set_num_threads(2)
results = []


def check(name, ok, detail):
    results.append({"check": name, "ok": bool(ok), "detail": detail})
    print(f"{'PASS' if ok else 'FAIL'}  {name}: {detail}", flush=True)


def dump(out, model, adapter=None, texts=None, data=None, prompts=None):
    os.makedirs(out, exist_ok=True)
    args = [DUMP, "--model", model, "--out", out]
    if adapter:
        args += ["--adapter", adapter]
    for flag, value in (("texts", texts), ("prompts", prompts)):
        if value is not None:
            path = os.path.join(out, f"{flag}-in.json")
            with open(path, "w") as f:
                json.dump(value, f)
            args += [f"--{flag}", path]
    if data:
        args += ["--data", data]
    subprocess.run(args, check=True)
    return out


def engine_logits(out, model, prompts, adapter=None):
    dump(out, model, adapter=adapter, prompts=prompts)
    t = load_file(os.path.join(out, "logits.safetensors"))
    return [t[f"logits_{i}"].reshape(len(p), -1) for i, p in enumerate(prompts)]


def hf_logits(model, prompts):
    with torch.no_grad():
        return [model(torch.tensor([p])).logits[0].float().numpy() for p in prompts]


def worst(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def conversations():
    out = []
    for path in DATA:
        with open(path) as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, help="scratch folder (proof.sh's)")
    ap.add_argument("--run", required=True, help="a LoRA run of SmolLM2 (its adapter/ is compared with PEFT)")
    args = ap.parse_args()
    work = os.path.abspath(args.work)
    gguf_name = os.path.basename(glob.glob(os.path.join(CACHE, "*.gguf"))[0])
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, GGUF {gguf_name}", flush=True)
    ref_tok = AutoTokenizer.from_pretrained(CACHE, gguf_file=gguf_name)

    # 1. Tokenisation: every message of the shipped data, and multilingual / emoji text.
    records = conversations()
    texts = [m["content"] for r in records for m in r["messages"]] + MULTILINGUAL
    d = dump(os.path.join(work, "tokens"), MODEL, texts=texts)
    ours = json.load(open(os.path.join(d, "tokens.json")))
    theirs = [ref_tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    bad = [t for t, a, b in zip(texts, ours, theirs) if a != b]
    check("tokenization equals transformers' GGUF tokenizer", not bad,
          f"{len(texts) - len(bad)} of {len(texts)} texts ({len(texts) - len(MULTILINGUAL)} messages + {len(MULTILINGUAL)} multilingual/emoji) identical" + (f"; first difference: {bad[0]!r}" if bad else ""))

    # 2. Chat template: rendering and token ids of every shipped conversation.
    rows = []
    for i, path in enumerate(DATA):
        d = dump(os.path.join(work, f"chat-{i}"), MODEL, data=path)
        rows += json.load(open(os.path.join(d, "chat.json")))
    rendered_bad = ids_bad = 0
    for r, row in zip(records, rows):
        want = ref_tok.apply_chat_template(r["messages"], tokenize=False)
        rendered_bad += row["rendered"] != want
        ids_bad += row["ids"] != ref_tok(want, add_special_tokens=False)["input_ids"]
    check("chat template renders as apply_chat_template", rendered_bad == 0,
          f"{len(rows) - rendered_bad} of {len(rows)} conversations identical")
    check("training token ids equal tokenizing the rendered conversation", ids_bad == 0,
          f"{len(rows) - ids_bad} of {len(rows)} conversations identical")

    # 3. Logits of the imported model against transformers loading the GGUF file.
    prompts = [ref_tok(ref_tok.apply_chat_template(r["messages"], tokenize=False), add_special_tokens=False)["input_ids"] for r in records[:3]]
    base_ref = AutoModelForCausalLM.from_pretrained(CACHE, gguf_file=gguf_name, dtype=torch.float32).eval()
    ours_base = engine_logits(os.path.join(work, "logits-base"), MODEL, prompts)
    theirs_base = hf_logits(base_ref, prompts)
    diff = worst(ours_base, theirs_base)
    check("logits equal transformers on the GGUF (tolerance 1e-3)", diff < 1e-3, f"max |difference| {diff:.2e} over {sum(map(len, prompts))} positions")

    # 3b. Greedy generation: the workbench's tokens equal transformers' generate (do_sample=False).
    questions = ["How do I reset my VPN password?", "My laptop will not connect to the office Wi-Fi. What should I try?",
                 "How many vacation days do new employees get?"]
    same = 0
    for q in questions:
        out = subprocess.run([WORKBENCH, "generate", "--model", MODEL, "--prompt", q, "--max-new-tokens", "32", "--json"],
                             check=True, capture_output=True, text=True)
        ours_tokens = json.loads(out.stdout)["tokens"]
        ids = ref_tok.apply_chat_template([{"role": "user", "content": q}], add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
        with torch.no_grad():
            gen = base_ref.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False)[0][len(ids):].tolist()
        eos = base_ref.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        gen = gen[:next((i for i, t in enumerate(gen) if t in eos), len(gen))]
        same += ours_tokens == gen
    check("greedy generation equals transformers' generate", same == len(questions), f"{same} of {len(questions)} prompts, 32 new tokens each")

    # 4. The run's adapter: in PEFT, and merged (in transformers).
    adapter = os.path.join(args.run, "adapter")
    ours_tuned = engine_logits(os.path.join(work, "logits-tuned"), MODEL, prompts, adapter=adapter)
    moved = worst(ours_tuned, ours_base)
    from peft import PeftModel
    peft_model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(MODEL, dtype=torch.float32), adapter).eval()
    diff = worst(ours_tuned, hf_logits(peft_model, prompts))
    check("adapter in PEFT gives the engine's logits (tolerance 1e-3)", diff < 1e-3 and moved > 10 * diff,
          f"max |difference| {diff:.2e}; the adapter moves logits by up to {moved:.2e}")
    merged = os.path.join(work, "merged")
    merged_ref = AutoModelForCausalLM.from_pretrained(merged, dtype=torch.float32).eval()
    diff = worst(ours_tuned, hf_logits(merged_ref, prompts))
    check("merged model in transformers gives base + adapter's logits (tolerance 1e-3)", diff < 1e-3, f"max |difference| {diff:.2e}")

    # 5. The merged model exported as GGUF: read by the gguf package, loaded by transformers.
    import gguf
    merged_logits = hf_logits(merged_ref, prompts)
    scale = max(float(np.abs(x).max()) for x in merged_logits)
    for kind, tol in (("f16", 0.01), ("q8_0", 0.05)):
        path = os.path.join(work, f"merged-{kind}.gguf")
        reader = gguf.GGUFReader(path)
        types = {}
        for t in reader.tensors:
            types[t.tensor_type.name] = types.get(t.tensor_type.name, 0) + 1
        arch = bytes(reader.fields["general.architecture"].parts[-1]).decode()
        n_tokens = len(reader.fields["tokenizer.ggml.tokens"].data)
        check(f"export {kind}: the gguf package reads it", arch == "llama" and n_tokens == 49152 and len(reader.tensors) == 272,
              f"architecture {arch}, {n_tokens} tokens, tensors {types}")
        exported = AutoModelForCausalLM.from_pretrained(work, gguf_file=os.path.basename(path), dtype=torch.float32).eval()
        diff = worst(hf_logits(exported, prompts), merged_logits)
        check(f"export {kind}: transformers loads it with the merged model's logits (tolerance {tol} x max |logit|)", diff < tol * scale,
              f"max |difference| {diff:.3f}, largest logit {scale:.1f}")
        exp_tok = AutoTokenizer.from_pretrained(work, gguf_file=os.path.basename(path))
        same = all(exp_tok(t, add_special_tokens=False)["input_ids"] == ids for t, ids in zip(texts, theirs))
        check(f"export {kind}: its tokenizer tokenizes as the original", same, f"{len(texts)} texts")

    # 6. A tiny Qwen2 that transformers creates (q/k/v biases), with SmolLM2's tokenizer:
    #    the engine's logits, and its GGUF export loaded back by transformers.
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(3)
        cfg = transformers.Qwen2Config(vocab_size=49152, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                       num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False,
                                       bos_token_id=1, eos_token_id=2, initializer_range=0.2)
        qwen = transformers.Qwen2ForCausalLM(cfg).eval()
        with torch.no_grad():
            for n, p in qwen.named_parameters():
                if n.endswith(".bias"):
                    p.normal_(0.0, 0.5)
        qdir = os.path.join(tmp, "qwen2")
        qwen.save_pretrained(qdir)
        for f in ("tokenizer.json", "tokenizer_config.json"):
            with open(os.path.join(MODEL, f)) as src, open(os.path.join(qdir, f), "w") as dst:
                dst.write(src.read())
        diff = worst(engine_logits(os.path.join(work, "logits-qwen2"), qdir, prompts), hf_logits(qwen, prompts))
        check("tiny Qwen2 from transformers: logits equal (tolerance 1e-4)", diff < 1e-4, f"max |difference| {diff:.2e}")
        qgguf = os.path.join(tmp, "qwen2.gguf")
        subprocess.run([WORKBENCH, "export", "gguf", "--model", qdir, "--out", qgguf, "--type", "f16"], check=True, stdout=subprocess.DEVNULL)
        back = AutoModelForCausalLM.from_pretrained(tmp, gguf_file="qwen2.gguf", dtype=torch.float32).eval()
        want = hf_logits(qwen, prompts)
        scale = max(float(np.abs(x).max()) for x in want)
        diff = worst(hf_logits(back, prompts), want)
        check("tiny Qwen2 exported as GGUF: transformers loads it with the same logits (tolerance 0.01 x max |logit|)",
              diff < 0.01 * scale, f"max |difference| {diff:.4f}, largest logit {scale:.1f}")

    # 7. A SentencePiece GGUF vocabulary (as Mistral and Llama 2 files have), written with the gguf
    #    package: the workbench's import tokenizes as transformers does.
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "spm.gguf")
        write_sentencepiece_gguf(path)
        out = os.path.join(tmp, "imported")
        subprocess.run([WORKBENCH, "model", "import", path, "--out", out], check=True, stdout=subprocess.DEVNULL)
        ref = AutoTokenizer.from_pretrained(tmp, gguf_file="spm.gguf")
        d = dump(os.path.join(work, "spm"), out, texts=texts)
        ours = json.load(open(os.path.join(d, "tokens.json")))
        bad = [t for t, a in zip(texts, ours) if a != ref(t, add_special_tokens=False)["input_ids"]]
        check("SentencePiece GGUF vocabulary tokenizes as transformers", not bad,
              f"{len(texts) - len(bad)} of {len(texts)} texts identical" + (f"; first difference: {bad[0]!r}" if bad else ""))

    with open(os.path.join(work, "proof.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "torch": torch.__version__, "results": results}, f, indent=2)
    failed = [r for r in results if not r["ok"]]
    print(f"\n{len(results) - len(failed)} of {len(results)} checks passed")
    return 1 if failed else 0


def write_sentencepiece_gguf(path):
    """A tiny Llama with the SentencePiece vocabulary of the engine's test fixture
    (engine::model::gguf::fixture::sentencepiece_vocab): bytes, pieces scored
    so their merges are ordered, control tokens."""
    import gguf
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    scores = [0.0] * len(tokens)
    pieces = ["▁", "e", "l", "o", "H", "w", "r", "d", "t", "h", "▁H", "el", "lo", "▁Hel", "▁Hello", "▁w", "or", "▁wor", "ld",
              "▁world", "▁t", "he", "▁the", "ll", "▁▁", "[INST]", "[/INST]"]
    for i, p in enumerate(pieces):
        tokens.append(p)
        types.append(3 if p.startswith("[") else 1)
        scores.append(-float(i) if len(p) > 1 else -100.0 - i)
    h, ff, n = 32, 64, len(tokens)
    w = gguf.GGUFWriter(path, "llama")
    w.add_block_count(1)
    w.add_context_length(64)
    w.add_embedding_length(h)
    w.add_feed_forward_length(ff)
    w.add_head_count(4)
    w.add_head_count_kv(4)
    w.add_rope_dimension_count(h // 4)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    rng = np.random.default_rng(0)
    shapes = {"token_embd.weight": (n, h), "output_norm.weight": (h,), "output.weight": (n, h),
              "blk.0.attn_norm.weight": (h,), "blk.0.ffn_norm.weight": (h,),
              "blk.0.attn_q.weight": (h, h), "blk.0.attn_k.weight": (h, h), "blk.0.attn_v.weight": (h, h),
              "blk.0.attn_output.weight": (h, h), "blk.0.ffn_gate.weight": (ff, h), "blk.0.ffn_up.weight": (ff, h),
              "blk.0.ffn_down.weight": (h, ff)}
    for name, shape in shapes.items():
        w.add_tensor(name, rng.normal(0, 0.02, shape).astype(np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    sys.exit(main())
