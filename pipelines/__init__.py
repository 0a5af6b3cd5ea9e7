"""Data on disk -> tf.data, and the synthetic datasets written in the real formats."""
