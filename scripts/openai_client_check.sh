#!/usr/bin/env bash
# A client nobody here wrote against `workbench serve`: the official `openai`
# Python package, in its own virtual environment, lists the models and runs
# chat completions with and without streaming, and a legacy completion,
# against a server on 127.0.0.1 serving a base model and an adapter.
#
# Usage: scripts/openai_client_check.sh [MODEL_DIR]   (default: the shipped sample model)
# Environment: OPENAI_VENV (default target/openai-venv), OPENAI_VERSION (default 2.8.1)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODEL="${1:-sample_data/model}"
VENV="${OPENAI_VENV:-$ROOT/target/openai-venv}"
VERSION="${OPENAI_VERSION:-2.8.1}"
[[ -x "$VENV/bin/python" ]] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q "openai==$VERSION"
cargo build --release -q -p workbench
PORT="${PORT:-18765}"
target/release/workbench serve --model "$MODEL" --served-model-name base --port "$PORT" --api-key check-key > target/openai-serve.log 2>&1 &
SERVER=$!
trap 'kill -INT $SERVER 2>/dev/null || true; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 60); do
  grep -q "serving" target/openai-serve.log 2>/dev/null && break
  sleep 1
done
"$VENV/bin/python" - "$PORT" <<'PY'
import sys
import openai
from openai import OpenAI

client = OpenAI(base_url=f"http://127.0.0.1:{sys.argv[1]}/v1", api_key="check-key")
ids = [m.id for m in client.models.list()]
assert ids == ["base"], ids
print("models.list:", ids)

messages = [{"role": "user", "content": "How many vacation days do I get?"}]
whole = client.chat.completions.create(model="base", messages=messages, max_tokens=16, temperature=0)
text = whole.choices[0].message.content
assert whole.object == "chat.completion" and whole.choices[0].finish_reason in ("stop", "length"), whole
assert whole.usage.total_tokens == whole.usage.prompt_tokens + whole.usage.completion_tokens
print("chat.completions:", repr(text), whole.usage)

parts = []
stream = client.chat.completions.create(model="base", messages=messages, max_tokens=16, temperature=0, stream=True,
                                        stream_options={"include_usage": True})
usage = None
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        parts.append(chunk.choices[0].delta.content)
    if chunk.usage:
        usage = chunk.usage
assert "".join(parts) == text, (parts, text)
assert usage is not None and usage.completion_tokens == whole.usage.completion_tokens
print("chat.completions (stream):", len(parts), "chunks, same text, usage", usage)

done = client.completions.create(model="base", prompt="<s>[INST] Hi [/INST]", max_tokens=8, temperature=0)
print("completions:", repr(done.choices[0].text))

try:
    client.chat.completions.create(model="nope", messages=messages)
    raise SystemExit("an unknown model was accepted")
except openai.NotFoundError as e:
    print("unknown model ->", e.status_code)
try:
    OpenAI(base_url=client.base_url, api_key="wrong").models.list()
    raise SystemExit("a wrong API key was accepted")
except openai.AuthenticationError as e:
    print("wrong key ->", e.status_code)
print(f"openai {openai.__version__}: all checks passed")
PY
