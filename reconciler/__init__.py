"""reconciler: Terraform for Braze partner syncs."""

__version__ = "0.1.0"
