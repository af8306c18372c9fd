"""Start (if needed) the PulseAudio server with a null sink that audio tests play into and record from."""

from __future__ import annotations

import subprocess

from tests.conftest import REPO


def ensure_null_sink_pulseaudio() -> None:
    """Source tools/pulse.sh and start its null-sink server unless one answers already, then make
    PortAudio see its devices."""
    subprocess.run(["bash", "-c", f"source '{REPO}/tools/pulse.sh' && start_null_sink_pulseaudio"],
                   check=True, capture_output=True)
    from engine.audio import devices

    devices.rescan_devices()
