"""Exporting a run as a SavedModel (`transfusion_tf/serving.py`, the binary
`transfusion_tf/export.py`): it predicts what `predict` does, on raw images of any size."""

from __future__ import annotations

import json
import os
import textwrap

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from tests import binaries, tolerances
from tests.transfusion_tf.test_predict import (
    COLUMNS,
    READABLE,
    probability_atol,
    write_image_folder,
)
from transfusion_tf import experiment, prediction, serving, tasks, trained_run

GRADE_OUTPUTS = ["logits", "probabilities", *COLUMNS[1:]]


@pytest.fixture(scope="module")
def exported(retina_run, eyepacs_root, tmp_path_factory):
    """(export dir, its record, the image folder, predict's table of that folder)."""
    base = tmp_path_factory.mktemp("export")
    out = base / "savedmodel"
    out.mkdir()  # An empty directory is taken.
    record = serving.export_saved_model(retina_run[0], str(out))
    folder = write_image_folder(str(base / "images"), eyepacs_root)
    prediction.predict_images(retina_run[0], folder, str(base / "p.csv"))
    return str(out), record, folder, pd.read_csv(base / "p.csv")


def _spec(dtype, *shape):
    return {"dtype": dtype, "shape": list(shape)}


def test_export_json_records_the_run_and_the_signatures(retina_run, exported):
    out, record, _, _ = exported
    assert sorted(os.listdir(out)) == [
        "assets", "export.json", "fingerprint.pb", "saved_model.pb", "variables",
    ]  # fmt: skip
    assert not [n for n in os.listdir(os.path.dirname(out)) if ".partial" in n]
    with open(os.path.join(out, "export.json")) as f:
        assert json.load(f) == record
    outputs = {"logits": _spec("float32", None, 5), "probabilities": _spec("float32", None, 5)}
    outputs |= {name: _spec("float32", None) for name in COLUMNS[1:]}
    expected = {
        "format": 1,
        "run": os.path.abspath(retina_run[0]),
        "checkpoint": os.path.join(os.path.abspath(retina_run[0]), "checkpoints", "ckpt-6"),
        "step": 6,
        "model": "cbr_tiny",
        "task": "dr_grade",
        "task_options": {},
        "image_size": 32,
        "channels": 3,
        "resize_mode": "pad",
        "preprocessing": "inception",
        "precision": "float32",
        "weight_averages": False,
        "signatures": {
            "serving_default": {
                "inputs": {"images": _spec("uint8", None, None, None, 3)},
                "outputs": outputs,
            },
            "serve_encoded": {"inputs": {"encoded": _spec("string", None)}, "outputs": outputs},
        },
        "tensorflow": tf.__version__,
    }
    assert {k: v for k, v in record.items() if k != "exported"} == expected


def _raw(path: str) -> np.ndarray:
    """The file's pixels as TensorFlow decodes them (what a serving client would send)."""
    return tf.io.decode_image(tf.io.read_file(path), channels=3, expand_animations=False).numpy()


def test_the_savedmodel_matches_predict_on_raw_images_of_two_sizes(retina_run, exported):
    out, _, folder, table = exported
    loaded = tf.saved_model.load(out)
    assert sorted(loaded.signatures) == ["serve_encoded", "serving_default"]
    by_size = {}
    for row, name in enumerate(READABLE):
        pixels = _raw(os.path.join(folder, name))
        by_size.setdefault(pixels.shape, []).append((row, pixels))
    assert sorted(by_size) == [(30, 52, 3), (40, 40, 3)]  # Two sizes, one call each.
    run = trained_run.restore_run(retina_run[0])
    for rows_and_pixels in by_size.values():
        rows = [row for row, _ in rows_and_pixels]
        images = tf.constant(np.stack([pixels for _, pixels in rows_and_pixels]))
        outputs = loaded.signatures["serving_default"](images=images)
        assert sorted(outputs) == sorted(GRADE_OUTPUTS)
        logits = outputs["logits"].numpy()
        atol = probability_atol(run.model, logits)
        assert atol <= 1e-5  # The bound the export promises, derived for this model.
        for column in COLUMNS[1:]:
            np.testing.assert_allclose(
                outputs[column].numpy(), table[column].to_numpy()[rows], rtol=0, atol=atol
            )
        np.testing.assert_allclose(
            outputs["probabilities"].numpy(), table[COLUMNS[1:6]].to_numpy()[rows], atol=atol
        )
    encoded = [open(os.path.join(folder, name), "rb").read() for name in READABLE]
    outputs = loaded.signatures["serve_encoded"](encoded=tf.constant(encoded))
    for column in COLUMNS[1:]:
        np.testing.assert_allclose(outputs[column], table[column], rtol=0, atol=atol)


