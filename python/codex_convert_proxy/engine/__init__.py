"""The pure-Python conversion engine: the fallback and the benchmark baseline.

It follows docs/engine-contract.md rule for rule, and produces the same bytes as the Rust engine.
"""
