"""Drift: live Braze read back and compared with what state says Braze acknowledged."""