@pytest.mark.parametrize(
    "task",
    [
        tasks.DRGradeTask(),
        tasks.get_task("chexpert5"),
        tasks.get_task("multi_label", labels=("Pleural Effusion", "edema")),
        tasks.get_task("classification", num_classes=7),
    ],
    ids=lambda task: task.name,
)
def test_serving_outputs_are_each_tasks_prediction_columns(task):
    logits = np.random.default_rng(1).normal(0, 3, (6, task.num_outputs)).astype(np.float32)
    outputs = serving.output_tensors(task, tf.constant(logits))
    columns = task.prediction_columns(logits)
    assert list(outputs) == ["logits", "probabilities", *columns]
    np.testing.assert_array_equal(outputs["logits"], logits)
    # Probabilities lie in [0, 1]: a float32 softmax or sigmoid (8 roundings) against float64.
    atol = tolerances.elementwise_rtol(8)
    for name, values in columns.items():
        if name == "predicted":
            np.testing.assert_array_equal(outputs[name], values)
        else:
            np.testing.assert_allclose(outputs[name], values, rtol=0, atol=atol)
    with pytest.raises(ValueError, match="no serving outputs for task 'x'; known: ClassificationT"):
        serving.output_tensors(type("Other", (), {"name": "x"})(), tf.constant(logits))


def test_an_export_never_overwrites_and_needs_a_run(retina_run, exported, tmp_path):
    with pytest.raises(serving.ExportExists, match="exists and is not empty: choose a new --out"):
        serving.export_saved_model(retina_run[0], exported[0])
    with pytest.raises(experiment.NotARun):
        serving.export_saved_model(str(tmp_path / "nope"), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists()


# Runs in a fresh interpreter (in the test's directory, nothing on PYTHONPATH) where this
# repository's packages cannot be imported (None in sys.modules makes an import fail; the
# shared venv may have the package installed): the SavedModel must carry the model, resize,
# preprocessing and outputs by itself.
_RELOAD = textwrap.dedent(
    """
    import sys
    for package in ("transfusion_tf", "pipelines", "slim_weights", "analysis", "errors"):
        sys.modules[package] = None
    import numpy as np, tensorflow as tf
    images = np.load(sys.argv[2])
    outputs = tf.saved_model.load(sys.argv[1]).signatures["serving_default"](images=images)
    np.savez(sys.argv[3], **{name: t.numpy() for name, t in outputs.items()})
    """
)


def test_the_binary_exports_a_savedmodel_that_loads_without_this_package(
    retina_run, exported, tmp_path
):
    out, _, folder, _ = exported
    run = ["transfusion_tf.export", f"--workdir={retina_run[0]}"]
    bad = binaries.run_main(*run)  # No --out: flag parsing, in this process.
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1].startswith("error: flag --out=None: Flag --out must have")
    export = binaries.run(*run, f"--out={tmp_path / 'at4'}", "--checkpoint=4")
    lines = export.stdout.splitlines()
    checkpoint = os.path.join(os.path.abspath(retina_run[0]), "checkpoints", "ckpt-4")
    assert lines[0] == f"checkpoint {checkpoint} (step 4)"
    assert lines[1] == (
        "signature serving_default(images uint8 [None, None, None, 3]) -> "
        + ", ".join(GRADE_OUTPUTS)
    )
    assert lines[3:] == [
        "images resized to 32 px (pad), 3 channels, inception preprocessing",
        f"exported: {tmp_path / 'at4'} (described in {tmp_path / 'at4' / 'export.json'})",
    ]
    pixels = _raw(os.path.join(folder, "wide.png"))[None]
    np.save(tmp_path / "images.npy", pixels)
    binaries.run("-c", _RELOAD, str(tmp_path / "at4"), "images.npy", "out.npz",
                 cwd=tmp_path, env={"PYTHONPATH": None})  # fmt: skip
    served = np.load(tmp_path / "out.npz")
    summary = prediction.predict_images(
        retina_run[0], folder, str(tmp_path / "p4.csv"), checkpoint="4"
    )
    assert summary.step == 4
    row = pd.read_csv(tmp_path / "p4.csv").set_index("image").loc["wide.png"]
    model = trained_run.restore_run(retina_run[0], "4").model
    atol = probability_atol(model, served["logits"])
    for column in COLUMNS[1:]:
        np.testing.assert_allclose(served[column], [row[column]], rtol=0, atol=atol)
