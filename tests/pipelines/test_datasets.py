"""The registry: one spec per dataset, read by the loader and by every binary."""

import pytest

from pipelines import datasets, generate
from pipelines.synthetic import eyepacs as synthetic_eyepacs

FILE_DATASETS = ["aptos", "chexpert", "csv", "eyepacs", "messidor2"]


def test_every_dataset_has_one_spec_and_one_loader():
    assert datasets.list_datasets() == [*FILE_DATASETS[:4], "imagenet", "messidor2", "tfrecords"]
    for name in datasets.list_datasets():
        spec = datasets.get_dataset(name)
        assert spec.name == name
        assert (spec.read_tables is None) != (spec.open_records is None)
        assert spec.stored_as_records == (name in ("imagenet", "tfrecords"))
        # Inspection and conversion work on exactly the image-file datasets.
        assert (spec.label_columns is not None) == (not spec.stored_as_records)
    with pytest.raises(ValueError, match="set exactly one of read_tables, open_records"):
        datasets.DatasetSpec("nothing")


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown dataset 'kaggle'; valid: aptos, chexpert"):
        datasets.get_dataset("kaggle")
    with pytest.raises(ValueError, match=r"unknown dataset 'kaggle'; valid: aptos, chexpert"):
        datasets.load_dataset("kaggle", "/nowhere", split_fractions={"train": 1.0})


def test_specs_hold_what_is_particular_to_each_dataset():
    eyepacs = datasets.get_dataset("eyepacs")
    assert eyepacs.label_names == ("none", "mild", "moderate", "severe", "proliferative")
    assert eyepacs.label_columns({}) == ("level",)
    assert dict(eyepacs.split_fractions) == {"train": 0.8, "valid": 0.1, "test": 0.1}
    assert eyepacs.writer is synthetic_eyepacs.write_eyepacs
    chexpert = datasets.get_dataset("chexpert")
    assert dict(chexpert.split_fractions) == {"train": 0.9, "valid_internal": 0.1}
    assert chexpert.label_columns({}) == chexpert.label_names
    messidor2 = datasets.get_dataset("messidor2")
    assert messidor2.label_columns({}) == (
        "adjudicated_dr_grade",
        "adjudicated_dme",
        "adjudicated_gradable",
    )
    assert messidor2.split_summary is not None
    assert [n for n in FILE_DATASETS if datasets.get_dataset(n).split_summary] == ["messidor2"]
    # pipelines.generate writes the datasets whose spec has a writer: the image-file ones.
    assert sorted(generate.GENERATORS) == FILE_DATASETS
