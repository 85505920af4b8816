"""Objects in an S3 bucket (AWS, MinIO, Aliyun OSS in S3 mode, ...), shared by every worker.

Signed URLs are S3 presigned GETs: clients download straight from the bucket and the platform's
``/files`` route is not involved. The client is built on first use, so importing or
constructing the store never touches the network, with bounded connect/read timeouts and a few
retries: a stalled storage endpoint must fail a request, not hang it.

With a custom ``endpoint_url`` (MinIO, moto, most S3-compatible services) path-style addressing
is used, because virtual-hosted style needs wildcard DNS for ``{bucket}.{host}`` that such
deployments rarely have.
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from api.errors import InvalidInputError
from api.storage.base import (
    CHUNK_SIZE,
    ObjectNotFoundError,
    StorageUnavailableError,
    attachment_disposition,
)
from api.storage.keys import validate_key

# SigV4 presigned URLs cannot live longer than seven days.
MAX_PRESIGN_SECONDS = 7 * 24 * 3600
CONNECT_TIMEOUT_SECONDS = 5
READ_TIMEOUT_SECONDS = 30
MAX_ATTEMPTS = 3  # the first try and two retries (standard mode: backoff, transient errors)
# Objects bigger than this are buffered on disk, not in memory, while streamed into S3.
SPOOL_MEMORY_BYTES = 8 * 1024 * 1024

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound", "NoSuchBucket"})


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class S3ObjectStore:
    """An ``ObjectStore`` on one S3 bucket."""

    backend = "s3"

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        if not bucket:
            raise ValueError("S3ObjectStore needs a bucket name")
        self.bucket = bucket
        self.endpoint_url = endpoint_url or None
        self.region = region or "us-east-1"
        # Empty credentials mean "use boto3's default chain" (instance role, shared config).
        self._access_key_id = access_key_id or None
        self._secret_access_key = secret_access_key or None
        self.chunk_size = chunk_size
        self._client: Any = None
        self._client_lock = threading.Lock()
        self._bucket_ready = False
        self._bucket_lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the credentials
        return f"S3ObjectStore(bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"

    # -- client --------------------------------------------------------------------------------

    @property
    def client(self) -> Any:
        """The boto3 S3 client, built once; boto3 clients are thread-safe, sessions are not."""
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    self._client = self._build_client()
        return self._client

    def _build_client(self) -> Any:
        import boto3
        from botocore.config import Config

        config = Config(
            region_name=self.region,
            signature_version="s3v4",
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            read_timeout=READ_TIMEOUT_SECONDS,
            retries={"total_max_attempts": MAX_ATTEMPTS, "mode": "standard"},
            max_pool_connections=32,
            s3={"addressing_style": "path" if self.endpoint_url else "auto"},
            # Default checksums (CRC32 trailers) are refused by several S3-compatible servers;
            # send them only where the API requires them.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        session = boto3.session.Session(
            aws_access_key_id=self._access_key_id,
            aws_secret_access_key=self._secret_access_key,
            region_name=self.region,
        )
        return session.client("s3", endpoint_url=self.endpoint_url, config=config)

    def ensure_bucket(self) -> None:
        """Create the bucket if it does not exist yet (idempotent, safe to race)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            if _error_code(exc) not in _MISSING_CODES:
                raise StorageUnavailableError() from exc
            self._create_bucket()
        except BotoCoreError as exc:
            raise StorageUnavailableError() from exc
        self._bucket_ready = True

    def _create_bucket(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        arguments: dict[str, Any] = {"Bucket": self.bucket}
        # us-east-1 is the one region that refuses an explicit location constraint.
        if self.region != "us-east-1":
            arguments["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        try:
            self.client.create_bucket(**arguments)
        except ClientError as exc:
            if _error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                raise StorageUnavailableError() from exc
        except BotoCoreError as exc:
            raise StorageUnavailableError() from exc

    def _ensure_bucket_once(self) -> None:
        if self._bucket_ready:
            return
        with self._bucket_lock:
            if not self._bucket_ready:
                self.ensure_bucket()

    def _call(self, operation: str, **arguments: Any) -> Any:
        """One S3 call with its failures translated to domain errors."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **arguments)
        except ClientError as exc:
            if _error_code(exc) in _MISSING_CODES:
                raise ObjectNotFoundError() from exc
            raise StorageUnavailableError() from exc
        except BotoCoreError as exc:
            raise StorageUnavailableError() from exc

    # -- writes --------------------------------------------------------------------------------

    def put(self, key: str, data: bytes, content_type: str) -> None:
        validate_key(key)
        self._ensure_bucket_once()
        self._call("put_object", Key=key, Body=data, ContentType=content_type)

    def put_file(self, key: str, path: Path, content_type: str) -> None:
        validate_key(key)
        with Path(path).open("rb") as source:
            self._upload(key, source, content_type)

    def put_stream(self, key: str, chunks: Iterable[bytes], content_type: str) -> int:
        validate_key(key)
        # S3 needs the length (or a multipart upload) up front: spool, then upload in one go.
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            written = 0
            for chunk in chunks:
                spool.write(chunk)
                written += len(chunk)
            spool.seek(0)
            self._upload(key, spool, content_type)
        return written

    def _upload(self, key: str, source: Any, content_type: str) -> None:
        from boto3.exceptions import S3UploadFailedError
        from botocore.exceptions import BotoCoreError, ClientError

        self._ensure_bucket_once()
        try:
            # upload_fileobj switches to a multipart upload for big objects.
            self.client.upload_fileobj(
                source, self.bucket, key, ExtraArgs={"ContentType": content_type}
            )
        except (S3UploadFailedError, BotoCoreError, ClientError) as exc:
            raise StorageUnavailableError() from exc

    def delete(self, key: str) -> None:
        validate_key(key)
        try:
            self._call("delete_object", Key=key)
        except ObjectNotFoundError:
            pass  # bucket missing: nothing to delete

    # -- reads ---------------------------------------------------------------------------------

    def exists(self, key: str) -> bool:
        validate_key(key)
        try:
            self._call("head_object", Key=key)
        except ObjectNotFoundError:
            return False
        return True

    def size(self, key: str) -> int:
        validate_key(key)
        return int(self._call("head_object", Key=key)["ContentLength"])

    def get(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def open(self, key: str, *, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        validate_key(key)
        if start < 0 or (end is not None and end < start):
            raise InvalidInputError("Invalid byte range")
        if end is not None and end == start:
            self.size(key)  # still reports a missing object
            return iter(())
        arguments: dict[str, Any] = {"Key": key}
        if start or end is not None:
            last = "" if end is None else str(end - 1)
            arguments["Range"] = f"bytes={start}-{last}"
        try:
            response = self._call("get_object", **arguments)
        except StorageUnavailableError as exc:
            # A start beyond the end of the object is an empty read, not an outage.
            if _error_code(exc.__cause__ or exc) == "InvalidRange":
                return iter(())
            raise
        return self._read_body(response["Body"])

    def _read_body(self, body: Any) -> Iterator[bytes]:
        from botocore.exceptions import BotoCoreError

        try:
            yield from body.iter_chunks(self.chunk_size)
        except BotoCoreError as exc:
            raise StorageUnavailableError() from exc
        finally:
            body.close()

    # -- signed URLs ---------------------------------------------------------------------------

    def signed_url(
        self, key: str, *, expires_in: int, base_url: str = "", filename: str | None = None
    ) -> str:
        """A presigned GET URL on the bucket; ``base_url`` is not used (clients go to S3)."""
        validate_key(key)
        if expires_in <= 0:
            raise InvalidInputError("expires_in must be positive", param="expires_in")
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if filename is not None:
            params["ResponseContentDisposition"] = attachment_disposition(filename)
        # Presigning is local computation: no request is made, so no error translation needed.
        url: str = self.client.generate_presigned_url(
            "get_object", Params=params, ExpiresIn=min(int(expires_in), MAX_PRESIGN_SECONDS)
        )
        return url
