"""Every Braze instance resolves from its name, REST endpoint or dashboard URL (reference §7)."""

from __future__ import annotations

import pytest

from reconciler.manifests import endpoints
from reconciler.manifests.partners import standard_field_for


@pytest.mark.parametrize("name", sorted(endpoints.INSTANCES))
def test_each_instance_resolves_three_ways(name: str) -> None:
    rest, dashboards = endpoints.INSTANCES[name]
    assert endpoints.instance_by_name(name.lower()) == rest
    assert endpoints.instance_by_rest_endpoint(rest + "/users/track") == rest
    for dashboard in dashboards:
        assert endpoints.instance_by_dashboard(f"https://{dashboard}/home") == rest


def test_amperity_example_dashboard_03() -> None:
    assert endpoints.instance_by_dashboard("https://dashboard-03.braze.com") == (
        "https://rest.iad-03.braze.com"
    )


@pytest.mark.parametrize(
    ("name", "standard"),
    [
        ("birthday", "dob"),
        ("birth_date", "dob"),
        ("date_of_birth", "dob"),
        ("Date of Birth", "dob"),
        ("email_address", "email"),
        ("phone_number", "phone"),
        ("firstname", "first_name"),
        ("First_Name", "first_name"),
        ("surname", "last_name"),
        ("timezone", "time_zone"),
        ("loyalty_tier", None),
        ("AIQ_48213_2", None),
    ],
)
def test_standard_field_look_alikes(name: str, standard: str | None) -> None:
    assert standard_field_for(name) == standard
