"""Put on PYTHONPATH by tests/conftest.py when CCP_BLOCK_RUST=1: every Python process the tests
start (servers, the mock, benchmarks) then runs without the Rust extension too, not only the
test process itself."""
import sys

sys.modules["codex_convert_proxy._rust"] = None  # type: ignore[assignment]
