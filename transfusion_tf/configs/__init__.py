"""Experiment configs: each file defines `get_config(arg)` for ml_collections config_flags."""
