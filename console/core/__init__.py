"""Qt-free domain: stream and call events, the call registry, the event bus."""
