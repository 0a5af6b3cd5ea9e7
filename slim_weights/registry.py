"""Weights trained here, registered beside the released TF-Slim checkpoints.

The paper pretrained its CBRs on ImageNet itself. We pretrain them on a source task through
the same trainer and register the result, so that `init.kind=imagenet` finds a CBR's
weights exactly as it finds ResNet-50's: `find_weights(model)` returns either a released
`manifest.CheckpointEntry` or a `TrainedEntry` from a registry file, and both carry the
facts a loader needs (classes, label offset, input size, preprocessing, head scopes, first
conv).

A registry is one JSON file, `{"format": 1, "entries": {<model>: {<TrainedEntry fields>}}}`,
by default `~/.transfusion_tf/weights.json`. Each entry points at a name-based V2 checkpoint
holding slim names (`block1/conv/weights`, written by `checkpoint.write_checkpoint`), so it
is read with `checkpoint.read_checkpoint` and loaded with `loading` like a released one.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile

from errors import ExpectedError
from slim_weights import manifest

DEFAULT_REGISTRY = os.path.join("~", ".transfusion_tf", "weights.json")
_FORMAT = 1


class RegistryError(ExpectedError, ValueError):
    """A registry file that cannot be read, or weights that are not registered."""


@dataclasses.dataclass(frozen=True)
class TrainedEntry:
    """Weights trained with this framework, e.g. a CBR pretrained on the source task.

    Attributes:
      model: the model registry name the weights load into.
      path: the name-based (slim names) V2 checkpoint prefix, absolute.
      num_classes: width of the source head.
      label_offset: logit index of source class 0 (0: our readers already remove the
        ImageNet background offset).
      input_size: side in pixels the weights were trained at.
      preprocessing: pixel scaling the weights expect (a `pipelines.preprocessing` name).
      head_scopes: scopes of the source classifier head (excluded when fine-tuning).
      first_conv: slim name of the first conv kernel, (h, w, in, out).
      model_options: builder options the weights were trained with (e.g. CBR `widths`).
      source: provenance: dataset, run workdir, checkpoint step, held-out metrics.
    """

    model: str
    path: str
    num_classes: int
    label_offset: int
    input_size: int
    preprocessing: str
    head_scopes: tuple[str, ...]
    first_conv: str
    model_options: dict = dataclasses.field(default_factory=dict)
    source: dict = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainedEntry:
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - fields)
        if unknown:
            raise RegistryError(f"unknown entry fields {unknown}; valid: {sorted(fields)}")
        data = dict(data)
        data["head_scopes"] = tuple(data.get("head_scopes", ()))
        return cls(**data)


def registry_path(path: str | None = None) -> str:
    """The registry file: `path`, or `DEFAULT_REGISTRY` when empty; `~` expanded."""
    return os.path.abspath(os.path.expanduser(path or DEFAULT_REGISTRY))


def read_registry(path: str | None = None) -> dict[str, TrainedEntry]:
    """The registered entries by model name ({} when the file does not exist).

    Raises:
      RegistryError: if the file is not a registry (the message names it).
    """
    path = registry_path(path)
    if not os.path.exists(path):
        return {}
    try:
        with open(path) as f:
            data = json.load(f)
        if data.get("format") != _FORMAT:
            raise RegistryError(f"format {data.get('format')!r}, expected {_FORMAT}")
        return {name: TrainedEntry.from_json(e) for name, e in data["entries"].items()}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, RegistryError) as e:
        raise RegistryError(f"{path} is not a weights registry: {e}") from e


def register(entry: TrainedEntry, path: str | None = None) -> str:
    """Adds or replaces the entry of `entry.model`; returns the registry path.

    The file is replaced atomically, so a crash never leaves half a registry.

    Raises:
      RegistryError: if the entry's checkpoint does not exist or the file is not a registry.
    """
    if not os.path.exists(entry.path + ".index"):
        raise RegistryError(f"{entry.path}.index not found: register an existing V2 checkpoint")
    path = registry_path(path)
    entries = read_registry(path)
    entries[entry.model] = entry
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = {"format": _FORMAT, "entries": {k: v.to_json() for k, v in sorted(entries.items())}}
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)
    return path


def find_weights(
    model: str, registry: str | None = None
) -> manifest.CheckpointEntry | TrainedEntry:
    """The pretrained weights of a model: its registered entry, else its released one.

    A registered entry wins, so weights you trained yourself replace the released ones
    for that model name.

    Raises:
      RegistryError: if neither exists; the message lists what does.
    """
    entries = read_registry(registry)
    if model in entries:
        return entries[model]
    if model in manifest.list_entries():
        return manifest.get_entry(model)
    raise RegistryError(
        f"no pretrained weights for {model!r}: released for {', '.join(manifest.list_entries())}; "
        f"registered in {registry_path(registry)}: {', '.join(sorted(entries)) or 'none'}. "
        "Train on a source task and register the run (python -m transfusion_tf.register_weights)."
    )
