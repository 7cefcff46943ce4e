"""Decoding policy over any engine: language detection, temperature fallback, tails."""
