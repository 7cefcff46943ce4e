"""Audio: any input (file, array, tensor) to 16 kHz mono samples, decoded in blocks; log-mel features."""
