#!/usr/bin/env bash
# Prepare, here, what bench/gpu_check.sh needs on the bare GPU machine, and check it fits one device call.
#
#   bench/gpu_check_wheels.sh                 # wheels into .whl/ (git-ignored), audio pack, corpus clips, sizes
#   TRANSFORMERS=5.23.0 bench/gpu_check_wheels.sh   # also carry transformers (the version tested here)
#
# The GPU machine (device README, KINDS.md: 'nvidia-h200') has python 3.12 (/opt/torch/.venv/bin/python3,
# seen 2026-11) with torch 2.11, transformers 5.17, numpy, pandas, pyarrow, tqdm, onnxruntime and
# huggingface-hub; nothing can be fetched there. Of whisperkit_nb's runtime dependencies it lacks:
#   av           needed: every file the library reads goes through PyAV (cp311-abi3 wheel, loads on 3.12)
#   silero-vad   not carried: only its ONNX file is used, and the audio pack carries it (gpubench stubs the
#                package around it)
#   openai-whisper  not carried: only its English normaliser table (56 KB) is used, copied below into
#                .whl/whisper-normalizer/ (an sdist on PyPI, and its requirements would not fit anyway)
#   ctranslate2, faster-whisper  not carried: the CPU engine and the CPU peer; the GPU rows run the
#                transformers engine and the insanely-fast-whisper method (ctranslate2 alone is ~40 MB)
#   flash-attn   cannot travel (a source package compiled against CUDA): the ifw-fa2 row says "not available"
# Carried besides the wheels: .cache/bench-audio (Asterisk prompts pack + Silero ONNX, 13 MiB) and the
# corpus bench's clips (4 clips of 30-45 s, their references and warm-up, about 5 MiB; the joined file,
# 5 MiB more, is left behind: bench/corpus.py joins it again there, the same bytes). Limit: 64 MiB a call,
# repo included.
set -eu
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
[ -x "$PY" ] || PY=python3
PYVER="${GPU_PYTHON_VERSION:-3.12}"  # the GPU machine's python (KINDS.md); cp311-abi3 wheels load there too
LIMIT=$((64 * 1024 * 1024))
mkdir -p .whl
grep -qxF '.whl/' .gitignore || echo '.whl/' >>.gitignore

download() {  # name==version: the manylinux x86_64 wheel for the GPU machine's python, no dependencies
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version "$PYVER" --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$1"
}

WHEELS=("av==18.1.0")
[ -n "${TRANSFORMERS:-}" ] && WHEELS+=("transformers==${TRANSFORMERS}")
# Keep one version of each: two stop the whole install there.
for spec in "${WHEELS[@]}"; do
  name="${spec%%==*}"
  ls .whl/"${name}"-*.whl >/dev/null 2>&1 && ! ls .whl/"${name}"-"${spec##*==}"-*.whl >/dev/null 2>&1 \
    && rm -f .whl/"${name}"-*.whl
  ls .whl/"${name}"-"${spec##*==}"-*.whl >/dev/null 2>&1 || download "$spec"
done
[ -z "${TRANSFORMERS:-}" ] && rm -f .whl/transformers-*.whl

# Whisper's English normaliser table, as a namespace package `whisper` holding only normalizers/english.json.
TABLE=$("$PY" -c 'import importlib.util, pathlib; s = importlib.util.find_spec("whisper"); print(next((str(p) for p in (pathlib.Path(l) / "normalizers" / "english.json" for l in (s.submodule_search_locations or [])) if p.is_file()), ""))' 2>/dev/null || true)
if [ -n "$TABLE" ]; then
  mkdir -p .whl/whisper-normalizer/whisper/normalizers
  cp "$TABLE" .whl/whisper-normalizer/whisper/normalizers/english.json
else
  echo "WARNING: openai-whisper is not installed here: no English normaliser table (corpus WER will fail there)"
fi

