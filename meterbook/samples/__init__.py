"""Generators of realistic sample data, for the demo, the tests and the benchmarks."""
