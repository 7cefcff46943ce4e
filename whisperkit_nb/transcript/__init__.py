"""Transcript: decoded chunks to timed segments and words."""
