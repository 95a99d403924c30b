#!/usr/bin/env bash
# The one command a GPU session runs: the local backend's tests on the GPU, then the benchmark
# through the backend (bench/local_gpu.py). Installs nothing and needs no network: it uses the
# machine's Python with its own torch and transformers, and this checkout on PYTHONPATH.
#
#   bench/gpu_check.sh                      # on the GPU machine: --device cuda, both shapes
#   bench/gpu_check.sh --device cpu --tiny  # anywhere, in seconds (what CI-less machines run)
#
# Arguments go to bench/local_gpu.py (default: --device cuda). Results go to $OUT (default
# bench/out/): local_gpu.json (the benchmark), pytest.txt (the tests' output), gpu_check.txt
# (this script's log). PYTHON picks the interpreter (default: .venv/bin/python if there, else
# python3). The exit status is 0 only when the tests and the benchmark's checks all pass.
set -uo pipefail

cd "$(dirname "$0")/.."
OUT="${OUT:-bench/out}"
mkdir -p "$OUT"
export OUT
LOG="$OUT/gpu_check.txt"
: >"$LOG"
say() { echo "gpu_check: $*" | tee -a "$LOG"; }

if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
ARGS=("$@")
[ ${#ARGS[@]} -eq 0 ] && ARGS=(--device cuda)
DEVICE=cuda
for ((i = 0; i < ${#ARGS[@]}; i++)); do
    [ "${ARGS[$i]}" = "--device" ] && DEVICE="${ARGS[$((i + 1))]:-cuda}"
done
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PLAYGROUND_LOCAL_DEVICE="$DEVICE"

# What the backend needs (torch, transformers and its tokenizers), else stop here, saying so.
if ! "$PYTHON" - <<'EOF' 2>&1 | tee -a "$LOG"; then
import importlib.util, platform, sys
missing = [m for m in ("torch", "transformers", "tokenizers") if importlib.util.find_spec(m) is None]
if missing:
    sys.exit(f"gpu_check: missing {', '.join(missing)} for {sys.executable}: the local backend "
             'needs torch and transformers (pip install ".[local]"); set PYTHON to another one')
import torch, transformers
print(f"gpu_check: python {platform.python_version()} ({sys.executable}), torch {torch.__version__},"
      f" transformers {transformers.__version__}, CUDA available: {torch.cuda.is_available()}"
      + (f" ({torch.cuda.get_device_name()})" if torch.cuda.is_available() else ""))
EOF
    exit 2
fi
if [ "$DEVICE" = cuda ] && ! "$PYTHON" -c "import torch, sys; sys.exit(not torch.cuda.is_available())"; then
    say "--device cuda, but torch sees no CUDA device"
    exit 2
fi

# 1. The backend's tests on this device. Where Django and the HTTP backends' packages are
#    missing (the GPU machine), tests/local/conftest.py leaves out the tests that need them,
#    and --confcutdir keeps pytest away from tests/conftest.py (which needs Django).
status_tests=0
if "$PYTHON" -c "import pytest" 2>/dev/null; then
    FULL=$("$PYTHON" -c "
import importlib.util as u
print(all(u.find_spec(m) for m in ('django', 'channels', 'httpx_sse', 'pytest_django', 'pytest_asyncio')))")
    if [ "$FULL" = True ]; then
        PYTEST=(env DJANGO_DEBUG="${DJANGO_DEBUG:-1}" "$PYTHON" -m pytest -m local tests/local)
    else
        PYTEST=("$PYTHON" -m pytest -m local tests/local --confcutdir tests/local -p no:django
            -p no:cacheprovider)
    fi
    say "tests on $DEVICE: ${PYTEST[*]}"
    "${PYTEST[@]}" -q -rs 2>&1 | tee "$OUT/pytest.txt"
    status_tests=${PIPESTATUS[0]}
    say "tests: exit $status_tests"
else
    say "pytest is not installed for $PYTHON: the backend's tests did NOT run (the benchmark still checks counts, queue and cancel)"
    status_tests=3
fi

# 2. The benchmark, through the backend: JSON into $OUT/local_gpu.json, the table below.
say "benchmark: $PYTHON bench/local_gpu.py ${ARGS[*]}"
"$PYTHON" bench/local_gpu.py "${ARGS[@]}" 2>&1 | tee -a "$LOG"
status_bench=${PIPESTATUS[0]}
say "benchmark: exit $status_bench; results in $OUT/local_gpu.json"

if [ "$status_tests" -ne 0 ] || [ "$status_bench" -ne 0 ]; then
    say "FAILED (tests exit $status_tests, benchmark exit $status_bench)"
    exit 1
fi
say "all passed"
