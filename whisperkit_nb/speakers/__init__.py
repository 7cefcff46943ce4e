"""Speakers: diarization (pyannote.audio, CAM++), and speaker assignment to segments and words."""

from whisperkit_nb.speakers.assign import assign_speakers, rename_speakers, speaker_summary

__all__ = ["assign_speakers", "rename_speakers", "speaker_summary"]
