"""The supervisor\x27s own audio on a call: listening, whisper and barge."""
