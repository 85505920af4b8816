"""API keys: format and checksum, digest-only storage, masking, scopes, limits, revocation."""

from __future__ import annotations

import gc
import os
import re
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from api.db import Database, utcnow
from api.errors import AuthenticationError, InvalidInputError, KeyRevokedError, NotFoundError
from api.keys import service as keys
from api.keys.models import ApiKey
from api.settings import Settings
from tests.helpers import make_key, make_user, wait_until

KEY_PATTERN = re.compile(r"^sk-[0-9A-Za-z]{38}$")


def verifier(
    db: Database, settings: Settings, cache: float = 0.5, *, keep_fresh: bool = True
) -> keys.KeyVerifier:
    return keys.KeyVerifier(
        db, settings.secret_key, cache_seconds=cache, refresh_in_background=keep_fresh
    )


def test_generated_keys_are_unique_well_formed_and_checksummed() -> None:
    generated = {keys.generate_key() for _ in range(10_000)}
    assert len(generated) == 10_000
    assert all(KEY_PATTERN.match(k) and keys.is_well_formed(k) for k in generated)
    sample = next(iter(generated))
    flipped = sample[:-1] + ("A" if sample[-1] != "A" else "B")
    assert not keys.is_well_formed(flipped)


def test_a_bad_checksum_is_refused_without_the_database(settings: Settings) -> None:
    class NoDatabase:
        def read(self):  # noqa: ANN201
            raise AssertionError("the database must not be asked")

    key = keys.generate_key()
    broken = key[:10] + ("x" if key[10] != "x" else "y") + key[11:]
    with pytest.raises(AuthenticationError):
        keys.KeyVerifier(NoDatabase(), settings.secret_key).verify(broken)  # type: ignore[arg-type]


def test_issue_shows_plaintext_once_and_stores_a_digest(db: Database, settings: Settings):
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    with db.read() as session:
        row = session.get(ApiKey, key_id)
    assert row is not None
    assert plaintext not in (row.digest, row.head, row.last4)
    assert keys.mask(row.head, row.last4) == f"{plaintext[:5]}…{plaintext[-4:]}"
    principal = verifier(db, settings).verify(plaintext)
    assert principal.user_id == user_id and principal.api_key_id == key_id
    assert principal.via == "api_key"


def test_revocation_bites_within_one_second_despite_the_cache(db: Database, settings: Settings):
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    cached = verifier(db, settings)
    cached.verify(plaintext)  # now cached
    with db.write() as session:
        keys.revoke_key(session, user_id=user_id, key_id=key_id)
    revoked_at = time.monotonic()
    while True:
        try:
            cached.verify(plaintext)
        except KeyRevokedError:
            break
        assert time.monotonic() - revoked_at < 1.0, "revocation took longer than 1 s"
        time.sleep(0.02)


def test_expired_keys_stop_at_expiry_even_when_cached(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    cached = verifier(db, settings, cache=60)
    cached.verify(plaintext)
    with db.write() as session:
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(expires_at=utcnow() + timedelta(milliseconds=200))
        )
    cached.forget()
    cached.verify(plaintext)  # cached with an expiry 200 ms away
    time.sleep(0.3)
    with pytest.raises(KeyRevokedError):
        cached.verify(plaintext)


def test_scopes_and_limits(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings)
    _, plaintext = make_key(db, settings, user_id, scopes=["tts"], rpm_limit=5)
    principal = verifier(db, settings).verify(plaintext)
    principal.require_scope("tts")
    with pytest.raises(Exception) as denied:
        principal.require_scope("asr")
    assert getattr(denied.value, "status", None) == 403
    assert principal.rpm_limit == 5
    with pytest.raises(InvalidInputError):
        make_key(db, settings, user_id, scopes=["everything"])
    with pytest.raises(InvalidInputError):
        make_key(db, settings, user_id, scopes=[])
    with pytest.raises(InvalidInputError):
        make_key(db, settings, user_id, expires_at=utcnow() - timedelta(days=1))
    with pytest.raises(InvalidInputError):
        make_key(db, settings, user_id, rpm_limit=0)


