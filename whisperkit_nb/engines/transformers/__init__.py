"""The transformers engine (``engine="transformers"``): `WhisperForConditionalGeneration` driven directly.

`engine` holds the loaded model and answers the `Engine` protocol; `greedy` is the batched decoding loop,
`rules` Whisper's logit rules it applies, `compiled` the compile=True decoder (static cache, torch.compile),
`alignment` word timings from cross-attention, `fixed` transformers' ASR pipeline for chunking="fixed".
Importing this package (or `engine`) loads neither torch nor transformers.
"""
