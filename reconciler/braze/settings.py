"""Where the client points and which key it uses: the Workspace, overridden by the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.errors import UsageError

ENDPOINT_ENV = "BRAZE_REST_ENDPOINT"


def resolve_endpoint(workspace_endpoint: str, environ: Mapping[str, str] | None = None) -> str:
    """`$BRAZE_REST_ENDPOINT` when set (how the sandbox is used), else the Workspace's REST URL."""
    env = os.environ if environ is None else environ
    return (env.get(ENDPOINT_ENV) or workspace_endpoint).rstrip("/")


def api_key_from_env(api_key_env: str, environ: Mapping[str, str] | None = None) -> str:
    """The key held by the variable the Workspace names in `api_key_env`; never echoed."""
    env = os.environ if environ is None else environ
    key = env.get(api_key_env, "").strip()
    if not key:
        raise UsageError(
            f"the Braze REST API key variable {api_key_env} is not set or empty",
            hint=f"export {api_key_env}=… (the Workspace's api_key_env names it)",
        )
    return key
