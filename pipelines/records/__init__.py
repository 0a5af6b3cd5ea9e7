"""Datasets stored as TFRecord shards: the example format, conversion, manifest, input."""