def test_rename_update_and_ownership(db: Database, settings: Settings) -> None:
    alice = make_user(db, settings)
    bob = make_user(db, settings)
    key_id, _ = make_key(db, settings, alice)
    with db.write() as session:
        renamed = keys.update_key(
            session, user_id=alice, key_id=key_id, name="production", spend_cap_micros=1_000
        )
    assert renamed.name == "production" and renamed.spend_cap_micros == 1_000
    for action in (
        lambda s: keys.update_key(s, user_id=bob, key_id=key_id, name="stolen"),
        lambda s: keys.revoke_key(s, user_id=bob, key_id=key_id),
        lambda s: keys.get_owned_key(s, user_id=bob, key_id=key_id),
    ):
        with pytest.raises(NotFoundError), db.write() as session:
            action(session)
    with db.read() as session:
        row = session.get(ApiKey, key_id)
    assert row is not None and row.name == "production" and row.revoked_at is None


def test_last_used_is_recorded_but_not_on_every_call(db: Database, settings: Settings) -> None:
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    check = verifier(db, settings, cache=0)
    check.verify(plaintext)
    with db.read() as session:
        first = session.get(ApiKey, key_id).last_used_at  # type: ignore[union-attr]
    assert first is not None
    check.verify(plaintext)
    with db.read() as session:
        assert session.get(ApiKey, key_id).last_used_at == first  # type: ignore[union-attr]


def test_suspended_account_keys_stop(db: Database, settings: Settings) -> None:
    from api.accounts.models import User
    from api.errors import PermissionDeniedError

    user_id = make_user(db, settings)
    _, plaintext = make_key(db, settings, user_id)
    with db.write() as session:
        session.execute(update(User).where(User.id == user_id).values(is_active=False))
    with pytest.raises(PermissionDeniedError):
        verifier(db, settings, cache=0).verify(plaintext)


def test_page_keys_lists_live_keys_first_and_only_the_owners(
    db: Database, settings: Settings
) -> None:
    owner, other = make_user(db, settings), make_user(db, settings)
    ids = [make_key(db, settings, owner)[0] for _ in range(5)]
    make_key(db, settings, other)
    with db.write() as session:
        keys.revoke_key(session, user_id=owner, key_id=ids[-1])
    with db.read() as session:
        first, total = keys.page_keys(session, owner, offset=0, limit=3)
        rest, _ = keys.page_keys(session, owner, offset=3, limit=3)
    assert total == 5
    assert [k.id for k in first + rest] == [ids[3], ids[2], ids[1], ids[0], ids[4]]
    assert all(k.user_id == owner for k in first + rest)


