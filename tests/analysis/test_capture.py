"""Tests for analysis/capture.py: checkpoints of real (tiny) runs, same images, streaming."""

import json
import os
import shutil

import pytest

from analysis import capture
from analysis.activations import SpatialSampling

MEASURES = capture.STREAMING_MEASURES


@pytest.fixture(scope="module")
def nets(trained_runs):
    run = trained_runs["random"][0]
    return {
        n.name: n for n in (capture.load_network(run, "init"), capture.load_network(run, "latest"))
    }


@pytest.fixture(scope="module")
def rows(nets):
    """The test split's 10 images (seed 0) that the comparisons below run on."""
    return capture.select_images(nets["random0@init"].config, split="test", num_images=10, seed=0)


ENDPOINTS = ["block1", "block2", "block3", "block4", "pre_logits"]


def _each_endpoint(nets, rows, a, b, sampling, **options):
    """`a` against `b` at each of ENDPOINTS, one result row per endpoint."""
    comparisons = [capture.same_endpoints(a, b, ENDPOINTS)]
    return capture.compare(nets, comparisons, rows, sampling=sampling, **options)


def test_load_network(nets, trained_runs):
    init, final = nets["random0@init"], nets["random0@latest"]
    assert (init.step, final.step) == (0, 6)
    assert init.checkpoint.endswith(os.path.join("init", "ckpt-0"))
    assert final.checkpoint.endswith("ckpt-6")
    assert init.endpoint_names == ("block1", "block2", "block3", "block4", "pre_logits", "logits")
    assert init.endpoint_shapes["block1"] == (None, 16, 16, 4)
    assert init.endpoint_shapes["pre_logits"] == (None, 8)
    assert init.input_key == final.input_key == (32, 3, "inception", "pad")
    with pytest.raises(ValueError, match="unknown endpoint 'conv1'; valid: block1, block2"):
        init.endpoint_shape("conv1")
    with pytest.raises(FileNotFoundError, match=r"no '99' checkpoint .*available: \[2, 4, 6\]"):
        capture.load_network(trained_runs["random"][0], "99")


def test_select_images_is_a_seeded_subset_in_a_seeded_order(nets):
    config = nets["random0@init"].config
    everything = capture.select_images(config, split="test", num_images=1000, seed=0)
    assert len(everything) == 10  # the whole test split
    some = capture.select_images(config, split="test", num_images=4, seed=3)
    assert len(some) == 4 and set(some["path"]) <= set(everything["path"])
    again = capture.select_images(config, split="test", num_images=4, seed=3)
    assert list(again["path"]) == list(some["path"])
    # Not file order: the null floor pairs neighbours in this order (a patient's images
    # are neighbours in file order); another seed, another order.
    assert list(everything["path"]) != sorted(everything["path"])
    other = capture.select_images(config, split="test", num_images=1000, seed=1)
    assert sorted(other["path"]) == sorted(everything["path"])
    assert list(other["path"]) != list(everything["path"])
    with pytest.raises(ValueError, match=r"unknown split 'dev'; this dataset has \['test'"):
        capture.select_images(config, split="dev", num_images=4, seed=0)


def test_a_network_against_itself_is_one(nets, rows):
    final, sampling = "random0@latest", SpatialSampling(datapoints=64)
    # 10 images: batches of 3, 3, 3, 1.
    results = _each_endpoint(nets, rows, final, final, sampling, batch_size=3)
    assert [r["endpoint_a"] for r in results] == ENDPOINTS
    assert [r["grid"] for r in results] == ["16x16", "8x8", "4x4", "2x2", "1x1"]
    # At least 64 datapoints, and 10 per channel (4 in block1, 8 above), over 10 images:
    # 7 or 8 positions each, or all of a smaller grid.
    assert [r["datapoints"] for r in results] == [70, 80, 80, 40, 10]
    for r in results:
        for m in MEASURES:
            assert r[m] == pytest.approx(1.0, abs=1e-9), (r["endpoint_a"], m)
            # The floor pairs other images: below the value, and a similarity itself.
            assert -1e-12 <= r[f"{m}_floor"] < 1.0, (r["endpoint_a"], m)


