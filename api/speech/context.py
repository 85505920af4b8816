"""What the speech use cases work with: database, settings, catalog, engines, object store.

Built once per process by each door (``SpeechContext.from_settings``) or by tests with fakes.
A use case first narrows it to its caller (``for_caller``), so a bring-your-own-key model runs
on that caller's own provider key.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from api.accounts.provider_keys import require_provider_key
from api.catalog.catalog import Catalog, catalog_for
from api.db import Database
from api.engines.hosted import OwnKeyEngines, register_hosted
from api.engines.registry import EngineRegistry, get_registry
from api.settings import Settings
from api.storage import get_object_store
from api.storage.base import ObjectStore


@dataclass
class SpeechContext:
    settings: Settings
    db: Database
    catalog: Catalog
    engines: EngineRegistry
    store: ObjectStore

    @classmethod
    def from_settings(cls, settings: Settings, db: Database) -> SpeechContext:
        catalog = catalog_for(settings.catalog_path)
        engines = get_registry(settings)
        register_hosted(engines, catalog, settings)
        return cls(settings, db, catalog, engines, get_object_store(settings))

    def for_caller(self, user_id: int) -> SpeechContext:
        """This context as ``user_id`` sees it: own-key models use that user's stored key."""
        if not any(model.byok for model in self.catalog.models()):
            return self
        shared = self.engines.shared if isinstance(self.engines, OwnKeyEngines) else self.engines

        def user_key(provider: str) -> str:
            with self.db.read() as session:
                return require_provider_key(
                    session,
                    user_id=user_id,
                    provider=provider,
                    secret_key=self.settings.secret_key,
                )

        engines = OwnKeyEngines(shared, self.catalog, self.settings, user_key)
        return replace(self, engines=engines)
