"""Speech recognition engines and their models."""