def test_datapoints_follow_the_channels_and_are_recorded(nets, rows):
    sampling = SpatialSampling(datapoints=1)  # The channel rule alone: 10 per channel.
    results = _each_endpoint(nets, rows, "random0@init", "random0@latest", sampling)
    columns = ["neurons_a", "positions_per_image", "datapoints", "target_datapoints"]
    assert [[r[c] for c in columns] for r in results] == [
        [4, 4, 40, 40],  # 16x16 grid: 4 of 256 positions per image
        [8, 8, 80, 80],
        [8, 8, 80, 80],
        [8, 4, 40, 80],  # 2x2 grid: every position, short of the target
        [8, 1, 10, 80],  # a vector: one datapoint per image
    ]
    assert [r["supply_limited"] for r in results] == [False, False, False, True, True]
    assert {r["images"] for r in results} == {10}
    assert all(r["neurons_b"] == r["neurons_a"] for r in results)
    # The floor is a function of its seed (its independence of the batching is tested in
    # test_null_floor.py; here the network's float32 outputs would differ by batch size).
    block1 = [capture.same_endpoints("random0@init", "random0@latest", ["block1"])]
    again, other = (
        capture.compare(nets, block1, rows, sampling=sampling, floor_seed=seed)[0]
        for seed in (0, 1)
    )
    assert again["mean_cca_floor"] == results[0]["mean_cca_floor"]
    assert other["mean_cca_floor"] != results[0]["mean_cca_floor"]
    assert other["mean_cca"] == results[0]["mean_cca"]


def test_init_against_trained_and_cross_endpoints(nets, rows):
    comparisons = [
        capture.same_endpoints("random0@init", "random0@latest", ["block1", "block3"]),
        capture.Comparison("random0@latest", "random0@latest", (("block1", "block2"),)),
        capture.Comparison("random0@latest", "random0@latest", (("block2", "pre_logits"),)),
    ]
    results = capture.compare(nets, comparisons, rows, sampling=SpatialSampling(datapoints=100))
    by_pair = {(r["a"], r["endpoint_a"], r["endpoint_b"]): r for r in results}
    moved = by_pair[("random0@init", "block1", "block1")]
    assert 0.5 < moved["mean_cca"] < 1.0 and (moved["neurons_a"], moved["neurons_b"]) == (4, 4)
    # block1 (16x16) against block2 (8x8): block1 is area-averaged to 8x8.
    cross = by_pair[("random0@latest", "block1", "block2")]
    assert cross["grid"] == "8x8" and cross["datapoints"] == 100
    # A conv endpoint against a vector one: globally pooled, one datapoint per image.
    pooled = by_pair[("random0@latest", "block2", "pre_logits")]
    assert pooled["grid"] == "1x1" and pooled["datapoints"] == 10


def test_networks_with_different_input_sizes_share_images_on_a_common_grid(nets, tmp_path):
    # CBR weights do not depend on the input size: the same checkpoint at 64 px has
    # endpoint grids twice as fine, and its own input pipeline.
    final = nets["random0@latest"]
    copy = str(tmp_path / "random0_64px")
    shutil.copytree(final.workdir, copy, ignore=shutil.ignore_patterns("tensorboard"))
    config = json.load(open(os.path.join(copy, "config.json")))
    config["data"]["image_size"] = 64
    json.dump(config, open(os.path.join(copy, "config.json"), "w"))
    big = capture.load_network(copy, "latest")
    assert big.endpoint_shapes["block1"] == (None, 32, 32, 4)
    networks = {final.name: final, big.name: big}
    rows = capture.select_images(final.config, split="test", num_images=10, seed=0)
    [result] = capture.compare(
        networks,
        [capture.same_endpoints(final.name, big.name, ["block1"])],
        rows,
        sampling=SpatialSampling(datapoints=200),
    )
    assert result["grid"] == "16x16" and result["datapoints"] == 200
    assert 0.8 < result["mean_cca"] < 1.0


def test_errors_before_reading_images(nets):
    rows = capture.select_images(nets["random0@init"].config, split="test", num_images=4, seed=0)
    same = [capture.same_endpoints("random0@init", "random0@latest", ["pre_logits"])]
    with pytest.raises(ValueError, match=r"pre_logits: 4 datapoints .* for 8 neurons"):
        capture.compare(nets, same, rows)
    with pytest.raises(ValueError, match="unknown network 'other@init'; valid: random0@init"):
        capture.compare(nets, [capture.same_endpoints("other@init", "random0@init", [])], rows)
    with pytest.raises(ValueError, match=r"\['cka_debiased'\]; valid: mean_cca, svcca, pwcca"):
        capture.compare(nets, same, rows, measures=["cka_debiased"])
    block1 = [capture.same_endpoints("random0@init", "random0@latest", ["block1"])]
    with pytest.raises(ValueError, match="null floor pairs each image .* at least 2 images"):
        capture.compare(nets, block1, rows.iloc[:1])
