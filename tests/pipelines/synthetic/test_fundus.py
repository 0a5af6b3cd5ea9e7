"""Tests for pipelines/synthetic/fundus.py and lesions.py (the fundus renderer)."""

import numpy as np
import pytest

from pipelines.synthetic import fundus
from pipelines.synthetic.fundus import Camera, field_geometry, render_fundus, sample_camera
from pipelines.synthetic.lesions import LESION_KINDS, plan_lesions


def _render(seed, grade=0, size=64, eye="right", camera=None):
    return render_fundus(
        np.random.default_rng(seed), grade=grade, size=size, eye=eye, camera=camera
    )


@pytest.mark.parametrize("size", [32, 64, 97])
@pytest.mark.parametrize("grade", [0, 4])
def test_shape_and_dtype(size, grade):
    image = _render(0, grade=grade, size=size)
    assert image.shape == (size, size, 3)
    assert image.dtype == np.uint8
    assert image.flags["C_CONTIGUOUS"]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"grade": 5, "size": 64, "eye": "left"}, "grade"),
        ({"grade": -1, "size": 64, "eye": "left"}, "grade"),
        ({"grade": 0, "size": 31, "eye": "left"}, "size"),
        ({"grade": 0, "size": 64, "eye": "both"}, "eye"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        render_fundus(np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("eye", ["left", "right"])
def test_black_outside_the_field_and_bright_inside(seed, eye):
    rng = np.random.default_rng(seed)
    camera = sample_camera(rng)
    size = 80
    image = render_fundus(rng, grade=seed % 5, size=size, eye=eye, camera=camera)
    cx, cy, radius = field_geometry(size, camera)
    if eye == "left":
        cx = size - cx
    pix = np.arange(size) + 0.5
    dist = np.hypot(pix[None, :] - cx, pix[:, None] - cy)
    assert (image[dist > radius + 0.5] == 0).all()
    inside = image[dist < radius - 1].astype(float)
    assert inside.mean() > 30
    assert (inside.max(axis=1) > 0).mean() > 0.99


def test_neutral_camera_field_is_centred():
    size = 100
    image = _render(0, size=size, camera=Camera(field=0.8))
    assert field_geometry(size, Camera(field=0.8)) == (50.0, 50.0, 40.0)
    lit = np.argwhere(image.max(axis=2) > 0)
    assert lit[:, 0].min() == 10 and lit[:, 0].max() == 89
    assert lit[:, 1].min() == 10 and lit[:, 1].max() == 89


def test_deterministic_and_seed_dependent():
    a = _render(7, grade=3)
    np.testing.assert_array_equal(a, _render(7, grade=3))
    assert not np.array_equal(a, _render(8, grade=3))


def test_uses_only_the_given_generator():
    # The legacy global generator is the one a stray np.random call would touch.
    np.random.seed(123)  # noqa: NPY002
    before = np.random.get_state()[1].copy()  # noqa: NPY002
    _render(1, grade=4)
    np.testing.assert_array_equal(np.random.get_state()[1], before)  # noqa: NPY002


@pytest.mark.parametrize("seed", range(4))
def test_left_eye_is_mirror_of_right(seed):
    left = _render(seed, grade=seed + 1, eye="left")
    right = _render(seed, grade=seed + 1, eye="right")
    np.testing.assert_array_equal(left, right[:, ::-1])


@pytest.mark.parametrize("seed", range(5))
def test_optic_disc_on_nasal_side(seed):
    # Grade 0 under a neutral camera: the disc is the brightest blob of the image.
    size = 96
    for eye, side in (("right", 1), ("left", -1)):
        image = _render(seed, size=size, eye=eye, camera=Camera())
        blue = image[..., 2].astype(float)
        y, x = np.unravel_index(np.argmax(blue), blue.shape)
        offset = (x + 0.5 - size / 2) / (size / 2 * Camera().field)
        assert side * offset > 0.2, (eye, offset)
        assert abs(y + 0.5 - size / 2) < 0.25 * size


def test_plan_lesions_grades():
    rng = np.random.default_rng(0)
    plans = {g: [plan_lesions(rng, g) for _ in range(400)] for g in range(5)}
    for ps in plans.values():
        assert all(set(p) == set(LESION_KINDS) for p in ps)
        assert all(isinstance(n, int) and n >= 0 for p in ps for n in p.values())
    assert all(sum(p.values()) == 0 for p in plans[0])
    assert all(
        1 <= p["microaneurysm"] <= 5 and sum(p.values()) == p["microaneurysm"] for p in plans[1]
    )
    # Referable grades always show haemorrhages beyond microaneurysms.
    assert all(p["blot"] >= 2 for g in (2, 3, 4) for p in plans[g])
    assert all(p["neovascular"] >= 1 for p in plans[4])
    assert all(p["neovascular"] == 0 for g in range(4) for p in plans[g])
    assert all(p["cotton_wool"] >= 1 for g in (3, 4) for p in plans[g])
    means = [np.mean([sum(p.values()) for p in plans[g]]) for g in range(5)]
    assert means == sorted(means) and len(set(means)) == 5, means
    kinds = [{k for p in plans[g] for k, n in p.items() if n} for g in range(5)]
    assert kinds[0] == set() and kinds[1] == {"microaneurysm"}
    assert kinds[1] < kinds[2] < kinds[3] < kinds[4] == set(LESION_KINDS)


def test_plan_lesions_rejects_bad_grade():
    with pytest.raises(ValueError, match="grade"):
        plan_lesions(np.random.default_rng(0), 5)


def test_lesion_area_rises_with_grade():
    # Lesions are drawn after the anatomy, so one seed gives one retina at every grade; the
    # pixels that change from grade 0 are the lesions.
    changed = np.zeros(5)
    for seed in range(8):
        base = _render(seed, grade=0, size=96, camera=Camera()).astype(int)
        for g in range(1, 5):
            other = _render(seed, grade=g, size=96, camera=Camera()).astype(int)
            changed[g] += (np.abs(other - base).max(axis=2) > 12).mean()
    changed /= 8
    assert changed[0] == 0
    assert 0 < changed[1] < changed[2] < changed[3] < changed[4]
    # Lesions stay small: under a tenth of the image even at grade 4.
    assert changed[4] < 0.1


def test_sample_camera_ranges():
    rng = np.random.default_rng(0)
    cams = [sample_camera(rng) for _ in range(500)]
    fields = np.array([c.field for c in cams])
    assert fields.min() >= 0.78 and fields.max() <= 1.12
    assert (fields > 1).mean() > 0.1  # some fields cut by the image border
    exposures = np.array([c.exposure for c in cams])
    assert np.percentile(exposures, 90) / np.percentile(exposures, 10) > 1.8
    assert all(-25 <= c.rotation <= 25 for c in cams)
    assert fundus.Camera() == Camera(1.0, 1.0, (1.0, 1.0, 1.0), 0.92)
