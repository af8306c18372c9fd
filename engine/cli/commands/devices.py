"""``vocalis devices``: what Vocalis can run models on, the device it picks and why a GPU is not used."""

from __future__ import annotations

import argparse

from engine.cli import EXIT_OK
from engine.cli.output import add_json_flag, print_json
from engine.models.devices import describe_devices

NAME = "devices"
HELP = "list the devices models can run on, with memory, and the one Vocalis picks"


def configure(parser: argparse.ArgumentParser) -> None:
    add_json_flag(parser)


def _gib(num_bytes: int | None) -> str:
    return "?" if num_bytes is None else f"{num_bytes / 2**30:.1f} GiB"


def run(args: argparse.Namespace) -> int:
    report = describe_devices()
    if args.json:
        print_json(report.to_dict())
        return EXIT_OK
    print(f"torch {report.torch_version}, CUDA {report.cuda_version or 'none'}; "
          f"chosen device: {report.chosen}; CPU threads: {report.cpu_threads}")
    for device in report.devices:
        note = f"  ({device.note})" if device.note else ""
        print(f"  {device.id:8} {device.name}: {_gib(device.free_bytes)} free of {_gib(device.total_bytes)}, "
              f"{device.dtype}{note}")
    if report.gpu_note:
        print(f"no GPU used: {report.gpu_note}")
    return EXIT_OK
