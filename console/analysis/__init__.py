"""Speech analysis: voice activity, speech recognition, sentiment, alerts."""
