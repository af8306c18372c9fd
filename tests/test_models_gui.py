"""The Models dialog and the Device panel, driven through their widgets with real files and jobs."""

from __future__ import annotations

import hashlib
import os

import pytest
from PySide6.QtCore import QObject, QUrl, Slot
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import QMessageBox

from engine.models.catalog import read_catalog
from engine.models.runtime import load_runtime_settings
from engine.models.store import ModelStore
from gui.device_panel import DevicePanel
from gui.models_dialog import ModelsDialog
from tests.hf_server import FakeHub, serve

WEIGHTS = os.urandom(300_000)


@pytest.fixture
def hub(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakeHub()
    fake.add("acme/net", "net.safetensors", WEIGHTS)
    server = serve(fake)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def dialog(qtbot, tmp_path):
    catalog = tmp_path / "catalog.toml"
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    common = 'task = "separate"\nfamily = "test"\nsample_rate = 16000\nmemory_mb = 10\n'
    catalog.write_text(f"""
[[model]]
id = "net"
name = "Hub net"
licence = "CC-BY-NC-4.0"
{common}
source = {{ kind = "huggingface", repo = "acme/net" }}
files = [{{ name = "net.safetensors", size = {len(WEIGHTS)}, sha256 = "{sha}" }}]

[[model]]
id = "local"
name = "Local net"
licence = "MIT"
{common}
source = {{ kind = "import", hint = "a file" }}
files = [{{ name = "local.pt", size = {len(WEIGHTS)}, sha256 = "{sha}" }}]
""")
    widget = ModelsDialog(ModelStore(tmp_path / "models", read_catalog(catalog)))
    qtbot.addWidget(widget)
    return widget


def _finish(qtbot, dialog):
    qtbot.waitUntil(lambda: not dialog.runner.running, timeout=20000)


def test_table_lists_the_catalog_with_states_and_licences(dialog):
    assert dialog.table.rowCount() == 2
    assert dialog.state_shown("net") == "missing"
    assert dialog.table.item(0, 4).text() == "CC-BY-NC-4.0"
    dialog.select("local")
    assert not dialog.buttons["download"].isEnabled() and not dialog.buttons["verify"].isEnabled()
    assert dialog.buttons["import_file"].isEnabled()


def test_download_asks_for_the_licence_first(qtbot, dialog, hub, monkeypatch):
    shown = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kw: shown.append(args[2]) or QMessageBox.StandardButton.No)
    dialog.select("net")
    assert dialog.download_selected() is None
    assert "CC-BY-NC-4.0" in shown[0] and hub.requests == []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kw: QMessageBox.StandardButton.Yes)
    job = dialog.download_selected()
    assert job is not None and not dialog.buttons["download"].isEnabled()
    _finish(qtbot, dialog)
    assert job.error is None
    assert dialog.state_shown("net") == "installed"
    assert (dialog.store.folder("net") / "net.safetensors").read_bytes() == WEIGHTS


def test_install_brings_the_required_models_and_shows_them(qtbot, tmp_path, hub, monkeypatch):
    hub.add("acme/tok", "tok.json", b"{}")
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    common = 'task = "tts"\nfamily = "test"\nsample_rate = 16000\nmemory_mb = 10\n'
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(f"""
[[model]]
id = "tok"
name = "Tokenizer"
licence = "CC-BY-NC-SA-4.0"
{common}
source = {{ kind = "huggingface", repo = "acme/tok" }}
files = [{{ name = "tok.json", size = 2 }}]

[[model]]
id = "net"
name = "Hub net"
licence = "CC-BY-NC-4.0"
requires = ["tok"]
{common}
source = {{ kind = "huggingface", repo = "acme/net" }}
files = [{{ name = "net.safetensors", size = {len(WEIGHTS)}, sha256 = "{sha}" }}]
""")
    dialog = ModelsDialog(ModelStore(tmp_path / "models", read_catalog(catalog)))
    qtbot.addWidget(dialog)
    dialog.select("net")
    assert dialog.table.item(dialog.table.currentRow(), 6).text() == "tok"
    assert "Requires: tok (missing)" in dialog.details.text()
    shown = []
    monkeypatch.setattr(QMessageBox, "question", lambda *args, **kw: shown.append(args[2]) or QMessageBox.StandardButton.Yes)
    job = dialog.download_selected()
    assert "CC-BY-NC-SA-4.0" in shown[0] and "CC-BY-NC-4.0" in shown[0]
    _finish(qtbot, dialog)
    assert job.error is None
    assert dialog.state_shown("tok") == "installed" and dialog.state_shown("net") == "installed"
    assert not dialog.buttons["download"].isEnabled()  # nothing left to install


def test_import_verify_and_delete(qtbot, dialog, tmp_path):
    source = tmp_path / "mine.pt"
    source.write_bytes(WEIGHTS)
    dialog.select("local")
    dialog.import_path(source)
    _finish(qtbot, dialog)
    assert dialog.state_shown("local") == "installed"
    (dialog.store.folder("local") / "local.pt").write_bytes(b"tampered")
    dialog.refresh()
    assert dialog.state_shown("local") == "corrupt"
    dialog.verify_selected()
    _finish(qtbot, dialog)
    qtbot.waitUntil(lambda: dialog.findChild(QMessageBox, "vocalis-error") is not None)
    assert "local.pt" in dialog.findChild(QMessageBox, "vocalis-error").text()
    dialog.select("local")
    dialog.delete_selected()
    assert dialog.state_shown("local") == "missing" and source.read_bytes() == WEIGHTS


class _UrlCatcher(QObject):
    def __init__(self):
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_show_folder_opens_the_models_folder(dialog):
    catcher = _UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        assert dialog.show_folder()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [u.toLocalFile() for u in catcher.urls] == [str(dialog.store.root)]


@pytest.fixture
def keep_torch_threads():
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_device_panel_shows_devices_and_saves_a_usable_choice(qtbot, keep_torch_threads):
    import torch

    panel = DevicePanel()
    qtbot.addWidget(panel)
    assert panel.table.item(0, 0).text() == "cpu"
    assert "Models run on" in panel.summary.text()
    panel.form.editor("cpu_threads").setValue(1)
    panel.form.editor("device").setCurrentText("cpu")
    assert panel.apply().cpu_threads == 1
    assert load_runtime_settings().device == "cpu" and load_runtime_settings().cpu_threads == 1
    assert torch.get_num_threads() == 1


def test_device_panel_refuses_an_unusable_device(qtbot):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: the refusal needs a machine without it")
    panel = DevicePanel()
    qtbot.addWidget(panel)
    panel.form.editor("device").setCurrentText("cuda")
    assert panel.apply() is None
    error = panel.findChild(QMessageBox, "vocalis-error")
    assert error is not None and "device cuda is not usable" in error.text()
    assert load_runtime_settings().device == "auto"
