import numpy as np
import pytest
import tensorflow as tf

from pipelines import datasets
from pipelines.augment import AugmentConfig
from pipelines.readers import file_input


@pytest.fixture(scope="module")
def rows(eyepacs_root):
    data = datasets.load_dataset(
        "eyepacs", eyepacs_root, split_fractions={"train": 0.8, "valid": 0.2}
    )
    return data.splits["train"]


def test_load_image_eagerly_and_in_dataset_map(rows):
    path = rows["path"].iloc[0]
    eager = file_input.load_image(tf.constant(path), size=20, channels=3)
    mapped = next(
        iter(
            tf.data.Dataset.from_tensors(path).map(
                lambda p: file_input.load_image(p, size=20, channels=3)
            )
        )
    )
    assert eager.dtype == tf.uint8 and eager.shape == (20, 20, 3)
    np.testing.assert_array_equal(eager, mapped)
    gray = file_input.load_image(tf.constant(path), size=20, channels=1)
    assert gray.shape == (20, 20, 1)


def test_resize_modes_on_a_wide_image(tmp_path):
    from PIL import Image

    image = np.zeros((20, 40, 3), np.uint8)
    image[:, 10:30] = 255  # White centre square, black sides.
    Image.fromarray(image).save(tmp_path / "wide.png")
    path = tf.constant(str(tmp_path / "wide.png"))
    pad = file_input.load_image(path, size=20, channels=3, resize_mode="pad").numpy()
    crop = file_input.load_image(path, size=20, channels=3, resize_mode="center_crop").numpy()
    squash = file_input.load_image(path, size=20, channels=3, resize_mode="squash").numpy()
    assert pad[:4].max() == 0 and pad[-4:].max() == 0 and pad[10, 10, 0] == 255  # Letterboxed.
    assert crop.min() == 255  # The central 20x20 square is all white.
    assert squash[:, :4].max() == 0 and squash[:, 8:12].min() == 255
    with pytest.raises(ValueError, match="unknown resize_mode"):
        file_input.load_image(path, size=20, channels=3, resize_mode="fit")


ROTATE_AND_FLIP = AugmentConfig(True, True, 10.0)


def _stream(rows, start, cache="memory", batches=6, augment=ROTATE_AND_FLIP):
    ds = file_input.train_dataset(
        rows,
        image_size=24,
        channels=3,
        preprocessing="inception",
        batch_size=8,
        seed=5,
        start_example=start,
        cache=cache,
        split_name="train",
        augment=augment,
    )
    return [(x.numpy(), y.numpy()) for x, y in ds.take(batches)]


def test_resumed_stream_equals_the_uninterrupted_one(rows):
    full = _stream(rows, start=0, batches=20)  # 20 batches of 8 > two passes over 60 rows.
    resumed = _stream(rows, start=13 * 8, batches=7)
    for (x1, y1), (x2, y2) in zip(full[13:], resumed, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)


def test_cache_modes_give_the_same_stream(rows, tmp_path):
    memory = _stream(rows, start=16)
    none = _stream(rows, start=16, cache="none")
    disk = _stream(rows, start=16, cache=str(tmp_path / "cache"))
    reread = _stream(rows, start=16, cache=str(tmp_path / "cache"))  # From the files.
    assert len(list(tmp_path.glob("cache-train-train-*.index"))) == 1
    for (a, la), (b, _), (c, lc), (d, ld) in zip(memory, none, disk, reread, strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
        np.testing.assert_array_equal(a, d)
        np.testing.assert_array_equal(la, lc)
        np.testing.assert_array_equal(la, ld)


def test_a_file_cache_needs_the_split_name(rows, tmp_path):
    with pytest.raises(ValueError, match=r"a file cache needs the split's name"):
        file_input.train_dataset(
            rows, image_size=24, channels=3, preprocessing="inception", batch_size=8, seed=5,
            cache=str(tmp_path / "cache"),
        )  # fmt: skip


def test_each_pass_is_a_new_permutation_of_all_rows(rows):
    labels = np.concatenate([y for _, y in _stream(rows, 0, batches=16, augment=None)])
    n = len(rows)
    first, second = labels[:n], labels[n : 2 * n]
    assert sorted(first) == sorted(rows["label"]) == sorted(second)
    assert not np.array_equal(first, second)
    images = _stream(rows, 0, batches=1, augment=None)[0][0]
    assert images.min() >= -1.0 and images.max() <= 1.0 and images.shape == (8, 24, 24, 3)


def test_eval_dataset_keeps_order_and_the_partial_batch(rows):
    ds = file_input.eval_dataset(
        rows, image_size=24, channels=3, preprocessing="unit", batch_size=7
    )
    batches = list(ds)
    assert len(rows) == 60
    assert [len(y) for _, y in batches] == [7] * 8 + [4]
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), rows["label"])


def test_preview_images_are_in_unit_range(rows):
    images = file_input.preview_images(rows, count=4, image_size=24, channels=3, seed=0)
    assert images.shape == (4, 24, 24, 3) and images.min() >= 0.0 and images.max() <= 1.0


def test_multilabel_targets_carry_the_mask_and_resume_exactly(chexpert_root):
    rows = datasets.load_dataset(
        "chexpert", chexpert_root, split_fractions={"train": 1.0}, blank="mask"
    ).splits["train"]
    targets = file_input.targets(rows)
    assert targets.shape == (len(rows), 2, 5) and targets.dtype == np.float32
    np.testing.assert_array_equal(targets[:, 1], np.stack(rows["mask"]))
    assert (targets[:, 1] == 0).any()  # Blank cells are masked under this policy.

    def stream(start, batches):
        ds = file_input.train_dataset(
            rows,
            image_size=32,
            channels=1,
            preprocessing="inception",
            batch_size=4,
            seed=1,
            start_example=start,
            augment=ROTATE_AND_FLIP,
        )
        return [(x.numpy(), y.numpy()) for x, y in ds.take(batches)]

    full, resumed = stream(0, 12), stream(7 * 4, 5)
    assert full[0][0].shape == (4, 32, 32, 1) and full[0][1].shape == (4, 2, 5)
    for (x1, y1), (x2, y2) in zip(full[7:], resumed, strict=True):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    batches = list(
        file_input.eval_dataset(
            rows, image_size=32, channels=3, preprocessing="unit", batch_size=16
        )
    )
    np.testing.assert_array_equal(np.concatenate([y for _, y in batches]), targets)
    assert batches[0][0].shape[-1] == 3  # Grayscale JPEGs replicated to 3 channels.
