"""GPU benchmark (issue 6): whisperkit_nb against the insanely-fast-whisper method, side by side in one run.

    python bench/gpu.py --model large-v3 [--minutes 150]      # throughput table, one model per run
    python bench/gpu.py --check-text                          # real weights: text identical with each speed-up
    python bench/gpu.py --memory-scan [--minutes-list 10,60,180]   # time and peak memory against audio length
    python bench/gpu.py --smoke                               # everything, tiny random model, 1 min, CPU, < 1 min
    python bench/gpu.py --make-audio-pack                     # .cache/bench-audio/, for machines without the prompts

Systems (one process, same audio, same machine, one after another):
  ifw-sdpa / ifw-fa2   the insanely-fast-whisper method, run the way its cli.py does: transformers'
                       `pipeline("automatic-speech-recognition")`, chunk_length_s=30 (5 s strides), batch 24,
                       fp16 on GPUs, SDPA / Flash Attention 2 (when flash-attn is installed), greedy
  wk-best              whisperkit_nb: VAD chunking, automatic batch size, compile=True (static cache +
                       torch.compile), prefetch on (`whisperkit_nb.run.prefetch.PREFETCH`)
  wk-no-vad            ablation: consecutive 30 s windows through our engine instead of VAD chunks
  wk-no-compile        ablation: compile=False (our dynamic-cache greedy loop)
  wk-no-prefetch       ablation: `PREFETCH = False` (no CPU/GPU overlap)

Models listed in bench/configs (large-v3, large-v3-turbo, distil-large-v3, medium) and `tiny-random` get random
weights: every decoded window is then forced to exactly --tokens-per-window tokens (timestamp tokens included,
then end-of-text), the same for every system, so the decoders do the work real speech would give them. Real
models (tiny.en, base: the offline packs) decode freely unless --force-tokens is given.

Every number comes from the benchmark's own timers (bench/gpubench/): wall time per system, and per stage
through the library's seams: the engine protocol's methods (TimedEngine), progress events, the AudioSource's
reads. A timer that cannot attach fails its system (exit status 1); it is never left out. Prints a markdown
table last; writes JSON to --out. Needs only torch, transformers, numpy, pandas, tqdm, onnxruntime (+ av for
file input); see bench/README.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, for the gpubench package

from gpubench.cli import main

if __name__ == "__main__":
    sys.exit(main(doc=__doc__))
