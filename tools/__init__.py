"""Repository tools (`python -m tools.<name>` from the repo root); not installed."""
