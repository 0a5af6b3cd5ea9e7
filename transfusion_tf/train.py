r"""Train one model: `python -m transfusion_tf.train --config=<file>[:<arg>] --workdir=<dir>`.

  python -m transfusion_tf.train --config=transfusion_tf/configs/retina.py:demo \
      --config.data.root=/data/eyepacs --workdir=runs/retina_demo

Any config field can be overridden, e.g. `--config.model.name=cbr_tiny
--config.train.total_steps=2000`. The config reference: every field with its default and
reason in transfusion_tf/configs/base.py, the table in BUILD.md's "Config fields" section;
each experiment file (transfusion_tf/configs/*.py) says what it reproduces and lists its
variants. Rerunning the same command in the same workdir resumes.

A bad flag or config value stops before any data is read, as one `error:` line and exit
status 2; other foreseen failures (bad data, an unwritable workdir, a damaged file, a NaN
loss) exit with 1.
"""

from absl import flags
from ml_collections import config_flags

import errors
from transfusion_tf import distribution, trainer

_CONFIG = config_flags.DEFINE_config_file(
    "config",
    None,
    "Experiment config: a .py file defining get_config(arg), optionally with ':<arg>' "
    "(e.g. transfusion_tf/configs/retina.py:demo). Override fields with --config.<field>=<v>.",
    lock_config=True,
)
_WORKDIR = flags.DEFINE_string(
    "workdir",
    None,
    "Run directory for checkpoints, logs, eval_log.csv and TensorBoard events. Rerunning "
    "with the same workdir and config resumes from the last checkpoint.",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
    del argv  # Positional arguments are refused by errors.run.
    config = _CONFIG.value
    try:
        config.get("seed")  # ml_collections defers a config file that failed to load to here.
    except OSError as e:
        raise errors.UsageError(f"--config: {' '.join(str(e).split())}") from e
    trainer.train_and_evaluate(config, _WORKDIR.value)
    if distribution.num_workers() > 1:
        distribution.exit_together()


if __name__ == "__main__":
    errors.run(main)