export HF_HUB_OFFLINE=1 PYANNOTE_METRICS_ENABLED=0
export WHISPERKIT_NB_CACHE="${WHISPERKIT_NB_CACHE:-$PWD/.cache/whisperkit_nb}"
export WHISPERKIT_NB_FIXTURES="${WHISPERKIT_NB_FIXTURES:-$PWD/.cache/fixtures}"
# The audio pack (the GPU machine has no Debian prompts) and the corpus clips (no flite, LibriVox, pyannote).
[ -f .cache/bench-audio/prompts.json ] || "$PY" bench/gpu.py --make-audio-pack
# Silero's model cut at its LSTM (speech/vad.py: the VAD's frame features on several threads), made here with
# the onnx package, which the GPU machine lacks: gpu_check.sh puts the two parts (1.2 MiB) in its cache.
WHISPERKIT_NB_CACHE=.cache/bench-audio "$PY" -c 'import pathlib, whisperkit_nb.speech.vad as v; assert v.vad_graphs(pathlib.Path(".cache/bench-audio/silero_vad_16k_sequence.onnx"))'
CLIPS="clips_4x30-45s_seed0_v2"
if [ ! -f "$WHISPERKIT_NB_FIXTURES/bench_corpus/$CLIPS/references.json" ]; then
  "$PY" - <<'EOF'
import sys
sys.path.insert(0, "bench")
import corpus
corpus.build_set("clips", 4, (30.0, 45.0), 0, one_file=True)
EOF
fi
CLIPS_DIR=".cache/fixtures/bench_corpus/$CLIPS"
if [ "$(realpath "$WHISPERKIT_NB_FIXTURES")" != "$(realpath .cache/fixtures)" ]; then
  echo "NOTE: WHISPERKIT_NB_FIXTURES is not .cache/fixtures: copying the clips to $CLIPS_DIR (the carried path)"
  mkdir -p "$CLIPS_DIR" && cp -r "$WHISPERKIT_NB_FIXTURES/bench_corpus/$CLIPS/." "$CLIPS_DIR/"
fi

# The paths carried for the clips: every file of the set but the joined one (see above).
CLIP_PATHS=("$CLIPS_DIR/clips" "$CLIPS_DIR/references.json" "$CLIPS_DIR/warmup.wav")

# Sizes: what one call carries. The working tree is estimated by walking the repo without the ignored folders
# (this script runs no git command); the device tool's own count is the one that decides.
"$PY" - "$LIMIT" "${CLIP_PATHS[@]}" <<'EOF'
import os, sys
from pathlib import Path
limit, clips = int(sys.argv[1]), sys.argv[2:]
SKIP = {".git", ".venv", ".cache", ".whl", "__pycache__", ".pytest_cache", ".ipynb_checkpoints", "demo-output",
        "test-artifacts", "gpu-check-out", "whisperkit_uploads", ".gl"}
def size(path):
    p = Path(path)
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.rglob("*") if f.is_file())
tree = 0
for root, dirs, files in os.walk("."):
    dirs[:] = [d for d in dirs if d not in SKIP and not d.endswith(".egg-info")]
    tree += sum(os.path.getsize(os.path.join(root, f)) for f in files if not f.endswith(".tmp"))
parts = [("working tree (estimate, ignored folders left out)", tree)]
parts += [(f".whl/{w.name}", w.stat().st_size) for w in sorted(Path(".whl").glob("*.whl"))]
parts += [(".whl/whisper-normalizer", size(".whl/whisper-normalizer") if Path(".whl/whisper-normalizer").exists() else 0),
          (".cache/bench-audio", size(".cache/bench-audio"))]
parts += [(path, size(path)) for path in clips]
total = sum(n for _, n in parts)
for name, n in parts:
    print(f"{n / 2**20:8.1f} MiB  {name}")
print(f"{total / 2**20:8.1f} MiB  total (limit {limit / 2**20:.0f} MiB): {'fits' if total <= limit else 'DOES NOT FIT'}")
if total > limit:
    print("To drop, in this order: the transformers wheel (only if 5.17 on the machine runs the code: check with "
          "--steps throughput-large-v3 first), then the corpus clips (corpus-a becomes 'not measured'); "
          "av cannot go (every file read needs it), nor the audio pack (all the audio).")
    sys.exit(1)
EOF
echo
echo "carry: [\".whl\", \".cache/bench-audio\", \"${CLIP_PATHS[0]}\", \"${CLIP_PATHS[1]}\", \"${CLIP_PATHS[2]}\"]"
