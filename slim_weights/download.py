r"""Downloads and checks a released TF-Slim ImageNet checkpoint.

  python -m slim_weights.download --model=resnet_v1_50 --dir=~/slim_checkpoints
  python -m slim_weights.download --model=inception_v3 --dir=/data/ckpt --url=http://mirror/x.tar.gz

Interrupted downloads resume when the same command is run again. The tarball is extracted
only if no member would land outside --dir, and the checkpoint is checked against the
manifest's variable inventory. Prints the checkpoint path on success; otherwise one
`error:` line and exit status 2 (a bad flag, e.g. a --url that names no file) or 1 (a
failed download, a bad archive or checkpoint).
"""

from __future__ import annotations

import os
import sys

from absl import flags

import errors
from slim_weights import checkpoint, fetch, manifest

_MODEL = flags.DEFINE_enum(
    "model", None, manifest.list_entries(), "Model whose ImageNet checkpoint to fetch."
)
_DIR = flags.DEFINE_string("dir", None, "Directory for the tarball and the checkpoint.")
_URL = flags.DEFINE_string("url", None, "Download from here instead of the manifest URL.")
_ATTEMPTS = flags.DEFINE_integer("attempts", 3, "Connections to try before giving up.")


def main(argv: list[str]) -> None:
    del argv  # Positional arguments are refused by errors.run.
    entry = manifest.get_entry(_MODEL.value)
    try:
        path = fetch.fetch_checkpoint(
            entry,
            os.path.expanduser(_DIR.value),
            url=_URL.value,
            progress=sys.stderr,
            attempts=_ATTEMPTS.value,
        )
    except checkpoint.CheckpointReadError as e:
        raise checkpoint.CheckpointReadError(
            f"{e}. The extracted checkpoint is damaged: delete it and the tarball in "
            f"{_DIR.value} and run the same command again."
        ) from e
    except fetch.MissingMember as e:
        raise fetch.MissingMember(
            f"{e}. Is --url the release tarball of --model={_MODEL.value}?"
        ) from e
    print(path)


if __name__ == "__main__":
    flags.mark_flags_as_required(["model", "dir"])
    errors.run(main)
