"""Runs: `transcribe`, `stream_segments` and the fixed-window strategy, composing the stages."""
