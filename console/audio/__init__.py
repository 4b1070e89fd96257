"""Codecs, resampling, jitter and ring buffers, WAV files, sound devices."""
