"""Request bodies shared by the account routes; unknown fields are ignored, never bound."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field

# Ids in paths are bounded so an absurd number is a 400, not a database overflow.
ObjectId = Annotated[int, Path(ge=1, le=2_147_483_647)]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=100)]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=False)


class Credentials(Body):
    email: str = Field(max_length=320)
    password: str = Field(max_length=4096)


class PasswordChange(Body):
    current_password: str = Field(max_length=4096)
    new_password: str = Field(max_length=4096)


class KeyCreate(Body):
    name: str = Field(default="API key", min_length=1, max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=10)
    expires_at: datetime | None = None
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)
    spend_cap: str | None = Field(default=None, max_length=32, description="yuan, e.g. '10.00'")
    rpm_limit: int | None = Field(default=None, ge=1, le=100_000)


class KeyUpdate(Body):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    scopes: list[str] | None = Field(default=None, max_length=10)
    expires_at: datetime | None = None
    spend_cap: str | None = Field(default=None, max_length=32)
    rpm_limit: int | None = Field(default=None, ge=1, le=100_000)


class Redeem(Body):
    code: str = Field(min_length=1, max_length=64)


class CreditChange(Body):
    email: str = Field(max_length=320)
    amount: str = Field(max_length=32, description="yuan; negative for an adjustment")
    note: str = Field(default="", max_length=500)


class CodesCreate(Body):
    amount: str = Field(max_length=32, description="yuan per code")
    count: int = Field(ge=1, le=1000)
    batch: str = Field(default="", max_length=64)
