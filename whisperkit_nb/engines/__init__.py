"""Engines: the Whisper model runtimes (transformers, CTranslate2) behind one interface, and the model cache."""
