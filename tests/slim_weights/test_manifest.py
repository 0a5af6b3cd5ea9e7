"""The checkpoint manifest: entries, preprocessing, pinned inventories, layering."""

from __future__ import annotations

import itertools
import math
import pathlib

import pytest

from slim_weights import manifest


def test_entries_record_the_released_checkpoints():
    resnet = manifest.get_entry("resnet_v1_50")
    assert resnet.url == "http://download.tensorflow.org/models/resnet_v1_50_2016_08_28.tar.gz"
    assert resnet.archive_member == "resnet_v1_50.ckpt"
    assert (resnet.num_classes, resnet.label_offset, resnet.input_size) == (1000, 0, 224)
    assert resnet.preprocessing == "vgg"
    assert resnet.head_scopes == ("resnet_v1_50/logits",)
    inception = manifest.get_entry("inception_v3")
    assert inception.url == "http://download.tensorflow.org/models/inception_v3_2016_08_28.tar.gz"
    assert inception.archive_member == "inception_v3.ckpt"
    assert (inception.num_classes, inception.label_offset, inception.input_size) == (1001, 1, 299)
    assert inception.preprocessing == "inception"
    assert inception.head_scopes == ("InceptionV3/Logits", "InceptionV3/AuxLogits")
    assert manifest.get_entry("inception_v3_2016_08_28") is inception
    assert manifest.list_entries() == ["inception_v3", "resnet_v1_50"]


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="valid names: inception_v3, resnet_v1_50, "):
        manifest.get_entry("cbr_small")


def test_preprocessing_is_chosen_by_model_name():
    vgg = manifest.preprocessing_for("resnet_v1_50")
    assert vgg.name == "vgg"
    assert vgg.mean == (123.68, 116.78, 103.94)
    assert vgg.scale == (1.0, 1.0, 1.0)
    inception = manifest.preprocessing_for("inception_v3")
    assert inception.name == "inception"
    # (0 - 127.5) / 127.5 = -1 and (255 - 127.5) / 127.5 = 1.
    assert (0 - inception.mean[0]) / inception.scale[0] == -1.0
    assert (255 - inception.mean[0]) / inception.scale[0] == 1.0
    assert sorted(manifest.PREPROCESSING) == ["inception", "vgg"]


def test_inventory_totals_are_pinned():
    resnet = manifest.get_entry("resnet_v1_50")
    inception = manifest.get_entry("inception_v3")
    assert (len(resnet.inventory()), resnet.inventory_total()) == (267, 25_610_152)
    assert (len(inception.inventory()), inception.inventory_total()) == (388, 27_182_194)
    # Bodies without any head: the numbers quoted beside the paper's Table 1 in BUILD.md.
    assert _total(resnet.inventory(), exclude=resnet.head_scopes) == 23_561_152
    assert _total(inception.inventory(), exclude=inception.head_scopes) == 21_802_784
    assert resnet.inventory()[resnet.first_conv] == (7, 7, 3, 64)
    assert inception.inventory()[inception.first_conv] == (3, 3, 3, 32)


PAPER_COUNTS = {"resnet_v1_50": 23_570_408, "inception_v3": 22_881_424}  # Table 1


