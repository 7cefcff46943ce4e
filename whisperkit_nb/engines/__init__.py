"""Engines: the Whisper model runtimes behind one interface, and the model cache.

`base` is the interface (`Engine`, `Capabilities`, `DecodedChunk`); `registry` maps engine names to their
classes, holds the one model cache (`load_model`, `loaded_models`, `release_models`) and the
``engine="auto"`` rule; `weights` resolves model names to weights on disk. One module per engine:
`transformers` (a small package) and `ctranslate2_engine`. `ct2_weights` converts CTranslate2 weights to
transformers format, `packs` finds the offline packs, `tokens` reads Whisper's special tokens.
"""
