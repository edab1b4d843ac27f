"""Renderers: pure functions from results to text, markdown or JSON."""
