"""The registry of trained weights: register, read back, find by model name, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from slim_weights import checkpoint, manifest, registry


def _entry(tmp_path, model="cbr_small", **changes):
    path = checkpoint.write_checkpoint(
        {"block1/conv/weights": np.ones((3, 3, 3, 2), np.float32)}, tmp_path / "w" / model
    )
    fields = dict(
        model=model,
        path=path,
        num_classes=24,
        label_offset=0,
        input_size=64,
        preprocessing="inception",
        head_scopes=("logits",),
        first_conv="block1/conv/weights",
        model_options={"widths": [4, 8, 8, 8]},
        source={"run": "/runs/x", "step": 2400},
    )
    fields.update(changes)
    return registry.TrainedEntry(**fields)


def test_register_read_and_find(tmp_path):
    path = str(tmp_path / "sub" / "weights.json")
    assert registry.read_registry(path) == {}
    entry = _entry(tmp_path)
    assert registry.register(entry, path) == path
    assert registry.read_registry(path) == {"cbr_small": entry}
    assert registry.find_weights("cbr_small", path) == entry
    # Released weights are found when nothing is registered under the name.
    assert registry.find_weights("resnet_v1_50", path) == manifest.get_entry("resnet_v1_50")
    # Registering again replaces; other models stay.
    registry.register(_entry(tmp_path, model="cbr_tiny"), path)
    newer = _entry(tmp_path, input_size=96)
    registry.register(newer, path)
    assert registry.read_registry(path) == {
        "cbr_small": newer,
        "cbr_tiny": _entry(tmp_path, "cbr_tiny"),
    }
    data = json.load(open(path))
    assert data["format"] == 1 and data["entries"]["cbr_small"]["head_scopes"] == ["logits"]
    # A registered entry wins over a released one of the same name.
    mine = _entry(tmp_path, model="resnet_v1_50", preprocessing="vgg")
    registry.register(mine, path)
    assert registry.find_weights("resnet_v1_50", path) == mine


def test_errors_name_what_exists(tmp_path):
    path = str(tmp_path / "weights.json")
    registry.register(_entry(tmp_path), path)
    with pytest.raises(registry.RegistryError, match=r"no pretrained weights for 'cbr_tiny'.*"
                       r"released for inception_v3, resnet_v1_50.*: cbr_small"):  # fmt: skip
        registry.find_weights("cbr_tiny", path)
    with pytest.raises(registry.RegistryError, match="register an existing V2 checkpoint"):
        registry.register(_entry(tmp_path, path=str(tmp_path / "absent")), path)
    (tmp_path / "bad.json").write_text('{"format": 7, "entries": {}}')
    with pytest.raises(registry.RegistryError, match="bad.json is not a weights registry"):
        registry.read_registry(str(tmp_path / "bad.json"))
    (tmp_path / "odd.json").write_text(
        json.dumps({"format": 1, "entries": {"x": {"model": "x", "colour": "red"}}})
    )
    with pytest.raises(registry.RegistryError, match=r"unknown entry fields \['colour'\]"):
        registry.read_registry(str(tmp_path / "odd.json"))


def test_default_location_is_in_the_home_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert registry.registry_path() == str(tmp_path / ".transfusion_tf" / "weights.json")
    assert registry.registry_path("~/x.json") == str(tmp_path / "x.json")
