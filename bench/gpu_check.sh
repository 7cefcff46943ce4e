#!/usr/bin/env bash
# The lent-GPU check (issue 17, section 4): one call of the device tool, under 8 minutes, every table under $OUT.
#
#   bench/gpu_check_wheels.sh                    # once, here: wheels into .whl/, audio pack, corpus clips, sizes
#   run(carry=[".whl", ".cache/bench-audio", ".cache/fixtures/bench_corpus/clips_4x30-45s_seed0_v2/clips",
#       ".cache/fixtures/bench_corpus/clips_4x30-45s_seed0_v2/references.json",
#       ".cache/fixtures/bench_corpus/clips_4x30-45s_seed0_v2/warmup.wav"],
#       timeout_s=540, command="bash bench/gpu_check.sh")
#   bench/gpu_check.sh --cpu-rehearsal           # here: every step's code path on CPU, small models, a few minutes
#
# Installs the carried wheels (.whl/*.whl) into /tmp/gpu-check-site, prints what the machine has, then runs
# bench/gpu_check.py: the steps most important first, each with its own time limit, all inside
# GPU_CHECK_TOTAL_S seconds from this script's start (default 470 on a GPU, 480 in the rehearsal).
# Writes $OUT/gpu-check.md, gpu-check.json and gpu-check.log ($OUT defaults to ./gpu-check-out).
# Other arguments go to bench/gpu_check.py (e.g. --steps throughput-large-v3,memory-10min).
set -u
T0=$(date +%s)
cd "$(dirname "$0")/.."
REHEARSAL=0
for a in "$@"; do [ "$a" = "--cpu-rehearsal" ] && REHEARSAL=1; done
OUT="${OUT:-$PWD/gpu-check-out}"
mkdir -p "$OUT"
LOG="$OUT/gpu-check.log"
: >"$LOG"
if [ "$REHEARSAL" = 1 ]; then TOTAL="${GPU_CHECK_TOTAL_S:-480}"; else TOTAL="${GPU_CHECK_TOTAL_S:-470}"; fi
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0 TOKENIZERS_PARALLELISM=false
export WHISPERKIT_NB_CACHE="${WHISPERKIT_NB_CACHE:-$PWD/.cache/whisperkit_nb}"
export WHISPERKIT_NB_FIXTURES="${WHISPERKIT_NB_FIXTURES:-$PWD/.cache/fixtures}"
# The VAD model's two parts, cut by gpu_check_wheels.sh (the machine has no onnx package to cut it with).
mkdir -p "$WHISPERKIT_NB_CACHE/vad" && cp .cache/bench-audio/vad/*.onnx "$WHISPERKIT_NB_CACHE/vad/" 2>/dev/null
# The interpreter: $PYTHON, else the project's .venv in a rehearsal, else python3 (the GPU image's torch).
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ "$REHEARSAL" = 1 ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi

{
  echo "== gpu_check.sh $(date -u '+%Y-%m-%d %H:%M:%S UTC') · $(uname -m) · $(nproc) CPUs · budget ${TOTAL} s · OUT=$OUT"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=name,memory.total,memory.used,memory.free,driver_version,clocks.sm --format=csv 2>&1
  else
    echo "nvidia-smi: not found"
  fi
  "$PY" -c 'import sys, torch, transformers; print("python", sys.version.split()[0], sys.executable, "· torch", torch.__version__, "· transformers", transformers.__version__, "· cuda", torch.cuda.is_available())' 2>&1
  # Carried wheels: what the bare machine lacks (gpu_check_wheels.sh chose them). All of .whl/*.whl is
  # installed, shadowing the image's copy where one is carried on purpose (e.g. another transformers).
  if ls .whl/*.whl >/dev/null 2>&1; then
    SITE=/tmp/gpu-check-site
    if [ "$REHEARSAL" = 1 ]; then
      # Rehearsal: install to check the wheels unpack, but keep them off the path: the .venv already has
      # these packages, built for this Python (the carried ones are for the GPU machine's).
      SITE=/tmp/gpu-check-site-rehearsal
    fi
    t=$(date +%s)
    if "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$SITE" .whl/*.whl 2>&1; then
      echo "installed $(ls .whl/*.whl | wc -l) carried wheel(s) into $SITE in $(( $(date +%s) - t )) s: $(cd .whl && ls *.whl | tr '\n' ' ')"
      [ "$REHEARSAL" = 1 ] || export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    else
      echo "WARNING: installing the carried wheels failed; steps needing them will say so"
    fi
  else
    echo "no carried wheels (.whl/*.whl): using what the machine has"
  fi
  # Whisper's English normaliser table (openai-whisper ships it; scoring needs only the JSON file).
  if [ -f .whl/whisper-normalizer/whisper/normalizers/english.json ] && [ "$REHEARSAL" = 0 ]; then
    export PYTHONPATH="$PWD/.whl/whisper-normalizer${PYTHONPATH:+:$PYTHONPATH}"
  fi
  "$PY" bench/gpu_check.py --out "$OUT" --deadline $((T0 + TOTAL)) "$@"
  rc=$?
  echo "== gpu_check.sh done in $(( $(date +%s) - T0 )) s (exit $rc) $(date -u '+%H:%M:%S UTC')"
  exit $rc
} 2>&1 | tee -a "$LOG"
exit "${PIPESTATUS[0]}"
