"""Every shell command the docs show names things the repository defines.

Commands come from README.md, BUILD.md and docs/*.md: the lines of fenced code blocks (not
```python or ```json ones) and of indented code blocks, and inline code spans, that start
with `python -m`, `python <script>.py`, `make` or `bash` (after a `$ ` prompt, environment
assignments such as `TF_CONFIG='...'` and a `.venv/bin/` prefix); `\\` continuations are
joined, `&&` and `;` separate commands, a trailing `# comment` is dropped. For each:

- `python -m <module>`: a module of this repository must be a binary (`BINARIES` or
  `ALIASES` of tests/test_layers.py) or a benchmark script; any other module must exist.
  Every `--flag` (or `--noflag` for a boolean) must be one the binary defines: its absl
  flags, read in this process by importing every named binary without running it (flags
  other binaries defined here set aside; or the argparse options of a script that uses
  argparse), plus absl's own.
- `--config=<file>[:<variant>]`: the file exists and `get_config(variant)` builds; every
  `--config.<a.b>` names a field of that config, since ml_collections refuses an override of
  a field the config does not declare (of `base_config()` when the file is a placeholder).
- `--study=<name>[:<variant>]` builds; `--dataset=<name>` of a `pipelines` binary is
  registered.
- `make <target>`: a target of the Makefile; `bash <file>`: the file exists.

Values holding `<`, `...`, `$`, `{` or `[` are placeholders and are not checked.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import pathlib
import re

import pytest

from tests import binaries
from tests.test_layers import ALIASES, BINARIES, PACKAGES, SCRIPTS

REPO = pathlib.Path(__file__).resolve().parents[1]
DOCS = ("README.md", "BUILD.md", *sorted(str(p.relative_to(REPO)) for p in REPO.glob("docs/*.md")))
PREFIXES = ("python -m ", "python ", "make ", "bash ")
# Flags absl gives every binary at parse time (app.run defines the help flags).
ABSL_FLAGS = {"help", "helpshort", "helpfull", "helpxml", "flagfile", "undefok", "?"}
_ENV = re.compile(r"""^[A-Z_][A-Z0-9_]*=('[^']*'|"[^"]*"|\S*)\s+""")
_FLAG = re.compile(r"(?<![\w-])--([A-Za-z_][\w.]*)(=\S*)?")
_INLINE = re.compile(r"`([^`]+)`")


@dataclasses.dataclass(frozen=True)
class Command:
    source: str  # file:line
    text: str


def normalise(text: str) -> str:
    """`$ X=1 .venv/bin/python -m m` -> `python -m m`; drops a trailing `# comment`."""
    text = re.sub(r"\s+#\s.*$", "", text.strip())
    text = text.removeprefix("$ ")
    while match := _ENV.match(text):
        text = text[match.end() :]
    text = re.sub(r"^\.venv/bin/", "", text)
    return re.sub(r"^python3(\.\d+)? ", "python ", text)


def split_commands(text: str, source: str) -> list[Command]:
    parts = re.split(r"\s&&\s|;\s", text)
    found = [" ".join(normalise(p).split()) for p in parts]
    return [Command(source, p) for p in found if p.startswith(PREFIXES)]


def commands_in(text: str, name: str) -> list[Command]:
    """The commands of one markdown file, each with its file and first line."""
    found, fence, lines = [], None, text.splitlines()
    prose: list[tuple[int, str]] = []
    i = 0
    while i < len(lines):
        line, number = lines[i], i + 1
        if line.lstrip().startswith("```"):
            fence = None if fence is not None else line.strip()[3:].strip()
            i += 1
            continue
        code = fence is not None and fence not in ("python", "py", "json")
        indented = fence is None and line.startswith("    ") and not line.lstrip().startswith("-")
        if code or (indented and normalise(line).startswith(PREFIXES)):
            joined = line
            while joined.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                joined = joined.rstrip()[:-1] + " " + lines[i].strip()
            found += split_commands(joined, f"{name}:{number}")
        elif fence is None:
            prose.append((number, line))
        i += 1
    text = "\n".join(line for _, line in prose)
    starts = [number for number, line in prose for _ in range(len(line) + 1)]
    for match in _INLINE.finditer(text):
        span = " ".join(match.group(1).split())
        if normalise(span).startswith(PREFIXES):
            found += split_commands(span, f"{name}:{starts[match.start()]}")
    return found


def module_of(command: str) -> str | None:
    """`python -m a.b ...` -> a.b; `python benchmarks/x.py` -> benchmarks.x; else None."""
    words = command.split()
    if words[:2] == ["python", "-m"] and len(words) > 2:
        return words[2]
    if words[0] == "python" and len(words) > 1 and words[1].endswith(".py"):
        return words[1][:-3].replace("/", ".")
    return None


def is_placeholder(value: str) -> bool:
    return any(mark in value for mark in ("<", "...", "$", "{", "["))


