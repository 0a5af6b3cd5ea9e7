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


def test_select_images_is_a_seeded_subset(nets):
    config = nets["random0@init"].config
    everything = capture.select_images(config, split="test", num_images=1000, seed=0)
    assert len(everything) == 10  # the whole test split
    some = capture.select_images(config, split="test", num_images=4, seed=3)
    assert len(some) == 4 and set(some["path"]) <= set(everything["path"])
    again = capture.select_images(config, split="test", num_images=4, seed=3)
    assert list(again["path"]) == list(some["path"])
    # In file order, so every network reads the images in the same order.
    assert list(some["path"]) == [p for p in everything["path"] if p in set(some["path"])]
    with pytest.raises(ValueError, match=r"unknown split 'dev'; this dataset has \['test'"):
        capture.select_images(config, split="dev", num_images=4, seed=0)


def test_a_network_against_itself_is_one(nets):
    rows = capture.select_images(nets["random0@init"].config, split="test", num_images=10, seed=0)
    endpoints = ["block1", "block2", "block3", "block4", "pre_logits"]
    results = capture.compare(
        nets,
        [capture.same_endpoints("random0@latest", "random0@latest", endpoints)],
        rows,
        sampling=SpatialSampling(datapoints=64),
        batch_size=3,  # 10 images: batches of 3, 3, 3, 1
    )
    assert [r["endpoint_a"] for r in results] == endpoints
    assert [r["grid"] for r in results] == ["16x16", "8x8", "4x4", "2x2", "1x1"]
    # 64 datapoints over 10 images: 7 positions each, or all of a smaller grid.
    assert [r["datapoints"] for r in results] == [70, 70, 70, 40, 10]
    for r in results:
        for m in MEASURES:
            assert r[m] == pytest.approx(1.0, abs=1e-9), (r["endpoint_a"], m)


def test_init_against_trained_and_cross_endpoints(nets):
    rows = capture.select_images(nets["random0@init"].config, split="test", num_images=10, seed=0)
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
