"""Sandbox fixtures shared by every test package (filled by the sandbox work)."""
