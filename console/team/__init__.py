"""Team mode: ingest nodes and consoles joined by NATS JetStream (see console/team/README)."""