def _candidate_counts(entry: manifest.CheckpointEntry) -> dict[tuple, int]:
    """Parameter counts of the slim graph under every combination of counting choices.

    Keys are (first conv, BN values, conv biases, classes, classifier bias, aux head):
      first conv: whether the first conv's kernel counts (SPEC §2's CBR rule drops it);
      BN values: none, gamma/beta, moving statistics, or all of them (no gamma in Inception);
      conv biases: none (slim) or one per output channel of every conv (Caffe/Keras style);
      classes: no classifier, or a 5-, 1000- or 1001-way one on the 2048 pooled features;
      classifier bias: with or without the classifier's biases;
      aux head: Inception's AuxLogits (its two convs and BN, plus a classifier of the same
        width and bias choice on its 768 features), or not.
    """
    inventory = entry.inventory()

    def in_scope(name, scopes):
        return any(name.startswith(scope + "/") for scope in scopes)

    body = {n: s for n, s in inventory.items() if not in_scope(n, entry.head_scopes)}
    aux_convs = {  # AuxLogits without its classifier (the only conv with biases)
        n: s
        for n, s in inventory.items()
        if in_scope(n, entry.aux_scopes) and not in_scope(n, entry.class_scopes)
    }

    def count(variables, first_conv, bn, conv_biases):
        total = 0
        for name, shape in variables.items():
            kind = name.rsplit("/", 1)[-1]
            if kind == "weights":
                total += math.prod(shape) if first_conv or name != entry.first_conv else 0
                total += shape[-1] if conv_biases else 0
            elif kind in ("gamma", "beta"):
                total += math.prod(shape) if bn in ("gamma_beta", "all") else 0
            elif kind.startswith("moving_"):
                total += math.prod(shape) if bn in ("moving", "all") else 0
            else:
                raise AssertionError(f"unexpected body variable {name}")
        return total

    candidates = {}
    for first_conv, bn, conv_biases, classes, head_bias, aux in itertools.product(
        (True, False),
        ("none", "gamma_beta", "moving", "all"),
        (False, True),
        (0, 5, 1000, 1001),
        (True, False),
        (False, True) if entry.aux_scopes else (False,),
    ):
        if classes == 0 and not head_bias:
            continue  # same as with a bias: there is no classifier
        total = count(body, first_conv, bn, conv_biases)
        total += classes * (2048 + head_bias)
        if aux:
            total += count(aux_convs, first_conv, bn, conv_biases) + classes * (768 + head_bias)
        candidates[(first_conv, bn, conv_biases, classes, head_bias, aux)] = total
    return candidates


def test_candidate_counting_rules_reproduce_our_pinned_counts():
    """The rule grid below is computed right: it hits every count we pin elsewhere."""
    resnet = _candidate_counts(manifest.get_entry("resnet_v1_50"))
    inception = _candidate_counts(manifest.get_entry("inception_v3"))
    assert (len(resnet), len(inception)) == (2 * 4 * 2 * 7, 2 * 4 * 2 * 7 * 2)
    assert resnet[(True, "all", False, 0, True, False)] == 23_561_152  # body
    assert resnet[(True, "all", False, 5, True, False)] == 23_571_397  # our 5-way model
    assert resnet[(True, "all", False, 1000, True, False)] == 25_610_152  # the checkpoint
    assert resnet[(True, "gamma_beta", False, 1000, True, False)] == 25_557_032  # trainable
    assert inception[(True, "all", False, 0, True, False)] == 21_802_784  # body
    assert inception[(True, "all", False, 5, True, False)] == 21_813_029  # our 5-way model
    assert inception[(True, "all", False, 1001, True, False)] == 23_853_833  # logits, no aux
    assert inception[(True, "gamma_beta", False, 1001, True, False)] == 23_819_401
    assert inception[(True, "all", False, 1001, True, True)] == 27_182_194  # the checkpoint


def test_paper_counts_are_not_reproduced_by_any_candidate_rule():
    """Table 1 (23,570,408 / 22,881,424) equals none of 112 / 224 counting rules.

    The rules are every combination of the choices listed in `_candidate_counts` (first
    conv in or out, four BN subsets, conv biases or not, no / 5- / 1000- / 1001-way
    classifier with or without bias, Inception's aux head or not); they include SPEC §2's
    CBR rule (kernels after the first conv plus a bias-free 5-way classifier) and the
    Inception logits-without-aux count 23,853,833. BUILD.md states exactly this.
    """
    for model, paper in PAPER_COUNTS.items():
        candidates = _candidate_counts(manifest.get_entry(model))
        assert paper not in candidates.values(), [k for k, v in candidates.items() if v == paper]
        cbr_rule = candidates[(False, "none", False, 5, False, False)]
        assert cbr_rule == {"resnet_v1_50": 23_455_744, "inception_v3": 21_760_512}[model]


def test_inventory_files_list_one_variable_per_line():
    for model in manifest.list_entries():
        path = pathlib.Path(manifest.__file__).parent / "inventory" / f"{model}.json"
        lines = path.read_text().splitlines()
        assert len([line for line in lines if line.startswith('  ["')]) == len(
            manifest.get_entry(model).inventory()
        )


def _total(inventory, exclude=()):
    return sum(
        math.prod(shape)
        for name, shape in inventory.items()
        if not any(name.startswith(scope + "/") for scope in exclude)
    )
