"""The few git operations that rendering and merging need.

Every call runs the ``git`` on ``PATH`` in a given folder with the variables a surrounding git
(a hook) may have set removed, and turns a failure into one ``GitError`` line.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from torch_scaffold.errors import GitError

TEMPLATE_BRANCH = "scaffold/template"
# Used only when the user has no git identity configured.
FALLBACK_NAME = "torch-scaffold"
FALLBACK_EMAIL = "scaffold@localhost"
NOT_INSTALLED = "git is not installed or not on PATH; install git or pass --no-git"


def _env() -> dict[str, str]:
    # Variables a surrounding git (e.g. a hook) may set would point git at another repository.
    drop = {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def run(
    cwd: Path,
    *args: str,
    config: list[str] | tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    ok_codes: tuple[int, ...] = (0,),
) -> subprocess.CompletedProcess[str]:
    """Run git in ``cwd``; a return code outside ``ok_codes`` raises ``GitError``.

    git runs in its own session, so a Ctrl-C on the terminal reaches scaffold alone and never
    cuts a git command (a merge, a ref update) half-way.
    """
    try:
        result = subprocess.run(
            ["git", *config, *args],
            cwd=cwd,
            env={**_env(), **(env or {})},
            capture_output=True,
            text=True,
            check=False,
            start_new_session=True,
        )
    except FileNotFoundError:
        raise GitError(NOT_INSTALLED) from None
    if result.returncode not in ok_codes:
        detail = (result.stderr.strip().splitlines() or [f"exit code {result.returncode}"])[-1]
        raise GitError(f"'git {args[0]}' failed: {detail}")
    return result


def out(cwd: Path, *args: str, **kwargs) -> str:
    """The stripped standard output of a git command that must succeed."""
    return run(cwd, *args, **kwargs).stdout.strip()


def identity(cwd: Path) -> list[str]:
    """``-c`` options that supply a committer identity only where the user has none."""
    options: list[str] = []
    for key, env, fallback in (
        ("user.name", ("GIT_AUTHOR_NAME", "GIT_COMMITTER_NAME"), FALLBACK_NAME),
        ("user.email", ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL", "EMAIL"), FALLBACK_EMAIL),
    ):
        if any(os.environ.get(e) for e in env):
            continue
        if run(cwd, "config", key, ok_codes=(0, 1)).returncode != 0:
            options += ["-c", f"{key}={fallback}"]
    return options


def init(root: Path, *, message: str) -> None:
    """One commit of everything on ``main``, and the vendor branch beside it."""
    run(root, "init", "--quiet", "--initial-branch", "main")
    run(root, "add", "--all")
    # Not signed and no hooks: this commit is the pristine rendering, made non-interactively.
    config = [*identity(root), "-c", "commit.gpgsign=false"]
    run(root, "commit", "--quiet", "--no-verify", "--message", message, config=config)
    # The pristine-template vendor branch that `add`/`update` merge from.
    run(root, "branch", TEMPLATE_BRANCH)
