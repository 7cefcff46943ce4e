"""The GPU benchmark behind `bench/gpu.py`, one module per job.

``cli`` parses the command line and picks a mode: ``throughput`` (every system on the same audio; the
systems in ``systems``, their runners in ``peers`` and ``ours``), ``text_check`` (real weights, text
identical with each speed-up) or ``memory_scan`` (time and peak memory against audio length); ``report``
draws their tables. Stage times come from ``timing`` (the clock), ``timed_engine`` (the engine protocol's
methods) and ``attach`` (progress hooks, the audio source, and the few switches an ablation flips, each of
which raises when it cannot attach). ``audio``, ``models`` and ``forcing`` prepare the inputs: the
Asterisk prompts or their pack, random-weight models, and the forced token sequence. ``rss`` reads memory.
"""
