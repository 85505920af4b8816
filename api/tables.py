"""Imports every table module so ``api.db.metadata`` is complete (alembic, tests)."""

from api.accounts.models import ConsoleSession, ProviderKey, SignInTicket, User
from api.billing.models import Hold, LedgerEntry, RedemptionCode
from api.billing.sweeper import HoldOwner, ProcessInstance
from api.history.models import HistoryRecord
from api.jobs.models import Job
from api.keys.models import ApiKey
from api.storage.models import StoredObject
from api.voices.models import ClonedVoice

__all__ = [
    "ApiKey",
    "ClonedVoice",
    "ConsoleSession",
    "HistoryRecord",
    "Hold",
    "HoldOwner",
    "Job",
    "LedgerEntry",
    "ProcessInstance",
    "ProviderKey",
    "RedemptionCode",
    "SignInTicket",
    "StoredObject",
    "User",
]
