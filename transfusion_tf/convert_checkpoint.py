r"""Converts a TF-Slim checkpoint into a Keras weights file for `get_model(...)`.

(`python -m slim_weights.convert` runs this binary too: the command's earlier name.)

  python -m transfusion_tf.convert_checkpoint --model=resnet_v1_50 \
      --checkpoint=ckpt/resnet_v1_50.ckpt --output=resnet_v1_50.weights.h5
  python -m transfusion_tf.convert_checkpoint --model=inception_v3 --drop_background \
      --noaux_logits --checkpoint=ckpt/inception_v3.ckpt \
      --output=inception_v3_1000.weights.h5

Every checkpoint variable must be consumed (the aux head is excluded only with
--noaux_logits); the load report is printed. Load the result into the same configuration:

  model = get_model("inception_v3", num_classes=1000, input_shape=(587, 587, 3))
  model.load_weights("inception_v3_1000.weights.h5")

(any input size >= the model's minimum; the weights do not depend on it, except that a model
with aux_logits needs 299 px). For a new head, load the checkpoint itself with
`slim_weights.loading.load_into(model, variables, exclude_scopes=entry.head_scopes)`.
A missing, damaged or mismatched checkpoint is one `error:` line naming it, exit status 1.
"""

from __future__ import annotations

import os

from absl import flags

import errors
from slim_weights import checkpoint, loading, manifest
from transfusion_tf.models import get_model

_MODEL = flags.DEFINE_enum("model", None, manifest.list_entries(), "Model to convert for.")
_CHECKPOINT = flags.DEFINE_string(
    "checkpoint", None, "Slim checkpoint: V1 file, V2 prefix, or directory."
)
_OUTPUT = flags.DEFINE_string(
    "output", None, "Keras weights file to write (.h5 for HDF5, otherwise TF format)."
)
_DROP_BACKGROUND = flags.DEFINE_bool(
    "drop_background",
    False,
    "Drop the checkpoint's label offset (Inception's background logit 0): 1000-way head.",
)
_AUX_LOGITS = flags.DEFINE_bool(
    "aux_logits", True, "Keep the auxiliary head where the checkpoint has one (299 px only)."
)
_CHANNELS = flags.DEFINE_enum(
    "channels", "3", ["1", "3"], "Input channels; 1 sums the first conv over RGB."
)


def convert_checkpoint(
    model_name: str,
    checkpoint_path: str,
    output: str,
    *,
    drop_background: bool = False,
    aux_logits: bool = True,
    channels: int = 3,
) -> loading.LoadReport:
    """Loads a slim checkpoint into `get_model(model_name, ...)` and saves its weights.

    Args:
      model_name: a manifest entry (`resnet_v1_50` or `inception_v3`).
      checkpoint_path: V1 file, V2 prefix or directory of the slim checkpoint.
      output: Keras weights file to write (`.h5` HDF5; other names TF format). A leading `~`
        is expanded here and in `checkpoint_path`.
      drop_background: apply the entry's label offset, giving num_classes - label_offset
        logits (1000 for Inception); no effect where the offset is 0.
      aux_logits: keep the entry's auxiliary head (Inception); the model is then built at
        the native 299 px.
      channels: 3, or 1 to sum the first conv kernel over its RGB inputs.

    Returns:
      The `LoadReport`; every checkpoint variable is loaded unless the aux head was
      dropped.

    Raises:
      loading.CheckpointMismatchError: if the checkpoint does not fit the model.
      checkpoint.CheckpointReadError: if the checkpoint is missing, truncated or damaged.
      OSError, errors.ExpectedError: if `output` cannot be written (named).
    """
    entry = manifest.get_entry(model_name)
    output = os.path.expanduser(output)
    # Before the checkpoint is read: a directory that cannot be made fails now.
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    variables = checkpoint.read_checkpoint(checkpoint_path)
    if channels == 1:
        variables = loading.sum_rgb_channels(variables, entry.first_conv)
    offset = entry.label_offset if drop_background else 0
    options = {"aux_logits": aux_logits} if entry.aux_scopes else {}
    model = get_model(
        entry.model,
        num_classes=entry.num_classes - offset,
        input_shape=(entry.input_size, entry.input_size, channels),
        **options,
    )
    report = loading.load_into(
        model,
        variables,
        exclude_scopes=() if aux_logits else entry.aux_scopes,
        label_offset=offset,
        class_scopes=entry.class_scopes if offset else (),
    )
    try:
        model.save_weights(output)
    except OSError as e:  # h5py's errors name no file.
        raise errors.ExpectedError(f"cannot write {output}: {e}") from e
    return report


def main(argv: list[str]) -> None:
    del argv  # Positional arguments are refused by errors.run.
    report = convert_checkpoint(
        _MODEL.value,
        _CHECKPOINT.value,
        _OUTPUT.value,
        drop_background=_DROP_BACKGROUND.value,
        aux_logits=_AUX_LOGITS.value,
        channels=int(_CHANNELS.value),
    )
    print(report.summary())
    print(f"wrote {os.path.expanduser(_OUTPUT.value)}")


if __name__ == "__main__":
    flags.mark_flags_as_required(["model", "checkpoint", "output"])
    errors.run(main)
