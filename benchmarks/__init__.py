"""Side-by-side measurements of every speed, memory and accuracy claim: ``python -m benchmarks``."""
