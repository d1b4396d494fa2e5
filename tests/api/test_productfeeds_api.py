"""Product feeds over HTTP: fetched with a feed token (no API key), refused as 401 with any
other; tokens made, rotated, listed and revoked by admins; settings and the feed check."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from omnicart.db.engine import Database
from tests.api.authz_world import snapshot
from tests.integration.test_productfeeds import EXPECTED_CSV, EXPECTED_TSV, Shop, build_shop

PROBLEM = "application/problem+json"


@pytest.fixture
def shop(sqlite_db: Database) -> Shop:
    return build_shop(sqlite_db)


@pytest.fixture
def vendor(client: TestClient) -> Iterator[TestClient]:
    """A client with no API key, as Google's and Meta's fetchers are."""
    with TestClient(client.app) as anonymous:
        yield anonymous


def _token(client: TestClient, channel_id: int, **body: object) -> dict[str, object]:
    made = client.post(f"/v1/channels/{channel_id}/feed-tokens", json=body)
    assert made.status_code == 201, made.text
    answer: dict[str, object] = made.json()
    return answer


def test_a_vendor_fetches_each_feed_with_its_token(
    client: TestClient, vendor: TestClient, shop: Shop
) -> None:
    made = _token(client, shop.web, name="google")
    token = str(made["token"])
    assert token.startswith("ft_")
    assert made["prefix"] == token[:10]
    assert made["revoked_token_ids"] == []
    urls = made["feed_urls"]
    assert urls == {
        fmt: f"/v1/feeds/{shop.web}/{fmt}?token={token}"
        for fmt in ("google-xml", "google-tsv", "meta-csv")
    }
    assert isinstance(urls, dict)

    tsv = vendor.get(urls["google-tsv"])
    assert tsv.status_code == 200, tsv.text
    assert tsv.headers["content-type"] == "text/tab-separated-values; charset=utf-8"
    assert tsv.text == EXPECTED_TSV

    meta = vendor.get(urls["meta-csv"])
    assert meta.headers["content-type"] == "text/csv; charset=utf-8"
    assert meta.text == EXPECTED_CSV
    rows = list(csv.DictReader(io.StringIO(meta.text, newline="")))
    assert [r["id"] for r in rows] == ["TEE-S", "TEE-M", "MUG"]

    xml = vendor.get(urls["google-xml"])
    assert xml.headers["content-type"] == "application/rss+xml; charset=utf-8"
    root = ET.fromstring(xml.content)
    assert root.findtext("channel/link") == "https://shop.example"
    assert len(root.findall("channel/item")) == 3


def test_any_other_token_is_refused_and_nothing_changes(
    client: TestClient, vendor: TestClient, shop: Shop, sqlite_db: Database
) -> None:
    live = str(_token(client, shop.web)["token"])
    revoked = _token(client, shop.web)
    gone = client.delete(f"/v1/channels/{shop.web}/feed-tokens/{revoked['id']}")
    assert gone.status_code == 204
    other = client.post(
        "/v1/channels", json={"code": "b2b", "name": "B2B", "kind": "web", "currency": "EUR"}
    ).json()["id"]
    theirs = str(_token(client, other)["token"])
    before = snapshot(sqlite_db)
    for path, params in [
        (f"/v1/feeds/{shop.web}/google-tsv", {}),
        (f"/v1/feeds/{shop.web}/google-tsv", {"token": ""}),
        (f"/v1/feeds/{shop.web}/google-tsv", {"token": "ft_guessed"}),
        (f"/v1/feeds/{shop.web}/meta-csv", {"token": str(revoked["token"])}),
        (f"/v1/feeds/{shop.web}/google-xml", {"token": theirs}),
        # An unknown channel answers as a wrong token does: tokens cannot probe channels.
        ("/v1/feeds/999/google-tsv", {"token": live}),
    ]:
        refused = vendor.get(path, params=params)
        assert refused.status_code == 401, (path, params, refused.text)
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["field"] == "token"
    # An API key is no feed token.
    refused = client.get(f"/v1/feeds/{shop.web}/google-tsv")
    assert refused.status_code == 401
    bad_format = vendor.get(f"/v1/feeds/{shop.web}/rss", params={"token": live})
    assert bad_format.status_code == 422
    assert bad_format.json()["field"] == "format"
    assert snapshot(sqlite_db) == before


def test_rotating_revokes_the_old_tokens_at_once(
    client: TestClient, vendor: TestClient, shop: Shop
) -> None:
    first = _token(client, shop.web, name="google")
    second = _token(client, shop.web, name="meta")
    third = _token(client, shop.web, name="google", rotate=True)
    assert third["revoked_token_ids"] == [first["id"], second["id"]]
    path = f"/v1/feeds/{shop.web}/meta-csv"
    assert vendor.get(path, params={"token": str(first["token"])}).status_code == 401
    assert vendor.get(path, params={"token": str(third["token"])}).status_code == 200

    listed = client.get(f"/v1/channels/{shop.web}/feed-tokens", params={"limit": 2})
    assert listed.status_code == 200
    page = listed.json()
    assert [(t["id"], t["name"], t["revoked_at"] is not None) for t in page["items"]] == [
        (first["id"], "google", True),
        (second["id"], "meta", True),
    ]
    assert "token" not in page["items"][0]
    rest = client.get(
        f"/v1/channels/{shop.web}/feed-tokens", params={"cursor": page["next_cursor"]}
    ).json()
    assert [t["id"] for t in rest["items"]] == [third["id"]]
    assert rest["next_cursor"] is None


def test_revoking_another_channels_token_is_not_found(client: TestClient, shop: Shop) -> None:
    token = _token(client, shop.web)
    other = client.post(
        "/v1/channels", json={"code": "b2b", "name": "B2B", "kind": "web", "currency": "EUR"}
    ).json()["id"]
    missing = client.delete(f"/v1/channels/{other}/feed-tokens/{token['id']}")
    assert missing.status_code == 404
    assert missing.json()["field"] == "token_id"
    assert client.post("/v1/channels/999/feed-tokens", json={}).status_code == 404
    blank = client.post(f"/v1/channels/{shop.web}/feed-tokens", json={"name": " "})
    assert (blank.status_code, blank.json()["field"]) == (422, "name")


def test_feed_settings_are_read_replaced_and_checked(
    client: TestClient, vendor: TestClient, shop: Shop, sqlite_db: Database
) -> None:
    path = f"/v1/channels/{shop.web}/feed-settings"
    current = client.get(path).json()
    assert (current["storefront_url"], current["link_template"]) == (
        "https://shop.example",
        "https://shop.example/products/{handle}",
    )
    before = snapshot(sqlite_db)
    for body, field in [
        ({"storefront_url": "shop.example"}, "storefront_url"),
        ({"link_template": "https://shop.example/{id}"}, "link_template"),
        ({"storefront_url": "https://shop.example", "extra": 1}, "extra"),
    ]:
        refused = client.put(path, json=body)
        assert refused.status_code == 422, body
        assert refused.json()["field"] == field
    assert snapshot(sqlite_db) == before
    cleared = client.put(path, json={"link_template": "https://shop.example/p/{sku}"})
    assert cleared.status_code == 200
    assert cleared.json()["storefront_url"] is None
    assert cleared.json()["link_template"] == "https://shop.example/p/{sku}"
    token = str(_token(client, shop.web)["token"])
    # An RSS feed names the shop's home page; without one it is refused, before any byte.
    rss = vendor.get(f"/v1/feeds/{shop.web}/google-xml", params={"token": token})
    assert rss.status_code == 409
    assert rss.json()["field"] == "storefront_url"
    tsv = vendor.get(f"/v1/feeds/{shop.web}/google-tsv", params={"token": token})
    assert "https://shop.example/p/TEE-S\t" in tsv.text
    assert client.get("/v1/channels/999/feed-settings").status_code == 404


def test_the_check_lists_what_the_feed_leaves_out(client: TestClient, shop: Shop) -> None:
    checked = client.get(f"/v1/channels/{shop.web}/feeds/meta-csv/check")
    assert checked.status_code == 200
    assert checked.json() == {
        "channel_id": shop.web,
        "format": "meta-csv",
        "items": 3,
        "skipped_total": 2,
        "skipped": [
            {"sku": "BAG", "reason": "no image: set the `image_link` attribute"},
            {"sku": "PIN", "reason": "no price on this channel"},
        ],
    }
    one = client.get(f"/v1/channels/{shop.web}/feeds/google-tsv/check", params={"limit": 1})
    assert (one.json()["skipped_total"], len(one.json()["skipped"])) == (2, 1)
    assert client.get("/v1/channels/999/feeds/google-tsv/check").status_code == 404
