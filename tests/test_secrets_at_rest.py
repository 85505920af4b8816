"""A full dump of the database after keys, sessions, tickets, codes and users' own provider
keys holds no plaintext secret."""

from __future__ import annotations

from sqlalchemy import select

from api.accounts import provider_keys
from api.accounts import service as accounts
from api.billing import codes
from api.db import Database, metadata
from api.ratelimit import MemoryRateLimiter
from api.settings import Settings
from tests.accounts.test_provider_keys import byok_catalog
from tests.helpers import PASSWORD, make_key

PROVIDER_KEY = "sk-ownProviderKey-5f4e3d2c1b0a99887766"


def full_dump(db: Database) -> str:
    lines = []
    with db.read() as session:
        for table in metadata.sorted_tables:
            for row in session.execute(select(table)).all():
                lines.append(f"{table.name}: {tuple(row)!r}")
    return "\n".join(lines)


def test_dump_contains_no_secret(any_db: Database, settings: Settings) -> None:
    limiter = MemoryRateLimiter()
    signed_up = accounts.sign_up(
        any_db, limiter, settings, email="dump@example.com", password=PASSWORD
    )
    signed_in = accounts.sign_in(
        any_db, limiter, settings, email="dump@example.com", password=PASSWORD
    )
    _user, ticket = accounts.sign_in_with_ticket(
        any_db, limiter, settings, email="dump@example.com", password=PASSWORD
    )
    assert signed_up.user.id is not None
    keys = [make_key(any_db, settings, signed_up.user.id)[1] for _ in range(3)]
    with any_db.write() as session:
        minted = codes.create_codes(
            session, amount_micros=1_000_000, count=3, secret_key=settings.secret_key
        )

        provider_keys.set_provider_key(
            session,
            user_id=signed_up.user.id,
            provider="dashscope",
            api_key=PROVIDER_KEY,
            secret_key=settings.secret_key,
            catalog=byok_catalog(),
        )

    secrets = [signed_up.token, signed_in.token, ticket, PASSWORD, *keys, *minted, PROVIDER_KEY]
    dump = full_dump(any_db)
    assert "dump@example.com" in dump  # the dump is real
    for secret in secrets:
        assert secret not in dump
        assert secret[3:20] not in dump  # nor a recognisable slice of it
    if any_db.is_sqlite:
        raw = b"".join(p.read_bytes() for p in settings.data_dir.glob("amphion.db*"))
        for secret in secrets:
            assert secret.encode() not in raw
