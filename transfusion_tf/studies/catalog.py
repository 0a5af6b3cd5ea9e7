"""The studies this repository ships, by name, and loading a study from a user's own file.

Each study is a module under `transfusion_tf/studies/configs/` defining `get_study(variant)`;
its docstring says what it reproduces, the command, the runtime and the paper's numbers.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

from transfusion_tf.studies.spec import Study, StudyError, UnknownStudy

# Study name -> module under transfusion_tf.studies.configs.
STUDY_MODULES = {
    "table1": "table1_retina",
    "table2": "table2_chexpert",
    "table3": "table3_small_data",
    "fig2_5": "figs2_5_representations",
    "fig6": "fig6_mean_var",
    "fig7": "fig7_transfusion",
    "fig8": "fig8_hybrid_gabor",
    "init": "init_comparison",
    "data_size": "data_size_sweep",
    "demo": "demo",
}


def list_studies() -> list[str]:
    return sorted(STUDY_MODULES)


def study_help() -> str:
    """One line per study: `name  title` (the first docstring line of its module)."""
    lines = []
    for name in list_studies():
        title = (study_module(name).__doc__ or "").strip().splitlines()[0]
        lines.append(f"{name:<10} {title}")
    return "\n".join(lines)


def load_study(spec: str) -> Study:
    """Builds `name[:variant]` (or `path/to/file.py[:variant]`) from `get_study(variant)`.

    A path lets researchers keep their own studies outside this repository.

    Raises:
      StudyError: an unknown name (the message lists the valid ones), a missing file, or a
        module without `get_study`.
    """
    name, _, variant = spec.partition(":")
    module = study_module(name)
    if not hasattr(module, "get_study"):
        raise StudyError(f"{name} defines no get_study(variant)")
    return module.get_study(variant)


def study_module(name: str):
    """The module of a shipped study, or a user's study file loaded from its path."""
    if name in STUDY_MODULES:
        return importlib.import_module(f"transfusion_tf.studies.configs.{STUDY_MODULES[name]}")
    if not name.endswith(".py"):
        raise UnknownStudy(
            f"unknown study {name!r}; valid: {', '.join(list_studies())} or a path to a "
            ".py file defining get_study(variant)"
        )
    path = os.path.abspath(name)
    if not os.path.exists(path):
        raise UnknownStudy(f"study file {path} not found")
    spec = importlib.util.spec_from_file_location("_study_" + os.path.basename(path)[:-3], path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
