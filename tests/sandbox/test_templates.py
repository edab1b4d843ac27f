"""Conformance, reference §5: content blocks, email templates, and no webhook templates."""

from __future__ import annotations

import pytest

from sandbox.conftest import Api


def _block(api: Api, **fields: object) -> tuple[int, dict[str, object]]:
    r = api.post("/content_blocks/create", json={"name": "hello", "content": "Hi", **fields})
    return r.status_code, r.json()


def test_content_block_create_validation__ref_5_3_create(api: Api) -> None:
    """§5.3: name rules and uniqueness, 50 KB, malformed Liquid, self-reference, tags."""
    cases = {
        "Content Block name cannot be blank": {"name": " "},
        "Content Block name must be shorter than 100 characters": {"name": "n" * 100},
        "Content Block name can only contain alphanumeric characters": {"name": "has space"},
        "Content cannot be blank": {"content": ""},
        "Content must be a string": {"content": 5},
        "Content must be smaller than 50kb": {"content": "x" * 50 * 1024},
        "Content contains malformed liquid": {"content": "{% if x %}no end"},
        "Content Block cannot be referenced within itself": {
            "content": "{{content_blocks.${hello}}}"
        },
        "Content Block state must be either active or draft": {"state": "live"},
        "Content Block description must be shorter than 250 characters": {"description": "d" * 250},
        "Tags must be an array": {"tags": "t"},
        "Some tags could not be found": {"tags": ["missing"]},
    }
    for message, fields in cases.items():
        assert _block(api, **fields) == (400, {"message": message}), message
    api.admin("POST", "tags", {"tags": ["promo"]})
    status, body = _block(api, tags=["promo"], content="{% if a %}{{ a }}{% else %}-{% endif %}")
    assert status == 201 and body["liquid_tag"] == "{{content_blocks.${hello}}}"
    assert set(body) == {"content_block_id", "liquid_tag", "created_at", "message"}
    assert _block(api) == (400, {"message": "Content Block with this name already exists"})


def test_content_block_update_list_info__ref_5_3_update(api: Api) -> None:
    """§5.3: active→draft refused, name locked once active, list paging, info, no delete."""
    _, active = _block(api)
    _, draft = _block(api, name="later", state="draft")
    update = api.post("/content_blocks/update", json={"content_block_id": active["content_block_id"],
                                                      "state": "draft"})  # fmt: skip
    assert update.json()["message"] == (
        "Active Content Block can not be updated to Draft. Create a new Content Block."
    )
    rename = {"content_block_id": active["content_block_id"], "name": "renamed"}
    assert api.post("/content_blocks/update", json=rename).json()["message"] == (
        "Content Block name cannot be updated for active Content Blocks"
    )
    ok = {"content_block_id": draft["content_block_id"], "name": "renamed", "content": "<p>x</p>"}
    assert api.post("/content_blocks/update", json=ok).status_code == 200
    listing = api.get("/content_blocks/list?limit=1&offset=1").json()
    assert listing["count"] == 1 and listing["content_blocks"][0]["name"] == "renamed"
    assert listing["content_blocks"][0]["content_type"] == "html"
    assert api.get("/content_blocks/list?limit=1001").json()["message"] == (
        "Content Block number limit exceeds maximum of 1000"
    )
    info = api.get(f"/content_blocks/info?content_block_id={active['content_block_id']}").json()
    assert (info["name"], info["content"], info["content_type"]) == ("hello", "Hi", "text")
    assert api.get("/content_blocks/info?content_block_id=nope").json()["message"] == (
        "Content Block ID is invalid for this workspace"
    )
    assert api.client.delete("/content_blocks/create").status_code in (404, 405)


def test_email_templates_crud_without_delete__ref_5_2(api: Api) -> None:
    """§5.2: create/update/list/info with the documented messages; no delete."""
    bad = api.post("/templates/email/create", json={"subject": "s", "body": "b"})
    assert bad.json() == {"message": "Template name is required"}
    refs = {"template_name": "t", "subject": "s", "body": "{{content_blocks.${nope}}}"}
    assert api.post("/templates/email/create", json=refs).json()["message"] == (
        "Email must have valid Content Block names"
    )
    css = {"template_name": "t", "subject": "s", "body": "b", "should_inline_css": "yes"}
    assert api.post("/templates/email/create", json=css).status_code == 400
    created = api.post("/templates/email/create", json={"template_name": "t", "subject": "s",
                                                         "body": "<b>hi</b>"})  # fmt: skip
    assert created.status_code == 201
    template_id = created.json()["email_template_id"]
    update = {"email_template_id": template_id, "template_name": "t2"}
    assert api.post("/templates/email/update", json=update).status_code == 200
    listed = api.get("/templates/email/list").json()
    assert [t["template_name"] for t in listed["templates"]] == ["t2"]
    info = api.get(f"/templates/email/info?email_template_id={template_id}").json()
    assert (info["subject"], info["body"]) == ("s", "<b>hi</b>")


@pytest.mark.parametrize(
    "path", ["/templates/webhook/create", "/templates/webhook/update", "/templates/webhook"]
)
def test_no_webhook_template_endpoints__ref_5_1(api: Api, path: str) -> None:
    """§5.1: Braze has no webhook-template API: every `/templates/webhook*` path is 404."""
    assert api.post(path, json={"template_name": "x"}).status_code == 404
    assert api.get(path).status_code == 404
