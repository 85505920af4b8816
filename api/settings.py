"""Runtime configuration: one pydantic-settings class, from ``AMPHION_*`` variables and ``.env``.

Everything an operator can change lives here, with the embedded defaults that let a fresh clone
run on one machine (SQLite and local storage under ``./data``). Outside ``development`` the
default secret key is refused, because every API-key digest, session digest and signed URL is
keyed by it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "amphion-development-secret-change-me"
# The offline engines of the models most calls use: the system voices (espeak-ng, which every
# speech plan looks up, and Piper), whisper-1 and voice cloning's transcript check (Whisper base).
DEFAULT_PRELOADED_ENGINES = ("espeak-ng", "piper", "faster-whisper-base")


class Settings(BaseSettings):
    """All knobs of the platform; see README "Configuration" for what each one does."""

    model_config = SettingsConfigDict(
        env_prefix="AMPHION_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = DEVELOPMENT_SECRET_KEY

    data_dir: Path = Path("data")
    database_url: str = ""  # empty: SQLite file inside data_dir
    # WAL + NORMAL survives a crash of the process with nothing lost, and an OS crash or power
    # cut with at most the last transactions lost (never a corrupt or negative ledger); FULL
    # also keeps those, at one fsync per commit (about 10x fewer charges per second here).
    sqlite_synchronous: Literal["NORMAL", "FULL"] = "NORMAL"
    redis_url: str = ""  # empty: in-process rate limits (single process only)

    host: str = "0.0.0.0"
    port: int = 8888
    public_base_url: str = ""  # empty: derived from the request
    trusted_proxies: list[str] = Field(default_factory=list)

    # The model and voice catalog (empty: the shipped api/catalog/default.toml).
    catalog_path: str = ""
    # Hosted providers the catalog may route models to, by name ("openai", "dashscope",
    # "fish"): {"openai": {"base_url": "https://…/v1", "api_key": "…"}}; optional keys are
    # ProviderConfig's (timeouts, "models" renames). A JSON object in AMPHION_PROVIDERS.
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict, repr=False)

    # Storage: "local" keeps objects under data_dir/objects; "s3" uses the AMPHION_S3_* settings.
    storage_backend: Literal["local", "s3"] = "local"
    s3_bucket: str = "amphion"
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_access_key_id: str = ""
    s3_secret_access_key: str = ""
    signed_url_ttl_seconds: int = 24 * 3600

    # Accounts and sessions.
    signup_bonus_micros: int = 100_000_000  # ¥100
    session_idle_minutes: int = 12 * 60
    session_absolute_hours: int = 7 * 24
    signup_limit_per_hour: int = 5
    signin_limit_per_15min: int = 10
    cookie_secure: bool = False  # set true behind HTTPS

    # API keys: a cached verification is trusted this long; revocation must bite within 1 s
    # (a key in use is re-read in the background from half this age on).
    key_cache_seconds: float = 0.8
    ip_requests_per_minute: int = 3000  # speech calls per client address (0: no limit)
    # Largest request body, checked while it streams in: 25 MB of audio (OpenAI's upload limit)
    # plus room for the multipart envelope and form fields.
    max_request_bytes: int = 26 * 1024 * 1024
    key_last_used_resolution_seconds: int = 60

    # A serving process runs its threads under Linux's SCHED_BATCH (api/scheduling.py): a
    # thread woken by I/O no longer preempts the one holding the GIL. False: the default policy.
    batch_scheduling: bool = True

    # Jobs.
    inprocess_worker: bool = True
    job_lease_seconds: int = 30
    job_max_attempts: int = 3
    max_active_jobs_per_account: int = 20  # queued + running async tasks per account
    job_poll_seconds: float = 0.5
    job_handler_modules: list[str] = Field(default_factory=list)

    # Engines loaded in a background thread when a server starts (api/engines/preload.py), so
    # a fresh server's first calls do not wait for a model (Piper took 0.7 s here). None:
    # DEFAULT_PRELOADED_ENGINES, except in the test environment, which loads none. A JSON list
    # in the environment; [] loads none.
    preload_engines: list[str] | None = None

    # Hosted providers' circuit breakers (api/engines/circuit.py): after this many consecutive
    # failures (5xx, timeouts, refused connections) a provider is refused fast with a 503 for
    # circuit_open_seconds, then one trial request decides whether it is back.
    circuit_failure_threshold: int = Field(default=5, ge=1)
    circuit_open_seconds: float = Field(default=30.0, gt=0)

    # --- fetching user-given URLs (SSRF-safe)
    # audio_url / file_url downloads (api/http/fetch.py): one deadline for the whole download,
    # redirects included; the size cap is enforced while streaming.
    fetch_timeout_seconds: float = 30
    fetch_max_bytes: int = 25 * 1024 * 1024
    fetch_max_redirects: int = 3
    # Hostnames, IPs or CIDRs exempt from the public-address rule (an internal MinIO, say):
    # a hostname entry trusts whatever that name resolves to, an IP/CIDR entry those addresses.
    # Cloud metadata addresses stay refused even if listed. A JSON list in the environment.
    fetch_allowed_hosts: list[str] = Field(default_factory=list)

    # --- stale holds (api/billing/sweeper.py)
    # Each web/worker process beats this often; one silent for instance_stale_seconds (at least
    # three beats) is dead, and the credit its unfinished requests held is given back.
    instance_heartbeat_seconds: float = Field(default=10.0, gt=0)
    instance_stale_seconds: float = Field(default=60.0, gt=0)

    @property
    def engines_to_preload(self) -> tuple[str, ...]:
        """The registry names of the engines a starting server loads (see preload_engines)."""
        if self.preload_engines is not None:
            return tuple(self.preload_engines)
        return () if self.environment == "test" else DEFAULT_PRELOADED_ENGINES

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.environment != "development" and self.secret_key == DEVELOPMENT_SECRET_KEY:
            raise ValueError(
                "AMPHION_SECRET_KEY must be set to a long random value outside development"
            )
        if len(self.secret_key) < 16:
            raise ValueError("AMPHION_SECRET_KEY must be at least 16 characters")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'amphion.db').resolve()}"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
