"""Resumable corpus runs: many inputs transcribed one after another into a store that survives kills.

``inputs.py`` turns a folder, glob, list or manifest into rows with metadata; ``fingerprint.py`` says what
identifies a result (audio content, the options that change results, the model, the package version);
``store.py`` is the folder on disk (one Parquet file per result, a manifest, a lock); ``runner.py`` runs
`transcribe_corpus` through the public pipeline; ``corpus.py`` reads a store back (`Corpus`, `open_corpus`);
``edits.py`` keeps a researcher's corrections beside the machine results; ``link.py`` links speakers across
files by voice (``link_speakers=True``: the ``corpus_speaker`` column).
"""
