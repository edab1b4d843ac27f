"""Load manifests: YAML with positions, a pydantic model per kind, partner and cross-doc rules."""

from reconciler.manifests.loader import load_workspace
from reconciler.manifests.model import Manifests

__all__ = ["Manifests", "load_workspace"]
