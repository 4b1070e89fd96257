"""A call simulator that speaks the providers' stream protocols (demo mode, tests, benches)."""
