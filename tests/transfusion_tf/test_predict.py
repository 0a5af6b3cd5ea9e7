"""Predicting unlabelled images with a trained run (`transfusion_tf/prediction.py`, the binary
`transfusion_tf/predict.py`): the run's own pipeline, unreadable images listed, flip TTA."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from PIL import Image

from errors import UsageError
from pipelines import decoding
from pipelines.preprocessing import get_preprocessing
from tests import binaries, tolerances
from tests.slim_reference import network_tolerance
from transfusion_tf import checkpointing, evaluation, experiment, prediction, trained_run

COLUMNS = ["image", *(f"p_grade{k}" for k in range(5)), "referable_score"]
READABLE = ["1_left.jpeg", "1_right.jpeg", "sub/2_left.jpeg", "wide.png"]
UNREADABLE = [
    ("broken/empty.png", "empty file"),
    ("broken/garbage.jpg", "cannot decode"),  # Only the decoder sees the damage.
    ("broken/text.jpeg", "not a JPEG, PNG or TIFF file"),
    ("broken/truncated.jpg", "truncated JPEG (no end-of-image marker)"),
]


def write_image_folder(folder: str, eyepacs_root: str) -> str:
    """Four readable images of two sizes (40x40 JPEGs, a 30x52 PNG), four unreadable ones,
    and two files the scan skips."""
    train = os.path.join(eyepacs_root, "train")
    os.makedirs(os.path.join(folder, "sub"))
    os.makedirs(os.path.join(folder, "broken"))
    for name in ("1_left.jpeg", "1_right.jpeg"):
        shutil.copy(os.path.join(train, name), os.path.join(folder, name))
    shutil.copy(os.path.join(train, "2_left.jpeg"), os.path.join(folder, "sub", "2_left.jpeg"))
    wide = np.random.default_rng(0).integers(0, 256, (30, 52, 3), dtype=np.uint8)
    wide[5:20, 5:20] = 230
    Image.fromarray(wide).save(os.path.join(folder, "wide.png"))
    jpeg = open(os.path.join(train, "3_left.jpeg"), "rb").read()
    garbage = bytearray(jpeg)
    garbage[3:60] = bytes(57)
    for name, content in [
        ("empty.png", b""),
        ("garbage.jpg", bytes(garbage)),
        ("text.jpeg", b"not an image"),
        ("truncated.jpg", jpeg[:300]),
    ]:
        with open(os.path.join(folder, "broken", name), "wb") as f:
            f.write(content)
    for name in ("notes.txt", ".hidden.jpg"):
        shutil.copy(os.path.join(train, "4_left.jpeg"), os.path.join(folder, name))
    return folder


@pytest.fixture(scope="module")
def image_folder(eyepacs_root, tmp_path_factory):
    return write_image_folder(str(tmp_path_factory.mktemp("unlabelled")), eyepacs_root)


def _pipeline_logits(run, paths, *, flip: bool = False) -> np.ndarray:
    """Logits by hand: the pipeline's `load_image`, the run's preprocessing, the model."""
    settings = run.images
    pixels = np.stack(
        [
            decoding.load_image(
                tf.constant(p), size=settings.image_size, channels=settings.channels,
                resize_mode=settings.resize_mode,
            )
            for p in paths
        ]
    )  # fmt: skip
    inputs = get_preprocessing(settings.preprocessing)(tf.cast(pixels, tf.float32)).numpy()
    if flip:
        inputs = inputs[:, :, ::-1]
    return run.model(inputs, training=False).numpy().astype(np.float64)


def probability_atol(model, logits: np.ndarray) -> float:
    """Tolerance on the dr_grade columns of two float32 computations of `logits`.

    A softmax output moves by at most 1/2 max|dz| (its Jacobian row sums to 2 p (1 - p) in
    absolute value) and referable_score sums three of them: 3/2 times the logits' network
    tolerance; plus the rounding of a float32 softmax (exp, sum, divide: 8 roundings).
    """
    return 1.5 * network_tolerance(model) * np.abs(logits).max() + tolerances.elementwise_rtol(8)


def _columns(run, logits: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(run.task.prediction_columns(logits))


def test_a_folder_is_predicted_with_the_runs_pipeline_and_unreadable_images_listed(
    retina_run, image_folder, tmp_path
):
    out = str(tmp_path / "preds" / "predictions.csv")
    summary = prediction.predict_images(retina_run[0], image_folder, out, batch_size=3)
    latest = os.path.join(retina_run[0], "checkpoints", "ckpt-6")
    assert (summary.checkpoint, summary.step, summary.predicted) == (latest, 6, 4)
    assert summary.unreadable_out == str(tmp_path / "preds" / "predictions_unreadable.csv")
    assert [(n, r[:13] if n.endswith("garbage.jpg") else r) for n, r in summary.unreadable] == (
        UNREADABLE
    )
    table = pd.read_csv(out)
    assert list(table.columns) == COLUMNS and list(table["image"]) == READABLE
    unreadable = pd.read_csv(summary.unreadable_out, keep_default_na=False)
    assert list(unreadable.columns) == ["image", "reason"]
    assert list(zip(unreadable["image"], unreadable["reason"], strict=True)) == list(
        summary.unreadable
    )
    run = trained_run.restore_run(retina_run[0])
    logits = _pipeline_logits(run, [os.path.join(image_folder, n) for n in READABLE])
    expected = _columns(run, logits)
    atol = probability_atol(run.model, logits)
    np.testing.assert_allclose(table[COLUMNS[1:]], expected[COLUMNS[1:]], rtol=0, atol=atol)
    np.testing.assert_allclose(table[COLUMNS[1:6]].sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert prediction.format_summary(summary, listed=2).splitlines() == [
        f"checkpoint {latest} (step 6)",
        f"predicted 4 images: {out}",
        f"unreadable 4 images: {summary.unreadable_out}",
        "  broken/empty.png: empty file",
        f"  broken/garbage.jpg: {summary.unreadable[1][1]}",
        "  ... and 2 more",
    ]


def test_predictions_equal_the_evaluators_on_the_runs_own_split(retina_run, eyepacs_root, tmp_path):
    """A CSV of the valid split's images gives evaluate's predictions_valid.csv: the same
    size, resize mode, channels and preprocessing reach the model."""
    workdir = str(tmp_path / "run")
    shutil.copytree(retina_run[0], workdir)
    evaluation.evaluate_run(workdir, split="valid", bootstrap_samples=0)
    evaluated = pd.read_csv(os.path.join(workdir, "predictions_valid.csv"))
    listing = tmp_path / "listing"
    listing.mkdir()
    os.symlink(eyepacs_root, listing / "eyepacs")  # Links inside the directory are followed.
    cells = [f"eyepacs/train/{image}.jpeg" for image in evaluated["image"]]
    pd.DataFrame({"image": cells, "grade": 0}).to_csv(listing / "images.csv", index=False)
    out = str(tmp_path / "predictions.csv")
    summary = prediction.predict_images(workdir, str(listing / "images.csv"), out)
    table = pd.read_csv(out)
    assert summary.predicted == len(evaluated) == 10 and list(table["image"]) == cells
    with open(summary.unreadable_out) as f:
        assert f.read() == "image,reason\n"  # Written, empty: every image was read.
    model = trained_run.restore_run(workdir).model
    logits = experiment.evaluate_split(
        model,
        experiment.load_config(workdir),
        experiment.load_data(experiment.load_config(workdir)).splits["valid"],
        bootstrap_samples=0,
        preprocessing="inception",
    )[1]
    atol = probability_atol(model, logits)
    np.testing.assert_allclose(table[COLUMNS[1:]], evaluated[COLUMNS[1:]], rtol=0, atol=atol)


def test_flip_tta_is_the_mean_of_the_logits_of_the_image_and_its_mirror(
    retina_run, image_folder, tmp_path
):
    flipped = prediction.predict_images(
        retina_run[0], image_folder, str(tmp_path / "flip.csv"), tta="flip"
    )
    plain = prediction.predict_images(retina_run[0], image_folder, str(tmp_path / "none.csv"))
    assert flipped.predicted == plain.predicted == 4
    run = trained_run.restore_run(retina_run[0])
    paths = [os.path.join(image_folder, n) for n in READABLE]
    logits = _pipeline_logits(run, paths)
    mirrored = _pipeline_logits(run, paths, flip=True)
    expected = _columns(run, (logits + mirrored) / 2)
    atol = probability_atol(run.model, np.concatenate([logits, mirrored]))
    table = pd.read_csv(tmp_path / "flip.csv")
    np.testing.assert_allclose(table[COLUMNS[1:]], expected[COLUMNS[1:]], rtol=0, atol=atol)
    # The mirror does change the prediction, so the comparison above can fail.
    difference = np.abs(table[COLUMNS[1:]] - pd.read_csv(tmp_path / "none.csv")[COLUMNS[1:]])
    assert difference.to_numpy().max() > 100 * atol


def test_csv_paths_outside_the_csvs_directory_are_listed_not_read(
    retina_run, eyepacs_root, tmp_path
):
    source = os.path.join(eyepacs_root, "train", "5_left.jpeg")
    (tmp_path / "list" / "img").mkdir(parents=True)
    shutil.copy(source, tmp_path / "list" / "img" / "a.jpeg")
    shutil.copy(source, tmp_path / "outside.jpeg")  # A readable image, outside.
    csv = tmp_path / "list" / "images.csv"
    csv.write_text(f"image\nimg/a.jpeg\n../outside.jpeg\n{source}\nimg/gone.jpeg\n")
    summary = prediction.predict_images(retina_run[0], str(csv), str(tmp_path / "p.csv"))
    assert list(pd.read_csv(tmp_path / "p.csv")["image"]) == ["img/a.jpeg"]
    directory = tmp_path / "list"
    assert list(summary.unreadable) == [
        ("../outside.jpeg", f"image path '../outside.jpeg' escapes the root {directory} "
         f"({csv} line 3)"),
        (source, f"image path '{source}' must be relative ({csv} line 4)"),
        ("img/gone.jpeg", "missing file"),
    ]  # fmt: skip


def test_checkpoint_choice_and_bad_arguments(retina_run, image_folder, tmp_path):
    workdir = retina_run[0]
    out = str(tmp_path / "p.csv")
    at_2 = prediction.predict_images(workdir, image_folder, out, checkpoint="2")
    assert (at_2.checkpoint, at_2.step) == (os.path.join(workdir, "checkpoints", "ckpt-2"), 2)
    at_init = prediction.predict_images(workdir, image_folder, out, checkpoint="init")
    assert at_init.step == 0 and at_init.checkpoint.endswith(os.path.join("init", "ckpt-0"))
    with pytest.raises(checkpointing.CheckpointNotFound, match=r"no '8' checkpoint .*\[2, 4, 6\]"):
        prediction.predict_images(workdir, image_folder, out, checkpoint="8")
    for kwargs, message in [
        ({"checkpoint": "newest"}, "checkpoint 'newest': expected"),
        ({"tta": "rotate"}, "unknown tta 'rotate'; valid: none, flip"),
        ({"batch_size": 0}, "batch size 0 must be >= 1"),
    ]:
        with pytest.raises(UsageError, match=message):
            prediction.predict_images(workdir, image_folder, out, **kwargs)
    csv = tmp_path / "in.csv"
    csv.write_text("image\na.png\n")
    with pytest.raises(UsageError, match="is the input CSV"):
        prediction.predict_images(workdir, str(csv), str(csv))
    with pytest.raises(experiment.NotARun):
        prediction.predict_images(str(tmp_path / "nope"), image_folder, out)
    (tmp_path / "a_file").write_text("")
    blocked = str(tmp_path / "a_file" / "sub" / "p.csv")
    with pytest.raises(prediction.OutputNotWritable, match=r"a_file/sub: cannot create it"):
        prediction.predict_images(str(tmp_path / "nope"), image_folder, blocked)


def test_the_binary_predicts_and_a_bad_flag_exits_2(retina_run, image_folder, tmp_path):
    out = str(tmp_path / "cli.csv")
    run = [f"--workdir={retina_run[0]}", f"--images={image_folder}", f"--out={out}"]
    stdout = binaries.run("transfusion_tf.predict", *run, "--tta=flip", "--batch_size=3").stdout
    latest = os.path.join(retina_run[0], "checkpoints", "ckpt-6")
    assert stdout.splitlines()[:3] == [
        f"checkpoint {latest} (step 6)",
        f"predicted 4 images: {out}",
        f"unreadable 4 images: {tmp_path / 'cli_unreadable.csv'}",
    ]
    assert list(pd.read_csv(out)["image"]) == READABLE
    bad = binaries.run_main("transfusion_tf.predict", *run, "--tta=rotate")  # Flag parsing.
    assert bad.returncode == 2
    stderr = bad.stderr  # The last line: TensorFlow's own messages may come first.
    assert stderr.splitlines()[-1] == (
        "error: flag --tta=rotate: value should be one of <none|flip> (--helpfull lists the flags)"
    )
    assert sum(line.startswith("error:") for line in stderr.splitlines()) == 1
