"""Workspace: the Braze instance, where its key lives, state, guards and rate limits."""

from __future__ import annotations

from pydantic import Field, model_validator

from reconciler.manifests.kinds.common import ENV_VAR_PATTERN, Strict


class Guards(Strict):
    max_data_points: int | None = Field(default=None, ge=0)
    # joins plus leaves over the audience's size, so it can pass 100 (1 member becoming 2 others)
    max_audience_flip_pct: float | None = Field(
        default=None,
        ge=0,
        description="refuse an apply whose joins + leaves exceed this % of an audience "
        "(can exceed 100)",
    )


class RateLimits(Strict):
    users_track_per_3s: int = Field(default=3000, ge=1)
    users_export_per_minute: int = Field(default=250, ge=1)


class WorkspaceSpec(Strict):
    instance: str | None = Field(default=None, description="e.g. US-03, EU-01")
    rest_endpoint: str | None = Field(default=None, description="https://rest.iad-03.braze.com")
    dashboard_url: str | None = Field(default=None, description="https://dashboard-03.braze.com")
    api_key_env: str = Field(default="BRAZE_API_KEY", pattern=ENV_VAR_PATTERN)
    state: str | None = None
    guards: Guards = Field(default_factory=Guards)
    rate_limits: RateLimits = Field(default_factory=RateLimits)

    @model_validator(mode="after")
    def _one_endpoint(self) -> WorkspaceSpec:
        if not (self.instance or self.rest_endpoint or self.dashboard_url):
            raise ValueError("one of instance, rest_endpoint or dashboard_url is required")
        return self
