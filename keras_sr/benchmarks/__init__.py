"""Benchmarks behind `python -m tools.benchmark <name>`: each module has add_arguments(parser) and run(args)."""
