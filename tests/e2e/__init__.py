"""End-to-end tests with the real Codex CLI (a package, so its conftest does not shadow tests/conftest.py)."""
