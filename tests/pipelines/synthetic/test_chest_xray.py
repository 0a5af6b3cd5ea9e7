"""The chest radiograph renderer: deterministic, grayscale, signs local and graded."""

import time

import numpy as np
import pytest

from pipelines.synthetic import chest_xray

SIZE = 96


def _render(name=None, state="present", seed=0, patient=0, **kw):
    anatomy = chest_xray.sample_anatomy(np.random.default_rng(patient))
    findings = {} if name is None else {name: state}
    return chest_xray.render_chest(anatomy, findings, size=SIZE, seed=(seed, 1), **kw)


def _diff(name, state="present", seed=0, **kw):
    """|picture with the sign - the same picture without it|, float (SIZE, SIZE)."""
    return np.abs(
        _render(name, state, seed, seed, **kw).astype(float)
        - _render(None, seed=seed, patient=seed, **kw)
    )


def _centroid(weights):
    rows, cols = np.indices(weights.shape)
    total = weights.sum()
    return (rows * weights).sum() / total / SIZE, (cols * weights).sum() / total / SIZE


def test_grayscale_uint8_deterministic_and_seeded():
    a = _render("Edema", seed=3)
    assert a.dtype == np.uint8 and a.shape == (SIZE, SIZE)
    np.testing.assert_array_equal(a, _render("Edema", seed=3))
    assert not np.array_equal(a, _render("Edema", seed=4))
    lateral = _render(view="lateral", projection="")
    assert lateral.shape == (SIZE, SIZE) and not np.array_equal(lateral, _render())
    assert 20 < a.mean() < 235 and a.std() > 20  # A picture, not a flat field.


@pytest.mark.parametrize("seed", range(4))
def test_each_sign_changes_only_its_region(seed):
    # Lower half: effusion, atelectasis (plate-like opacity, raised hemidiaphragm), heart.
    for name in ("Pleural Effusion", "Atelectasis", "Cardiomegaly"):
        diff = _diff(name, seed=seed)
        assert diff.sum() > 0, name
        row, _ = _centroid(diff)
        assert row > 0.5, (name, row)
    # Edema is perihilar: centred between the lungs, mid-height.
    row, col = _centroid(_diff("Edema", seed=seed))
    assert 0.3 < row < 0.7 and 0.35 < col < 0.65, (row, col)
    # Consolidation is one patch: a small part of the picture.
    changed = (_diff("Consolidation", seed=seed) > 10).mean()
    assert 0.002 < changed < 0.08, changed


def test_uncertain_signs_are_smaller_or_fainter_than_present_ones():
    for name in chest_xray.PATHOLOGIES:
        faint = sum(_diff(name, "uncertain", seed=s).sum() for s in range(5))
        clear = sum(_diff(name, "present", seed=s).sum() for s in range(5))
        assert 0 < faint < 0.8 * clear, (name, faint, clear)


def test_other_signs_stay_put_when_one_is_switched():
    # Switching effusion on changes nothing far from the bases (rows above 30%).
    base = _render("Consolidation", seed=2, patient=2)
    both = chest_xray.render_chest(
        chest_xray.sample_anatomy(np.random.default_rng(2)),
        {"Consolidation": "present", "Pleural Effusion": "present"},
        size=SIZE,
        seed=(2, 1),
    )
    np.testing.assert_array_equal(base[: int(0.3 * SIZE)], both[: int(0.3 * SIZE)])


def test_lateral_view_and_projections_render_every_sign():
    for view, projection in (("frontal", "AP"), ("lateral", ""), ("lateral", "LL")):
        for name in (*chest_xray.PATHOLOGIES, *chest_xray.EXTRA_FINDINGS):
            assert _diff(name, view=view, projection=projection).sum() > 0, (view, name)


def test_bad_arguments():
    anatomy = chest_xray.sample_anatomy(np.random.default_rng(0))
    with pytest.raises(ValueError, match="bad view/projection 'frontal'/'LL'"):
        chest_xray.render_chest(anatomy, {}, projection="LL")
    with pytest.raises(ValueError, match="bad finding 'Pneumothorax'='present'"):
        chest_xray.render_chest(anatomy, {"Pneumothorax": "present"})
    with pytest.raises(ValueError, match="bad finding 'Edema'='severe'"):
        chest_xray.render_chest(anatomy, {"Edema": "severe"})


def test_at_least_50_images_per_cpu_second_at_128_px():
    anatomy = chest_xray.sample_anatomy(np.random.default_rng(0))
    findings = {name: "present" for name in chest_xray.PATHOLOGIES}
    chest_xray.render_chest(anatomy, findings, size=128)  # Warm-up.
    start = time.process_time()  # CPU time: other processes on the machine do not count.
    for seed in range(20):
        chest_xray.render_chest(anatomy, findings, size=128, seed=seed)
    per_image = (time.process_time() - start) / 20
    assert per_image < 0.02, f"{per_image * 1000:.1f} ms per image"