def _flags_of(module: str) -> dict:
    """{flags, booleans, configs} of a binary, from an import undone afterwards (main does
    not run), or {error} if it does not import."""
    from absl import flags

    try:
        with binaries.imported_alone(module):
            defined = flags.FLAGS.get_flags_for_module(module)
    except Exception as e:
        return {"error": f"{type(e).__name__}: {e}"}
    return {
        "flags": sorted(f.name for f in defined),
        "booleans": sorted(f.name for f in defined if f.boolean),
        "configs": sorted(f.name for f in defined if "Config" in type(f).__name__),
    }


def binary_flags(modules: set[str]) -> dict:
    """{module: {flags, booleans, configs} or {error}}, plus "common": absl's own flags."""
    python, scripts = [], {}
    for module in sorted(modules):
        path = REPO / (module.replace(".", "/") + ".py")
        if path.exists() and "import argparse" in path.read_text():
            names = re.findall(r"add_argument\(\s*\"--([\w-]+)\"", path.read_text())
            scripts[module] = {"flags": sorted(n.replace("-", "_") for n in names)}
        else:
            python.append(module)
    from absl import flags

    with binaries.flags_of_binaries_set_aside():
        common = sorted(set(flags.FLAGS) | ABSL_FLAGS)
    return {"common": common, **{module: _flags_of(module) for module in python}, **scripts}


def repo_module(module: str) -> bool:
    return module.split(".")[0] in PACKAGES


def flags_target(module: str) -> str:
    return ALIASES.get(module, module)


def needed_binaries(commands: list[Command]) -> set[str]:
    named = {module_of(c.text) for c in commands} - {None}
    return {flags_target(m) for m in named if repo_module(m) and is_runnable(m)}


def is_runnable(module: str) -> bool:
    return module in BINARIES or module in ALIASES or module.split(".")[0] in SCRIPTS


_CONFIGS: dict[str, object] = {}


def load_config(spec: str):
    """`file.py[:variant]` -> its config; raises what loading raises."""
    if spec not in _CONFIGS:
        path, _, variant = spec.partition(":")
        loader = importlib.util.spec_from_file_location(f"_doc_config_{len(_CONFIGS)}", REPO / path)
        module = importlib.util.module_from_spec(loader)
        loader.loader.exec_module(module)
        _CONFIGS[spec] = module.get_config(variant)
    return _CONFIGS[spec]


def config_problems(command: str, flags: list[tuple[str, str]]) -> list[str]:
    from transfusion_tf.configs.base import base_config

    spec = next((v for n, v in flags if n == "config"), "")
    config = base_config()
    if spec and not is_placeholder(spec):
        if not (REPO / spec.partition(":")[0]).is_file():
            return [f"--config={spec}: no such file"]
        try:
            config = load_config(spec)
        except Exception as e:
            return [f"--config={spec}: get_config fails: {type(e).__name__}: {e}"]
    problems = []
    for name, _ in flags:
        if not name.startswith("config."):
            continue
        node = config
        for part in (p for p in name.split(".")[1:] if p):
            if not hasattr(node, "keys") or part not in node:
                problems.append(f"--{name}: {spec or 'base_config()'} has no such field")
                break
            node = node[part]
    return problems


def value_problems(module: str, flags: list[tuple[str, str]]) -> list[str]:
    values = {n: v for n, v in flags if v and not is_placeholder(v)}
    problems = []
    if module == "transfusion_tf.study" and "study" in values:
        from transfusion_tf.studies import load_study

        if not values["study"].partition(":")[0].endswith(".py"):
            try:
                load_study(values["study"])
            except Exception as e:
                problems.append(f"--study={values['study']}: {e}")
    if module.startswith("pipelines.") and "dataset" in values:
        from pipelines import datasets

        if values["dataset"] not in datasets.list_datasets():
            problems.append(f"--dataset={values['dataset']}: not a registered dataset")
    return problems


def python_problems(command: str, module: str, known: dict) -> list[str]:
    if not repo_module(module):
        return [] if importlib.util.find_spec(module) else [f"no module {module}"]
    if not is_runnable(module):
        exists = (REPO / (module.replace(".", "/") + ".py")).exists()
        return [f"{module} is {'not a binary' if exists else 'not a module'}"]
    info = known[flags_target(module)]
    if "error" in info:
        return [f"{module} does not import: {info['error']}"]
    defined = set(info["flags"]) | set(known["common"])
    flags = [(m.group(1), (m.group(2) or "=")[1:]) for m in _FLAG.finditer(command)]
    problems = []
    for name, _ in flags:
        root = name.split(".")[0].rstrip(".")
        negated = root.startswith("no") and root[2:] in info.get("booleans", ())
        if root not in defined and not negated:
            problems.append(f"--{root}: not a flag of {module}")
        elif "." in name and root not in info.get("configs", ()):
            problems.append(f"--{name}: --{root} of {module} is not a config flag")
    if any(n.startswith("config.") for n, _ in flags) or "config" in dict(flags):
        problems += config_problems(command, flags)
    return problems + value_problems(module, flags)


def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text()
    return {
        target
        for line in text.splitlines()
        if (match := re.match(r"^([\w .-]+):(?!=)", line))
        for target in match.group(1).split()
    }


