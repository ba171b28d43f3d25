"""Answers -> files: the keyword-only Python API under the CLI.

``create_project`` validates everything before touching the filesystem, renders with copier
into a sibling temp directory, formats it with the pinned ruff, commits it with git, and only
then renames it into place; on any exception (Ctrl-C included) nothing is left behind.

copier and yaml are imported inside the functions that need them, so importing this module
stays cheap.
"""

from __future__ import annotations

import keyword
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from torch_scaffold import __version__, features, scratch
from torch_scaffold import git as gitops
from torch_scaffold.errors import (
    BadDestination,
    DestinationExists,
    GitError,
    InvalidName,
    NotAProject,
    ScaffoldError,
    TemplateError,
    UnknownTemplate,
)

# What a generated project (with every feature) imports from outside the standard library:
# its dependencies, its tests' and its tools'. A package of the same name would shadow one of
# them. tests/test_bad_input.py checks this against the template's imports and pyproject.
PROJECT_IMPORTS = frozenset(
    {"torch", "torchvision", "torch_xla", "numpy", "tqdm", "yaml", "tensorboard", "wandb"}
    | {"mlflow", "pytest", "ruff", "hatchling", "transformers", "tokenizers", "sklearn", "PIL"}
    | {"psutil", "matplotlib", "onnx", "onnxscript", "onnxruntime", "optuna"}
)
# Names a generated package must not take: importing it would shadow what the project uses.
RESERVED_NAMES = PROJECT_IMPORTS | {"test", "tests", "conftest", "scaffold", "torch_scaffold"}
# ...nor the name of a test module that other tests import (test_distributed.launch_all).
RESERVED_NAMES |= {"test_distributed", "test_fsdp", "test_timer"}
# A longer name makes paths (src/NAME/..., the temporary folder) that file systems refuse.
MAX_NAME_LENGTH = 100
# Longest path and folder name accepted for --dest (Linux's PATH_MAX and NAME_MAX, less room
# for the files inside and for the temporary folder beside it).
MAX_PATH_LENGTH = 3000
MAX_FOLDER_NAME_LENGTH = 200
ANSWERS_FILE = ".copier-answers.yml"


def templates_dir() -> Path:
    """Where the templates are: inside the installed package, else the repository's."""
    here = Path(__file__).resolve().parent
    packaged = here / "templates"
    if packaged.is_dir():
        return packaged
    return here.parent.parent / "templates"


# The one copier template every task renders from: the loop and the features are shared, and
# a task's own files (its model, data and step) sit in tasks/<name>/ for the shared ones to
# include. One loop source for every template.
PROJECT_TEMPLATE = "project"


def available_templates() -> list[str]:
    """Names of the templates that ship with torch-scaffold: the tasks of the catalogue that
    the shared template has, and any standalone copier template beside it."""
    root = templates_dir()
    if not root.is_dir():
        return []
    tasks = root / PROJECT_TEMPLATE / "tasks"
    entries = features.current().entries
    names = [e.name for e in entries if e.kind == "template" and (tasks / e.name).is_dir()]
    others = sorted(p.name for p in root.iterdir() if (p / "copier.yml").is_file())
    return names + [name for name in others if name != PROJECT_TEMPLATE and name not in names]


