"""The model registry: ``registry.json`` in a models folder maps a name to a file, its sha256 and its contract.

Only models listed here load, and only when the file's sha256 matches, so an unknown or modified file is
refused before onnxruntime parses a byte of it. The folder is ``addon/models/`` unless a caller passes one or
``$POSTPASS_MODELS`` names one (tests and studios keep their own). Export writes entries with :meth:`publish`.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .contract import ModelContract, ModelError
from .files import atomic_output

REGISTRY_FILE = "registry.json"
REGISTRY_FORMAT = 1
MODELS_DIR_ENV = "POSTPASS_MODELS"
DEFAULT_MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def models_dir(folder: str | os.PathLike | None = None) -> Path:
    """The models folder: ``folder`` if given, else ``$POSTPASS_MODELS``, else the add-on's ``models/``."""
    return Path(folder or os.environ.get(MODELS_DIR_ENV) or DEFAULT_MODELS_DIR)


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RegistryEntry:
    name: str
    path: Path
    sha256: str
    precision: str  # fp32 | fp16
    version: str
    contract: ModelContract
    summary: dict  # what people read in registry.json: task, inputs, scale, metrics, ...


class Registry:
    """The models of one folder, in the order they were published (earlier wins ties in :meth:`choose`)."""

    def __init__(self, folder: str | os.PathLike | None = None, create: bool = False):
        self.folder = models_dir(folder)
        self.path = self.folder / REGISTRY_FILE
        self._raw: dict[str, dict] = {}
        if self.path.is_file():
            try:
                data = json.loads(self.path.read_text())
                if data.get("format") != REGISTRY_FORMAT:
                    raise ValueError(f"format {data.get('format')!r}, expected {REGISTRY_FORMAT}")
                self._raw = dict(data["models"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise ModelError(f"{self.path}: unreadable model registry ({exc})".splitlines()[0]) from None
        elif not create:
            raise ModelError(f"{self.path}: no model registry here (export models with `python -m export`)")
        self.entries = {name: self._entry(name, raw) for name, raw in self._raw.items()}

    def _entry(self, name: str, raw: dict) -> RegistryEntry:
        try:
            file = raw["file"]
            if Path(file).name != file:  # entries name files in this folder, never elsewhere
                raise ModelError(f"{self.path}: model {name!r} names a file outside its folder: {file!r}")
            contract = ModelContract.from_metadata(raw["contract"], f"{self.path} [{name}]")
            return RegistryEntry(name, self.folder / file, raw["sha256"], raw["precision"], raw["version"],
                                 contract, {k: v for k, v in raw.items() if k != "contract"})
        except KeyError as exc:
            raise ModelError(f"{self.path}: model {name!r} lacks {exc.args[0]!r}") from None

    def get(self, name: str) -> RegistryEntry:
        if name not in self.entries:
            known = ", ".join(self.entries) or "none"
            raise ModelError(f"unknown model {name!r} in {self.path} (known: {known})")
        return self.entries[name]

    def read_verified(self, name: str) -> bytes:
        """The model file's bytes, after checking them against the registry's sha256."""
        entry = self.get(name)
        data, problem = self._read(entry)
        if problem:
            raise ModelError(f"{entry.path}: {problem}")
        return data

    def verify(self, name: str) -> str | None:
        """What is wrong with model ``name``'s file (missing, unreadable, sha256 differs: a tampered or
        replaced file), in a few words; None when it matches the registry."""
        return self._read(self.get(name))[1]

    @staticmethod
    def _read(entry: RegistryEntry) -> tuple[bytes | None, str | None]:
        try:
            data = entry.path.read_bytes()
        except OSError as exc:
            return None, f"cannot read model {entry.name!r} ({exc.strerror or exc})"
        digest = sha256_of(data)
        if digest != entry.sha256:
            return None, (f"sha256 {digest[:12]}... does not match the registry's {entry.sha256[:12]}...; "
                          "refusing a modified model file")
        return data, None

    def choose(self, task: str, given: set[str], scale: int | None = None, precision: str = "fp32",
               exact: bool = True) -> RegistryEntry:
        """The model of ``task`` for the inputs ``given``: it must need no input missing from them and, when
        ``exact`` (arrays passed by a caller), take every one of them; files offer more passes than any model
        uses, so for them ``exact`` is off.

        Among several, the one that uses the most of what was given, then the one that requires the most (it
        was made for those inputs), then the earliest published.
        """
        def accepts(e: RegistryEntry) -> set[str]:
            return {i.name for i in e.contract.inputs}

        fitting = [e for e in self.entries.values()
                   if e.contract.task == task and e.precision == precision
                   and (scale is None or e.contract.scale == scale)
                   and set(e.contract.required) <= given and (not exact or given <= accepts(e))]
        if not fitting:
            of_task = [e for e in self.entries.values() if e.contract.task == task]
            have = "; ".join(f"{e.name} (x{e.contract.scale} {e.precision}: needs {', '.join(e.contract.required)}"
                             f"; takes {', '.join(sorted(accepts(e)))})" for e in of_task) or "none"
            want = f"{task}" + (f" x{scale}" if scale else "") + f" {precision}"
            raise ModelError(f"no {want} model in {self.path} fits inputs {', '.join(sorted(given)) or 'none'} "
                             f"(its {task} models: {have})")
        return max(fitting, key=lambda e: (len(accepts(e) & given), len(e.contract.required)))

    def publish(self, name: str, file: str, data_sha256: str, metadata: dict[str, str]) -> None:
        """Add or replace one model's entry and rewrite registry.json atomically."""
        contract = ModelContract.from_metadata(metadata, name)
        contract_keys = set(contract.to_metadata())
        self._raw[name] = {
            "file": file,
            "sha256": data_sha256,
            "task": contract.task,
            "version": metadata.get("version", ""),
            "precision": metadata.get("precision", "fp32"),
            "scale": contract.scale,
            "inputs": [i.name for i in contract.inputs],
            "required": list(contract.required),
            "metrics": json.loads(metadata.get("metrics") or "{}"),
            "contract": {k: v for k, v in metadata.items() if k in contract_keys},
        }
        self.entries[name] = self._entry(name, self._raw[name])
        with atomic_output(self.path) as tmp:
            Path(tmp).write_text(json.dumps({"format": REGISTRY_FORMAT, "models": self._raw}, indent=1) + "\n")
