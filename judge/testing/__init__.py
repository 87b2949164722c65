"""Test helpers importable by tests and benches (a fake OpenAI-compatible server)."""