def template_path(template: str) -> Path:
    """The copier template that renders ``template``; ``UnknownTemplate`` lists the names."""
    names = available_templates()
    if template not in names:
        import difflib

        close = difflib.get_close_matches(template, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UnknownTemplate(
            f"unknown template {template!r}; {hint}choose from: {', '.join(names) or '(none)'}"
        )
    standalone = templates_dir() / template
    if (standalone / "copier.yml").is_file():
        return standalone
    return templates_dir() / PROJECT_TEMPLATE


def validate_name(name: str) -> tuple[str, str]:
    """Return ``(project_name, package_name)``; ``InvalidName`` says how to fix a bad one."""
    package = name.lower().replace("-", "_")
    if not name:
        raise InvalidName("the project name is empty; pass a name such as 'my-project'")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(
            f"the project name is {len(name)} characters long; use at most {MAX_NAME_LENGTH}"
        )
    if not (package.isidentifier() and package.isascii() and package[0].isalpha()):
        raise InvalidName(
            f"{name!r} cannot become a Python package name; use letters, digits, '-' or '_', "
            "starting with a letter (e.g. 'my-project')"
        )
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        raise InvalidName(
            f"{name!r} is a Python keyword and cannot be a package name; pick another name "
            f"(e.g. '{package}-project')"
        )
    if package in sys.stdlib_module_names or package in RESERVED_NAMES:
        raise InvalidName(
            f"package name {package!r} would shadow the module of the same name; pick another "
            f"name (e.g. 'my-{name}')"
        )
    return name, package


def read_answers(
    project: Path, *, text: str | None = None, restore_from: str = "HEAD"
) -> dict[str, object]:
    """The answers recorded in a generated project's answers file, checked.

    ``text`` is the file's content at some commit (default: the file on disk). ``NotAProject``
    says what is wrong and how to fix it: restore the file from ``restore_from``.
    """
    import yaml

    path = Path(project) / ANSWERS_FILE
    if text is None:
        if not path.is_file():
            raise NotAProject(
                f"{project} is not a project generated by scaffold (no {ANSWERS_FILE}); "
                "run this inside one or pass --project DIR"
            )
        text = path.read_text(encoding="utf-8")
    hint = f"restore it with 'git checkout {restore_from} -- {ANSWERS_FILE}'"
    try:
        answers = yaml.safe_load(text)
    except yaml.YAMLError as error:
        problem = str(error).splitlines()[0]
        raise NotAProject(f"{path} is not valid YAML ({problem}); {hint}") from None
    required = ("_template", "_scaffold_version", "project_name", "package_name")
    missing = [key for key in required if not isinstance(answers, dict) or key not in answers]
    if missing:
        raise NotAProject(f"{path} lacks {', '.join(missing)}; {hint}")
    selections = {k: v for k, v in answers.items() if not k.startswith("_")}
    names = selections.pop("project_name"), selections.pop("package_name")
    try:
        if validate_name(str(names[0]))[1] != names[1]:
            raise InvalidName(f"package_name {names[1]!r} is not derived from {names[0]!r}")
        template_path(str(answers["_template"]))
        features.resolve(selections)
    except ScaffoldError as error:
        raise NotAProject(f"{path} holds answers scaffold cannot use ({error}); {hint}") from None
    return answers


def _ruff(dst: Path, *args: str) -> subprocess.CompletedProcess[str]:
    from ruff.__main__ import find_ruff_bin

    # A project without its own ruff config is checked with ruff's defaults, not with whatever
    # config happens to sit in a parent directory: the output must not depend on the location.
    has_config = any((dst / f).is_file() for f in ("pyproject.toml", "ruff.toml", ".ruff.toml"))
    isolated = () if has_config else ("--isolated",)
    return subprocess.run(
        [os.fsdecode(find_ruff_bin()), *args, "--no-cache", *isolated, "."],
        cwd=dst,
        capture_output=True,
        text=True,
        check=False,
    )


def _format(dst: Path, template: str) -> None:
    """Fix and format the rendered tree with its own ruff config; it must end up clean."""
    _ruff(dst, "check", "--fix", "--quiet")
    _ruff(dst, "format", "--quiet")
    for args in (("check", "--output-format", "concise"), ("format", "--check")):
        result = _ruff(dst, *args)
        if result.returncode != 0:
            first = (result.stdout + result.stderr).strip().splitlines()
            detail = first[0] if first else f"exit code {result.returncode}"
            raise TemplateError(
                f"template {template!r} produced files that fail 'ruff {args[0]}' ({detail}); "
                "this is a bug in torch-scaffold, please report it"
            )


def render(dst: Path, *, template: str, answers: Mapping[str, object]) -> None:
    """Render ``template`` with ``answers`` into ``dst``, formatted and lint-clean.

    Deterministic: the same answers give byte-identical files.
    """
    import copier

    template_dir = template_path(template)
    # copier's own scratch folders go into one of ours, which the next run removes if this
    # one is killed.
    with scratch.temp_dir(None, "scaffold-render-") as folder, scratch.tempdir(folder):
        _copy(copier, template_dir, dst, template, answers)
    _write_base_config(Path(dst))
    _format(Path(dst), template)


def _write_base_config(dst: Path) -> None:
    """configs/base.yaml: every field of the rendered Config at its default, under its help,
    as the project's own `--print-config` writes it (config.py imports only the standard
    library and PyYAML, which copier brings): one source for the fields, config.py."""
    import importlib.util

    sources = list((dst / "src").glob("*/config.py")) if (dst / "src").is_dir() else []
    if len(sources) != 1:  # a template without a Config (the tests' small ones)
        return
    source = sources[0]
    package = source.parent.name
    spec = importlib.util.spec_from_file_location(f"_scaffold_rendered_{package}_config", source)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses looks its module up while it builds Config
    try:
        spec.loader.exec_module(module)
        text = module.config_yaml(module.Config())
    finally:
        del sys.modules[spec.name]
    run = f"python -m {package}.train"
    header = (
        f"# Every field of Config (src/{package}/config.py) at its default, under its help.\n"
        "# An experiment's file keeps only what it changes. Files merge in order, flags last:\n"
        f"#   {run} --config configs/base.yaml --config configs/exp1.yaml --lr 3e-4\n"
        f"# `{run} --print-config` prints the resolved config in this form, and each run\n"
        "# writes it to its own config.yaml.\n\n"
    )
    (dst / "configs").mkdir(exist_ok=True)
    (dst / "configs" / "base.yaml").write_text(header + text)


def _copy(copier, template_dir: Path, dst: Path, template: str, answers: Mapping[str, object]):
    try:
        copier.run_copy(
            str(template_dir),
            str(dst),
            data={**answers, "scaffold_version": __version__, "template": template},
            defaults=True,
            quiet=True,
            overwrite=True,
            unsafe=False,
        )
    except Exception as error:  # copier's own errors, and the git and OS errors under them
        lines = [line for line in str(error).splitlines() if line.strip()] or [repr(error)]
        detail = lines[-1].strip()
        raise TemplateError(f"rendering template {template!r} failed: {detail}") from None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def check_destination(dst: Path) -> None:
    """``DestinationExists`` unless ``dst`` is missing or an empty directory;
    ``BadDestination`` when it cannot be created (under a file, too long, not writable)."""
    shown = _short(dst)
    try:
        if dst.exists() or dst.is_symlink():
            if not dst.is_dir():
                raise DestinationExists(
                    f"{dst} exists and is not a directory; choose another --dest"
                )
            if any(dst.iterdir()):
                raise DestinationExists(
                    f"{dst} already exists and is not empty; choose another --dest or remove it"
                )
            return
        _check_creatable(dst)
    except (OSError, ValueError) as error:  # ENAMETOOLONG, EACCES, ELOOP, a NUL byte, ...
        reason = getattr(error, "strerror", None) or str(error)
        raise BadDestination(f"cannot create {shown}: {reason}; choose another --dest") from None


def _check_creatable(dst: Path) -> None:
    shown = _short(dst)
    if len(os.fsencode(dst)) > MAX_PATH_LENGTH:
        raise BadDestination(f"{shown} is too long a path; choose a shorter --dest")
    if len(os.fsencode(dst.name)) > MAX_FOLDER_NAME_LENGTH:
        raise BadDestination(f"{shown}: the folder name is too long; choose a shorter --dest")
    parent = next(p for p in dst.parents if p.exists())
    if not parent.is_dir():
        raise BadDestination(f"{_short(parent)} is a file, not a folder; choose another --dest")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise BadDestination(f"{_short(parent)} is not writable; choose another --dest")


def _short(path: object, limit: int = 80) -> str:
    """``path`` for a message: long ones keep their start and end."""
    text = str(path)
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 3 :]}"


