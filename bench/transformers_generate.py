"""Decoding speed of Hugging Face transformers' `generate` on a model directory,
the reference of `bench/decode.sh`: batch 1, the first N tokens of the same
fixed text as `workbench bench decode`, greedy, exactly M new tokens
(min_new_tokens = max_new_tokens), f32, torch's threads as OMP_NUM_THREADS
says. Prints one JSON line: median prefill seconds (a 1-token generate) and
decode tokens/s over the tokens after the first."""
import argparse, json, resource, statistics, time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

PROMPT = ("The IT help desk answers questions about VPN access, password resets, laptops, printers, "
          "e-mail, software licences and the internal wiki. Employees write in short messages, often in a hurry, and expect a "
          "clear answer with the exact steps to follow.")

p = argparse.ArgumentParser()
p.add_argument("--model", required=True)
p.add_argument("--prompt-tokens", type=int, default=32)
p.add_argument("--new-tokens", type=int, default=128)
p.add_argument("--rounds", type=int, default=3)
a = p.parse_args()

tok = AutoTokenizer.from_pretrained(a.model)
model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32).eval()
ids = tok(PROMPT, add_special_tokens=False, return_tensors="pt").input_ids[:, : a.prompt_tokens]
assert ids.shape[1] == a.prompt_tokens, "the benchmark text is too short"


def timed(n):
    t = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                             do_sample=False, pad_token_id=tok.eos_token_id)
    assert out.shape[1] == a.prompt_tokens + n
    return time.perf_counter() - t


timed(4)  # warm-up
prefill = statistics.median(timed(1) for _ in range(a.rounds))
total = statistics.median(timed(a.new_tokens) for _ in range(a.rounds))
print(json.dumps({
    "system": "transformers generate",
    "model": a.model,
    "weights": "f32",
    "prompt_tokens": a.prompt_tokens,
    "new_tokens": a.new_tokens,
    "prefill_s": prefill,
    "decode_tokens_per_s": (a.new_tokens - 1) / (total - prefill),
    "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "threads": torch.get_num_threads(),
    "torch": torch.__version__,
}))
