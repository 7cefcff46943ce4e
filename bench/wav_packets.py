"""How fast a wav file decodes through whisperkit_nb's AudioSource with each wav packet size, and that the
samples are the same with every size.

    .venv/bin/python bench/wav_packets.py [--sizes 0,16384,65536] [--rounds 5] [--out bench/results]

The wav demuxer's packet size (FFmpeg's ``max_size`` option; 0 = its default, about 64 ms) sets how many
frames PyAV hands to Python, and each frame costs the same Python work whatever its length
(`whisperkit_nb.audio.source.DEMUX_OPTIONS`). Inputs: development-set wavs at 16 kHz mono (6, 18 and 60 min,
built by bench/devset.py when missing) and 10 minutes of the 60-minute file written again as 44.1 kHz stereo,
48 kHz mono and 8 kHz mono 16-bit wav (resampled on the way in). Times: the whole file's blocks, best of
``--rounds`` after one untimed read, one thread.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

import devset  # bench/ is on sys.path (above)
from decode_speed import decoded  # bench/ is on sys.path (above)
from machine import cpu_model, loadavg  # bench/ is on sys.path (above)
from result_file import new_result_path  # bench/ is on sys.path (above)

from whisperkit_nb.audio import source as audio_source

DEVSET_FILES = ("flite-slt-6m", "flite-awb-slow-18m", "flite-mixed-60m")
RESAMPLED = ((44100, "stereo"), (48000, "mono"), (8000, "mono"))  # rate, layout of the rewritten copies


def rewritten(samples: np.ndarray, rate: int, layout: str, folder: Path) -> Path:
    """16 kHz mono ``samples`` written as a 16-bit wav at ``rate`` with ``layout`` (once; reused after)."""
    import av

    path = folder / f"wav_packets_{len(samples) // 16000}s_{rate}_{layout}.wav"
    if path.is_file():
        return path
    frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
    frame.sample_rate = audio_source.SAMPLE_RATE
    resampler = av.AudioResampler(format="s16", layout=layout, rate=rate)
    partial = path.with_suffix(".partial.wav")
    with av.open(str(partial), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=rate, layout=layout)
        for out in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(out))
        container.mux(stream.encode(None))
    partial.replace(path)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="0,8192,16384,32768,65536", help="packet sizes in bytes (0: FFmpeg's)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    library_default = int(audio_source.DEMUX_OPTIONS.get("max_size", 0))

    paths = [f.fixture.path for f in devset.dev_files() if f.name in DEVSET_FILES]  # built on first use
    ten_minutes = decoded(audio_source, paths[-1])[0][: 600 * audio_source.SAMPLE_RATE]
    paths += [rewritten(ten_minutes, rate, layout, paths[-1].parent) for rate, layout in RESAMPLED]

    load_start = loadavg()
    rows, mismatches = [], []
    saved = dict(audio_source.DEMUX_OPTIONS)
    try:
        for path in paths:
            reference = None
            for size in sizes:
                audio_source.DEMUX_OPTIONS.clear()
                if size:
                    audio_source.DEMUX_OPTIONS["max_size"] = str(size)
                decoded(audio_source, path)  # untimed: file cache, codec set-up
                times = []
                for _ in range(args.rounds):
                    samples, seconds = decoded(audio_source, path)
                    times.append(seconds)
                if reference is None:
                    reference = samples
                elif len(samples) != len(reference) or not np.array_equal(samples, reference):
                    mismatches.append(f"{path.name} at {size} bytes")
                minutes = len(samples) / audio_source.SAMPLE_RATE / 60
                rows.append({"file": path.name, "minutes": round(minutes, 2), "packet_bytes": size,
                             "best_s": round(min(times), 4), "x_real_time": round(minutes * 60 / min(times)),
                             "speed_vs_ffmpeg_default": None})
                print(f"{path.name:48s} {size:6d} B  {min(times):7.3f} s  {rows[-1]['x_real_time']:6d}x",
                      file=sys.stderr, flush=True)
    finally:
        audio_source.DEMUX_OPTIONS.clear()
        audio_source.DEMUX_OPTIONS.update(saved)
    for row in rows:
        base = next(r for r in rows if r["file"] == row["file"] and r["packet_bytes"] == sizes[0])
        row["speed_vs_ffmpeg_default"] = round(base["best_s"] / row["best_s"], 2)

    result = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": f"{cpu_model()}, one thread",
              "load_average_at_start": load_start, "load_average_at_end": loadavg(), "rounds": args.rounds,
              "library_packet_bytes": library_default, "rows": rows, "mismatches": mismatches}
    path = new_result_path(args.out, "wav-packets")
    path.write_text(json.dumps(result, indent=1))
    print(f"\n{result['date']} · {result['machine']} · best of {args.rounds} · library default "
          f"{library_default} B\n\n| file | min | " + " | ".join(f"{s} B" if s else "FFmpeg's packets" for s in sizes) + " |")
    print("|---|---|" + "---|" * len(sizes))
    for name in dict.fromkeys(r["file"] for r in rows):
        cells = [r for r in rows if r["file"] == name]
        print(f"| {name} | {cells[0]['minutes']:g} | " +
              " | ".join(f"{r['best_s']:.3f} s ({r['speed_vs_ffmpeg_default']:.2f}x)" for r in cells) + " |")
    print("\nsamples identical at every size" if not mismatches else f"\nMISMATCH: {', '.join(mismatches)}")
    print(f"JSON: {path}")
    return 1 if mismatches else 0


if __name__ == "__main__":
    sys.exit(main())
