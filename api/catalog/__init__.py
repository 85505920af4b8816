"""The catalog of models and system voices (read-only, loaded from TOML)."""

from api.catalog.catalog import Catalog, ModelSpec, VoiceSpec, get_catalog, load_catalog

__all__ = ["Catalog", "ModelSpec", "VoiceSpec", "get_catalog", "load_catalog"]
