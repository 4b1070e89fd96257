"""The embedded WebSocket stream server that telephony providers connect to."""
