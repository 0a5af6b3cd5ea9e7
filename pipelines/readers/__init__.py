"""Datasets as distributed, read into checked rows: label tables, patient splits, images."""
