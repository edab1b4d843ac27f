"""Loading manifests: YAML with positions, pydantic models per kind, partner and cross-document rules."""
