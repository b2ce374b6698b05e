"""Review API keys on a fake store: the token's shape, what is stored, who it is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from qrecon.matcher.app.errors import InvalidRequest
from qrecon.matcher.app.keys import ApiKeys, digest, key_id_of
from qrecon.matcher.app.ports import ApiKeyRecord

CREATED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


class FakeKeyStore:
    def __init__(self) -> None:
        self.rows: dict[str, ApiKeyRecord] = {}

    async def insert_key(
        self, key_id: str, digest: bytes, organization: str, name: str, admin: bool
    ) -> None:
        self.rows[key_id] = ApiKeyRecord(key_id, digest, organization, name, admin, CREATED, None)

    async def get_key(self, key_id: str) -> ApiKeyRecord | None:
        return self.rows.get(key_id)

    async def revoke_key(self, key_id: str) -> bool:
        row = self.rows.get(key_id)
        if row is None or row.revoked_at is not None:
            return False
        self.rows[key_id] = replace(row, revoked_at=CREATED)
        return True

    async def list_keys(self, organization: str | None) -> list[ApiKeyRecord]:
        return [r for r in self.rows.values() if organization in (None, r.organization_id)]

    async def organizations(self) -> list[str]:
        return sorted({r.organization_id for r in self.rows.values()})


async def test_a_key_is_its_owner_in_its_organisation_and_only_a_digest_is_kept() -> None:
    store = FakeKeyStore()
    keys = ApiKeys(store)
    created = await keys.create("org-a", "  Alice Martin ")
    assert (created.organization, created.name, created.admin) == ("org-a", "Alice Martin", False)
    stored = store.rows[created.key_id]
    assert stored.digest == digest(created.token)
    assert created.token.split("_")[-1].encode() not in stored.digest
    who = await keys.authenticate(created.token.encode())
    assert who is not None
    assert (who.organization, who.name, who.admin, who.label) == (
        "org-a",
        "Alice Martin",
        False,
        f"key:{created.key_id}",
    )


async def test_a_wrong_secret_an_unknown_or_revoked_key_is_nobody() -> None:
    keys = ApiKeys(FakeKeyStore())
    created = await keys.create("org-a", "Alice")
    forged = created.token[:-1] + ("A" if created.token[-1] != "A" else "B")
    unknown = "qmk_000000000000_" + created.token.split("_")[-1]
    for token in (forged, unknown, "qmk_", "qmk_zz_x", "not-a-key"):
        assert await keys.authenticate(token.encode()) is None, token
    assert await keys.revoke(created.key_id)
    assert await keys.authenticate(created.token.encode()) is None
    assert not await keys.revoke(created.key_id)


def test_the_key_id_is_read_from_the_token_shape_only() -> None:
    assert key_id_of(b"qmk_0123456789ab_secret") == "0123456789ab"
    for token in (b"qmk_0123456789ab", b"qmk_0123456789a_s", b"qmk_0123456789xz_s", b"x"):
        assert key_id_of(token) is None


@pytest.mark.parametrize(("organization", "name"), [("", "Alice"), ("org-a", ""), ("org", "a\nb")])
async def test_a_key_needs_an_organisation_and_a_printable_name(
    organization: str, name: str
) -> None:
    with pytest.raises(InvalidRequest):
        await ApiKeys(FakeKeyStore()).create(organization, name)