def create_project(
    dst: str | os.PathLike[str],
    *,
    template: str | None = None,
    answers: Mapping[str, object] | None = None,
    git: bool = True,
) -> Path:
    """Generate a project at ``dst`` and return its path.

    ``answers`` are catalogue selections (answer key -> value, missing ones get defaults)
    plus optionally ``project_name`` (default: the name of ``dst``); ``template`` is the same
    as the answer ``template`` (default: the catalogue's). Everything is validated before the
    filesystem is touched; on any exception nothing is left behind.
    """
    dst = Path(dst).absolute()
    full = _checked_answers(dst, template, answers or {})
    template = str(full["template"])
    check_destination(dst)
    if git and shutil.which("git") is None:
        raise GitError(gitops.NOT_INSTALLED)

    # Create missing parents; on failure remove the ones we made.
    created = next((p for p in reversed([dst.parent, *dst.parent.parents]) if not p.exists()), None)
    tmp: Path | None = None
    try:
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = scratch.fresh_dir(dst.parent, f".{dst.name}.scaffold-")
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; the project should not be
        render(tmp, template=template, answers=full)
        if git:
            name = full["project_name"]
            message = f"Generate {name} with torch-scaffold {__version__} (template {template})"
            try:
                gitops.init(tmp, message=message)
            except GitError as error:
                raise GitError(f"{error}; or pass --no-git") from None
        check_destination(dst)  # again: something may have appeared while we rendered
        if dst.is_dir():
            dst.rmdir()
        tmp.rename(dst)
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        if created is not None:
            shutil.rmtree(created, ignore_errors=True)
        raise
    return dst


def _checked_answers(
    dst: Path, template: str | None, answers: Mapping[str, object]
) -> dict[str, object]:
    """The names and the resolved catalogue answers of a new project, checked."""
    selections = dict(answers)
    if template is not None:
        if selections.setdefault("template", template) != template:
            raise UnknownTemplate(
                f"template {template!r} and answer template={selections['template']!r} disagree"
            )
        template_path(template)
    project_name, package_name = validate_name(str(selections.pop("project_name", dst.name)))
    given_package = selections.pop("package_name", package_name)
    if given_package != package_name:
        raise InvalidName(
            f"package_name {given_package!r} does not match project name {project_name!r}; "
            f"leave package_name out (it is derived: {package_name!r})"
        )
    resolved = features.resolve(selections)
    template_path(str(resolved["template"]))
    return {"project_name": project_name, "package_name": package_name, **resolved}
