"""Password hashing, random tokens, keyed digests, and sealing of secrets kept for later use.

Passwords use Argon2id through pwdlib with the OWASP minimum profile (19 MiB, t=2, p=1): strong
enough, and light enough that a burst of sign-ins does not exhaust memory. Tokens (API keys,
session tokens) are high-entropy random strings, so a keyed SHA-256 (HMAC with the server's
secret) is the right digest for them: a database dump alone cannot be used to test guesses.

A secret the platform must use again later (a user's own provider API key) cannot be a digest:
it is sealed with AES-256-GCM under a key derived from the server secret (HKDF-SHA256, its own
``info`` label, so the sealing key is never the HMAC key). The caller's ``context`` (for example
the owner and provider) is authenticated with it, so a sealed value copied to another row does
not open there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import os
import secrets
import string
import zlib
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pwdlib import PasswordHash
from pwdlib.exceptions import UnknownHashError
from pwdlib.hashers.argon2 import Argon2Hasher

from api.errors import InvalidInputError

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 1024  # bounds the hashing cost; any composition is allowed
COMMON_PASSWORDS_CHECKED = 10_000

BASE62_ALPHABET = string.digits + string.ascii_letters

_password_hash = PasswordHash((Argon2Hasher(memory_cost=19_456, time_cost=2, parallelism=1),))


def hash_password(password: str) -> str:
    return _password_hash.hash(password)


def verify_password(password: str, password_hash: str) -> tuple[bool, str | None]:
    """Check a password; the second value is a fresh hash when the parameters changed."""
    try:
        return _password_hash.verify_and_update(password, password_hash)
    except UnknownHashError:
        return False, None


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return hash_password(secrets.token_urlsafe(16))


def burn_password_check(password: str) -> None:
    """Spend the time of one real verification, for unknown e-mails (no enumeration)."""
    verify_password(password, _dummy_hash())


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"][:COMMON_PASSWORDS_CHECKED])


def check_password_policy(password: str, *, email: str = "") -> None:
    """Refuse passwords that are too short, absurdly long, common, or the e-mail itself."""
    if not isinstance(password, str):
        raise InvalidInputError("password must be a string", param="password")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise InvalidInputError(
            f"Password must be at least {PASSWORD_MIN_LENGTH} characters", param="password"
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise InvalidInputError(
            f"Password must be at most {PASSWORD_MAX_LENGTH} characters", param="password"
        )
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(password)) < 3:
        raise InvalidInputError(
            "This password is too common; choose a less guessable one", param="password"
        )
    if email and lowered in {email.lower(), email.split("@", 1)[0].lower()}:
        raise InvalidInputError("Password must not be your e-mail address", param="password")


def new_token(nbytes: int = 32) -> str:
    """A URL-safe random token with ``nbytes`` of entropy."""
    return secrets.token_urlsafe(nbytes)


def keyed_digest(secret_key: str, value: str) -> str:
    """HMAC-SHA256 of a token under the server secret, as hex (what the database stores)."""
    return hmac.new(secret_key.encode(), value.encode(), hashlib.sha256).hexdigest()


SEALED_PREFIX = "v1."
_NONCE_BYTES = 12


@lru_cache(maxsize=8)
def _sealing_key(secret_key: str) -> AESGCM:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"amphion sealed secrets v1"
    ).derive(secret_key.encode())
    return AESGCM(derived)


def seal(secret_key: str, plaintext: str, *, context: str) -> str:
    """``plaintext`` encrypted and authenticated for storage (``v1.`` + base64url)."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = _sealing_key(secret_key).encrypt(nonce, plaintext.encode(), context.encode())
    return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(secret_key: str, sealed: str, *, context: str) -> str:
    """The plaintext of ``seal``; ValueError if it was altered, moved, or sealed under
    another server secret."""
    if not sealed.startswith(SEALED_PREFIX):
        raise ValueError("not a sealed value")
    try:
        raw = base64.urlsafe_b64decode(sealed[len(SEALED_PREFIX) :].encode())
        nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        return _sealing_key(secret_key).decrypt(nonce, body, context.encode()).decode()
    except (InvalidTag, ValueError) as error:
        raise ValueError("sealed value does not open under this key and context") from error


def random_base62(length: int) -> str:
    return "".join(secrets.choice(BASE62_ALPHABET) for _ in range(length))


def base62_checksum(body: str, length: int = 6) -> str:
    """CRC32 of ``body`` in base62, fixed width: lets a scanner reject a random string offline."""
    value = zlib.crc32(body.encode())
    chars = []
    for _ in range(length):
        value, rest = divmod(value, 62)
        chars.append(BASE62_ALPHABET[rest])
    return "".join(reversed(chars))


def client_address(peer: str, forwarded_for: str, trusted_proxies: list[str]) -> str:
    """The caller's address: ``X-Forwarded-For`` is believed only from a trusted proxy.

    Without this rule anyone could claim a fresh address per request and escape per-IP limits.
    The last hop is taken, the one the trusted proxy itself appended.
    """
    if forwarded_for and trusted_proxies and _is_trusted(peer, trusted_proxies):
        return forwarded_for.split(",")[-1].strip()
    return peer


def _is_trusted(peer: str, trusted_proxies: list[str]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in trusted_proxies)
