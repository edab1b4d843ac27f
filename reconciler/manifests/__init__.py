"""Loading manifests: YAML with positions, pydantic models per kind, partner and cross-document rules."""

from reconciler.manifests.loader import load_workspace
from reconciler.manifests.model import Manifests

__all__ = ["Manifests", "load_workspace"]
