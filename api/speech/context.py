"""What the speech use cases work with: database, settings, catalog, engines, object store.

Built once per process by each door (``SpeechContext.from_settings``) or by tests with fakes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from api.catalog.catalog import Catalog, load_catalog
from api.db import Database
from api.engines.registry import EngineRegistry, default_registry
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
        catalog = load_catalog(Path(settings.catalog_path)) if settings.catalog_path else load_catalog()
        return cls(
            settings=settings,
            db=db,
            catalog=catalog,
            engines=default_registry(settings),
            store=get_object_store(settings),
        )
