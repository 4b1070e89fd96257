"""SQLite storage (WAL, one writer thread), call recordings, and exporters."""
