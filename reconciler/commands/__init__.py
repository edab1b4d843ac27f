"""Core functions behind each CLI command: each builds its dependencies and returns a result."""
