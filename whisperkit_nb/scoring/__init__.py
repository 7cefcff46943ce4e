"""Scoring: WER, word matches, DER and turn-edge errors of a transcript against a reference."""
