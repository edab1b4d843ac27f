"""The GitHub error: a user-facing ReconcilerError whose text never carries the token."""

from __future__ import annotations

from reconciler.errors import ReconcilerError


class GitHubError(ReconcilerError):
    """GitHub refused or failed a request (after retries); the message names method and path."""
