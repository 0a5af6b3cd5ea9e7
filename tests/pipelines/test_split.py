"""`targets`: what the loss sees, the same for rows of files and rows read from records."""

import numpy as np
import pandas as pd

from pipelines.split import targets


def test_single_label_targets_are_the_labels():
    rows = pd.DataFrame({"label": [3, 0, 4]})
    out = targets(rows)
    np.testing.assert_array_equal(out, [3, 0, 4])
    assert out.dtype == np.int64
    empty = targets(rows.iloc[:0])
    assert empty.shape == (0,) and empty.dtype == np.int64


def test_multi_label_targets_stack_labels_then_mask():
    rows = pd.DataFrame(
        {
            "label": [np.array([1.0, 0.0]), np.array([0.0, 1.0])],
            "mask": [np.array([1.0, 1.0]), np.array([0.0, 1.0])],
        }
    )
    out = targets(rows)
    assert out.shape == (2, 2, 2) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], [[1, 0], [0, 1]])
    np.testing.assert_array_equal(out[:, 1], [[1, 1], [0, 1]])
    assert targets(rows.iloc[:0]).shape == (0, 2, 0)
