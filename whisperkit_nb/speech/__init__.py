"""Speech regions and the chunk plan: Silero VAD, regions packed into <=30 s chunks."""
