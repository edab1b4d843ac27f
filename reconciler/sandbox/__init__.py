"""A local Braze-compatible REST API. Imports nothing from the engine."""
