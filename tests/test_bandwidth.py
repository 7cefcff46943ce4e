"""The low-band measure (`whisperkit_nb.audio.bandwidth`) on real speech and on tones, and the thresholds it chooses:
the split's (`whisperkit_nb.speakers.regroup.split_threshold`) and the naming's (`identify.match_threshold`)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from assets import SAMPLE_RATE, band_filter, librivox_concat, pyannote_sample, read_wav, voice_conversation

from whisperkit_nb.audio.bandwidth import LOW_CUT_MAX_SHARE, is_low_cut, low_band_share, telephone_band
from whisperkit_nb.options import SPEAKER_MATCH_THRESHOLD, SPEAKER_MATCH_THRESHOLD_LOW_CUT
from whisperkit_nb.speakers.identify import match_threshold
from whisperkit_nb.speakers.regroup import LOW_CUT_REGROUP_THRESHOLD, REGROUP_THRESHOLD, split_threshold


@pytest.mark.parametrize("fixture", [librivox_concat, pyannote_sample,
                                     lambda: voice_conversation(["asterisk:fr", "flite:awb"], 6, seed=93)],
                         ids=["librivox", "pyannote call", "asterisk and flite"])
def test_a_cut_low_band_is_told_apart_on_real_speech(fixture):
    """Full-band speech (LibriVox), a real call sampled at 8 kHz (pyannote's) and a mix: the share is far above the
    cut; band-passed to a telephone's 300-3400 Hz, or only high-passed at 300 Hz, far below it; low-passed at 3400 Hz
    alone, still above it (the upper edge is not what makes voices alike)."""
    fixture = fixture()
    audio = read_wav(fixture.path)[0].astype(np.float32) / 32768
    spans = [(t.start, t.end) for t in fixture.turns]
    shares = {kind: low_band_share(band_filter(audio, kind) if kind else audio, spans)
              for kind in ("", "tel", "hp300", "lp3400")}
    assert shares[""] > 5 * LOW_CUT_MAX_SHARE and shares["lp3400"] > 5 * LOW_CUT_MAX_SHARE, shares
    assert shares["tel"] < LOW_CUT_MAX_SHARE / 5 and shares["hp300"] < LOW_CUT_MAX_SHARE / 5, shares
    assert split_threshold(shares[""]) == REGROUP_THRESHOLD
    assert split_threshold(shares["tel"]) == LOW_CUT_REGROUP_THRESHOLD > REGROUP_THRESHOLD
    # the library's own filter, which samples go through to sound like a call, cuts the low band as the test's does
    assert is_low_cut(low_band_share(telephone_band(audio), spans)) and not is_low_cut(shares[""])


def test_match_threshold_follows_the_band_unless_given():
    """None picks the threshold for the recording's band; a value given is used as given on either band."""
    assert match_threshold(None, False) == SPEAKER_MATCH_THRESHOLD
    assert match_threshold(None, True) == SPEAKER_MATCH_THRESHOLD_LOW_CUT > SPEAKER_MATCH_THRESHOLD
    assert match_threshold(0.5, True) == match_threshold(0.5, False) == 0.5


def test_low_band_share_on_tones_and_without_speech():
    """A 150 Hz tone is all low band, a 1 kHz tone none of it (the Hann window keeps its energy in its bins); only
    the frames inside the spans count; no whole frame, or silence, gives nan, which the split takes as full band."""
    t = np.arange(SAMPLE_RATE * 2) / SAMPLE_RATE
    low, high = np.sin(2 * np.pi * 150 * t), np.sin(2 * np.pi * 1000 * t)
    assert low_band_share(low, [(0, 2)]) > 0.99
    assert low_band_share(high, [(0, 2)]) < 1e-4
    both = np.concatenate([low, high])
    assert low_band_share(both, [(2, 4)]) < 1e-4 and low_band_share(both, [(0, 2)]) > 0.99
    assert 0.4 < low_band_share(both, [(0, 4)]) < 0.6
    assert math.isnan(low_band_share(both, [(5, 6), (1, 1.01)]))
    assert math.isnan(low_band_share(np.zeros(SAMPLE_RATE), [(0, 1)]))
    assert split_threshold(float("nan")) == REGROUP_THRESHOLD and not is_low_cut(float("nan"))