def test_cache_only_verification_answers_only_from_a_fresh_cached_row(
    db: Database, settings: Settings
) -> None:
    """``verify_from_cache`` lets a request skip a worker thread; it must never answer from a row
    older than the cache allows (so revocation still bites within a second) nor skip the
    last-used write that is due."""
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    check = verifier(db, settings, cache=0.3, keep_fresh=False)
    assert check.verify_from_cache(plaintext) is None  # nothing cached yet
    check.verify(plaintext)  # records the first use, which drops the cached row
    assert check.verify_from_cache(plaintext) is None
    principal = check.verify(plaintext)
    assert check.verify_from_cache(plaintext) == principal
    assert check.verify_from_cache("sk-not-a-key") is None
    with db.write() as session:
        keys.revoke_key(session, user_id=user_id, key_id=key_id)
    time.sleep(0.35)  # the cached row is now too old to answer from
    assert check.verify_from_cache(plaintext) is None
    with pytest.raises(KeyRevokedError):
        check.verify(plaintext)
    with pytest.raises(KeyRevokedError):  # and a fresh cached revoked row refuses by itself
        check.verify_from_cache(plaintext)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_rows_of_keys_in_use_are_kept_fresh_and_carry_a_revocation(
    any_db: Database, settings: Settings
) -> None:
    """The rows of keys used lately are re-read every half of the cache's lifetime, so calls
    answer from the cache however they are spaced (no database wait on the request's path),
    and the re-read is what carries a revocation made in another process. A key unused for
    ``keep_fresh_seconds`` drops out."""
    db = any_db  # SQLite and PostgreSQL: the rows are read on the bare driver
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    clock = Clock()
    check = keys.KeyVerifier(
        db, settings.secret_key, cache_seconds=0.8, clock=clock, keep_fresh_seconds=60,
        refresh_in_background=False,
    )  # fmt: skip

    def half_a_cache_later() -> None:  # what the background thread does
        clock.now += 0.4
        assert check.refresh_keys_in_use()

    check.verify(plaintext)  # the first use is recorded, which drops the cached row
    principal = check.verify(plaintext)
    for _ in range(5):  # a call every 1.2 s: with no refresh, each would find its row expired
        for _ in range(3):
            half_a_cache_later()
        assert check.verify_from_cache(plaintext) == principal
    with db.write() as session:  # revoked "elsewhere": this process is not told
        keys.revoke_key(session, user_id=user_id, key_id=key_id)
    half_a_cache_later()
    with pytest.raises(KeyRevokedError):
        check.verify_from_cache(plaintext)
    clock.now += 61  # unused for longer than keep_fresh_seconds: no longer re-read
    assert not check.refresh_keys_in_use()
    assert check.verify_from_cache(plaintext) is None


def test_only_keys_that_verify_are_kept_fresh(db: Database, settings: Settings) -> None:
    """Presenting well-formed strings that name no key, or a revoked key, must not grow the
    set of rows re-read in the background."""
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    check = verifier(db, settings, keep_fresh=False)
    with pytest.raises(AuthenticationError):
        check.verify(keys.generate_key())
    with db.write() as session:
        keys.revoke_key(session, user_id=user_id, key_id=key_id)
    with pytest.raises(KeyRevokedError):
        check.verify(plaintext)
    assert not check.refresh_keys_in_use()


class CountedRefreshes(keys.KeyVerifier):
    passes = 0

    def refresh_keys_in_use(self) -> bool:
        self.passes += 1
        return super().refresh_keys_in_use()


def test_the_background_refresh_runs_while_keys_are_in_use_and_ends_after(
    db: Database, settings: Settings
) -> None:
    """One thread re-reads while keys are in use and ends once none has been used for
    ``keep_fresh_seconds``; the next use starts another."""
    user_id = make_user(db, settings)
    _, plaintext = make_key(db, settings, user_id)
    check = CountedRefreshes(db, settings.secret_key, cache_seconds=0.2, keep_fresh_seconds=0.5)
    check.verify(plaintext)
    first = check._keeper
    assert first is not None and first.is_alive()
    wait_until(lambda: check.passes >= 3, 10, "three background refreshes")
    wait_until(lambda: not first.is_alive(), 10, "the thread to end once the key is idle")
    check.verify(plaintext)
    second = check._keeper
    assert second is not None and second is not first and second.is_alive()


def test_a_dropped_verifier_ends_its_background_refresh(db: Database, settings: Settings):
    """The thread holds its verifier weakly: a test's app that is dropped takes its thread
    along, instead of leaving it to re-read a database that is gone."""
    user_id = make_user(db, settings)
    _, plaintext = make_key(db, settings, user_id)

    def keeper_of_a_dropped_verifier() -> threading.Thread:
        check = verifier(db, settings, cache=0.2)
        check.verify(plaintext)
        assert check._keeper is not None
        return check._keeper

    keeper = keeper_of_a_dropped_verifier()
    gc.collect()
    wait_until(lambda: not keeper.is_alive(), 10, "a dropped verifier's thread to end")


