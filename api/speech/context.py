"""What the speech use cases work with: database, settings, catalog, engines, object store.

Built once per process by each door (``SpeechContext.from_settings``) or by tests with fakes.
"""

from __future__ import annotations

from dataclasses import dataclass

from api.catalog.catalog import Catalog, catalog_for
from api.db import Database
from api.engines.hosted import register_hosted
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