def problems_of(commands: list[Command], known: dict) -> list[str]:
    problems, targets = [], make_targets()
    for command in commands:
        words = command.text.split()
        if words[0] == "make":
            bad = [t for t in words[1:] if "=" not in t and t not in targets]
            found = [f"make {t}: no such target in the Makefile" for t in bad]
        elif words[0] == "bash":
            path = words[1] if len(words) > 1 else ""
            found = [] if (REPO / path).is_file() else [f"bash {path}: no such file"]
        elif (module := module_of(command.text)) is not None:
            found = python_problems(command.text, module, known)
        else:
            found = []
        problems += [f"{command.source}: {p}  [{command.text}]" for p in found]
    return problems


def documented_commands() -> list[Command]:
    return [c for doc in DOCS for c in commands_in((REPO / doc).read_text(), doc)]


BAD_DOC = """
Text with `python -m transfusion_tf.trian --workdir=x` inline.

```
python -m transfusion_tf.evaluate --workdir=runs/r --chekpoint=latest
python -m transfusion_tf.train --config=transfusion_tf/configs/retina.py \\
    --config.data.options.labels_file=test.csv --workdir=runs/r
python -m transfusion_tf.train --config=transfusion_tf/configs/nope.py --workdir=runs/r
python -m transfusion_tf.study --study=tabel1 --workdir=s
python -m transfusion_tf.surgery --workdir=x
python -m pipelines.inspect --dataset=eyepax --root=/data
make tset && bash .ci/nothing
```
"""
GOOD_DOC = """
    python -m transfusion_tf.convert_checkpoint --noaux_logits --model=inception_v3 \\
        --checkpoint=<ckpt> --output=x.h5   # a comment

```bash
$ TF_CONFIG='{"task": {"index": 0}}' .venv/bin/python -m transfusion_tf.train \\
    --config=transfusion_tf/configs/own_data.py:multi_label --config.task_options.labels='("a",)' \\
    --workdir=/shared/run
python3.11 -m venv .venv && make lint && bash .ci/run
python -m slim_weights.convert --model=resnet_v1_50 --checkpoint=c --output=o.h5
python -m transfusion_tf.train --config=<file.py> --config.<field>=<value> --workdir=<dir>
```

```python
python -m this.is.python.code --not=checked
```
"""


@pytest.fixture(scope="module")
def known():
    """Flags of every binary the docs and the tests below name."""
    commands = documented_commands() + commands_in(BAD_DOC, "bad") + commands_in(GOOD_DOC, "good")
    return binary_flags(needed_binaries(commands))


@pytest.mark.slow
def test_every_documented_command_is_defined(known):
    commands = documented_commands()
    assert len(commands) >= 40  # The extraction finds the docs' commands.
    modules = {module_of(c.text) for c in commands}
    assert {"transfusion_tf.train", "transfusion_tf.study", "pipelines.inspect"} <= modules
    assert problems_of(commands, known) == []


def test_extraction_joins_continuations_strips_prompts_and_skips_python_blocks():
    commands = commands_in(GOOD_DOC, "good")
    assert [c.source for c in commands] == [f"good:{n}" for n in (2, 6, 9, 9, 9, 10, 11)]
    assert commands[0].text == (
        "python -m transfusion_tf.convert_checkpoint --noaux_logits --model=inception_v3 "
        "--checkpoint=<ckpt> --output=x.h5"
    )
    assert commands[1].text.startswith("python -m transfusion_tf.train --config=")
    assert commands[1].text.endswith("--workdir=/shared/run")
    assert [c.text for c in commands[2:5]] == ["python -m venv .venv", "make lint", "bash .ci/run"]
    inline = commands_in("Run\n`python -m pipelines.inspect\n--dataset=csv` or `make demo`.", "x")
    assert [(c.source, c.text) for c in inline] == [
        ("x:2", "python -m pipelines.inspect --dataset=csv"),
        ("x:3", "make demo"),
    ]


@pytest.mark.slow
def test_good_commands_pass(known):
    assert problems_of(commands_in(GOOD_DOC, "good"), known) == []


@pytest.mark.slow
def test_bad_commands_are_named_with_their_line(known):
    problems = problems_of(commands_in(BAD_DOC, "bad"), known)
    expected = [
        ("bad:5", "--chekpoint: not a flag of transfusion_tf.evaluate"),
        ("bad:6", "--config.data.options.labels_file: transfusion_tf/configs/retina.py has no"),
        ("bad:8", "--config=transfusion_tf/configs/nope.py: no such file"),
        ("bad:9", "--study=tabel1: unknown study 'tabel1'"),
        ("bad:10", "transfusion_tf.surgery is not a binary"),
        ("bad:11", "--dataset=eyepax: not a registered dataset"),
        ("bad:12", "make tset: no such target in the Makefile"),
        ("bad:12", "bash .ci/nothing: no such file"),
        ("bad:2", "transfusion_tf.trian is not a module"),
    ]
    assert len(problems) == len(expected), "\n".join(problems)
    for problem, (where, what) in zip(problems, expected, strict=True):
        assert problem.startswith(f"{where}: {what}"), problem