def test_a_forked_child_refreshes_in_a_thread_of_its_own(db: Database, settings: Settings):
    """A child forked while the parent's thread runs inherits the thread's object, not the
    thread: its first call must start one of its own."""
    user_id = make_user(db, settings)
    _, plaintext = make_key(db, settings, user_id)
    check = verifier(db, settings)
    check.verify(plaintext)
    assert check._keeper is not None and check._keeper.is_alive()
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports through its exit status
        try:
            check.verify(plaintext)
            keeper = check._keeper
            os._exit(0 if keeper is not None and keeper.is_alive() else 1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def _slowed(check: keys.KeyVerifier) -> tuple[list[str], threading.Event]:
    """Make ``check``'s database reads wait for an event, and list them."""
    reads: list[str] = []
    release = threading.Event()
    load = check._load

    def slow_load(digest: str):  # noqa: ANN202 - the verifier's row type is private
        reads.append(digest)
        assert release.wait(10)
        return load(digest)

    check._load = slow_load  # type: ignore[method-assign]
    return reads, release


def test_calls_that_miss_together_share_one_read(db: Database, settings: Settings) -> None:
    """After a pause a burst of calls with one key makes one database read, not one each."""
    user_id = make_user(db, settings)
    _, plaintext = make_key(db, settings, user_id)
    check = verifier(db, settings, cache=60)
    check.verify(plaintext)  # records the first use, which drops the cached row
    reads, release = _slowed(check)
    answers: list[object] = []
    calls = [
        threading.Thread(target=lambda: answers.append(check.verify(plaintext))) for _ in range(8)
    ]
    for call in calls:
        call.start()
    wait_until(lambda: len(reads) == 1, 10, "the first call reads")
    release.set()
    for call in calls:
        call.join()
    # Calls that came while the read was in flight joined it; later ones found the row cached.
    assert len(reads) == 1
    assert len(answers) == 8 and all(answer == answers[0] for answer in answers)


def test_a_call_after_an_invalidation_does_not_join_an_older_read(
    db: Database, settings: Settings
) -> None:
    """A read that began before a key was revoked here must not answer calls that came after."""
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    check = verifier(db, settings, cache=60)
    check.verify(plaintext)
    reads, release = _slowed(check)
    refused: list[str] = []

    def call(name: str) -> None:
        try:
            check.verify(plaintext)
        except KeyRevokedError:
            refused.append(name)

    before = threading.Thread(target=call, args=("before",))
    before.start()
    wait_until(lambda: len(reads) == 1, 10, "the first call reads")
    with db.write() as session:
        keys.revoke_key(session, user_id=user_id, key_id=key_id)
    check.invalidate(keys.keyed_digest(settings.secret_key, plaintext))
    late = threading.Thread(target=call, args=("after",))
    late.start()
    wait_until(lambda: len(reads) == 2, 10, "the later call reads for itself")
    release.set()
    before.join()
    late.join()
    assert "after" in refused


def test_a_change_made_in_this_process_reaches_every_verifier_at_once(
    db: Database, settings: Settings
) -> None:
    """The console serves the API in its own process: a key it revokes must be refused by the
    API's verifier from the next call on, not once the cached row ages out."""
    user_id = make_user(db, settings)
    key_id, plaintext = make_key(db, settings, user_id)
    api_side, console_side = verifier(db, settings, cache=60), verifier(db, settings, cache=60)
    for check in (api_side, console_side):
        check.verify(plaintext)
        check.verify(plaintext)  # cached, with the first use recorded
    with db.write() as session:
        digest = keys.revoke_key(session, user_id=user_id, key_id=key_id).digest
    assert api_side.verify_from_cache(plaintext) is not None  # not told yet: the cached row
    keys.invalidate_everywhere(digest)
    for check in (api_side, console_side):
        with pytest.raises(KeyRevokedError):
            check.verify(plaintext)
