"""add / remove / update: a 3-way merge of a new pristine rendering into the user's project.

``scaffold new`` commits the pristine rendering on ``main`` and on the branch
``scaffold/template`` (a git *vendor branch*). A change renders the project again, with new
answers (add, remove) or the installed template (update), commits that tree with git plumbing
(a temporary index, ``write-tree``, ``commit-tree``) on top of the *base*, and merges that
commit into the user's branch with ``git merge --no-ff --no-commit``. Git keeps every hand edit
that does not overlap the change, writes standard conflict markers where one does, and
``git merge --abort`` undoes it all.

The base is the newest pristine commit that the user's branch has really merged, found from
``HEAD`` every time: the branch tip when nothing was merged since, else the newest pristine
commit (marked by a ``Scaffold-Template:`` trailer) between the tip and ``HEAD``. No ref moves
before the user commits the merge, so a failed, aborted or killed change leaves nothing behind
and the same command works again; the next change moves ``scaffold/template`` up to the base.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from torch_scaffold import __version__, features, render, scratch
from torch_scaffold import git as gitops
from torch_scaffold.errors import GitError, MergeConflict, NotAProject, NothingToDo

BRANCH = gitops.TEMPLATE_BRANCH
REF = f"refs/heads/{BRANCH}"
# The trailer that marks a pristine rendering, so the base can be found from HEAD.
TRAILER = "Scaffold-Template"


@dataclass
class MergeResult:
    """What a change did (or, with dry_run, would do) to the project."""

    changed: list[str]  # paths the merge changes
    conflicts: list[str] = field(default_factory=list)  # paths left with conflict markers
    diff: str = ""  # dry run: the unified diff that would be applied
    up_to_date: bool = False  # update: the project already has this template


def read_project(project: Path, rev: str | None = None, good: str = "HEAD") -> dict[str, object]:
    """The answers recorded in the project (at commit ``rev``, else on disk), checked; the
    message of a bad file says to restore it from commit ``good``."""
    if rev is None:
        return render.read_answers(project, restore_from=good)
    shown = gitops.run(project, "show", f"{rev}:{render.ANSWERS_FILE}", ok_codes=(0, 128))
    if shown.returncode:
        raise NotAProject(f"{render.ANSWERS_FILE} is not committed at {rev}; commit it first")
    return render.read_answers(project, text=shown.stdout, restore_from=good)


def _selections(answers: Mapping[str, object]) -> dict[str, object]:
    """The catalogue answers alone, completed with the defaults of features added since."""
    keys = set(features.defaults())
    return features.resolve({k: v for k, v in answers.items() if k in keys})


def _check_repository(project: Path) -> str:
    """The commit of a merge in progress ('' if none); refuse what a merge cannot start from."""
    found = gitops.run(project, "rev-parse", "--show-toplevel", ok_codes=(0, 128))
    if found.returncode:
        raise NotAProject(
            f"{project} is not a git repository: scaffold merges its changes with git; "
            "run 'git init && git add -A && git commit' there first"
        )
    top = found.stdout.strip()
    if Path(top).resolve() != project.resolve():
        raise NotAProject(f"{project} is inside the git repository {top}; run scaffold from {top}")
    merging = gitops.run(project, "rev-parse", "-q", "--verify", "MERGE_HEAD", ok_codes=(0, 1))
    if merging.stdout.strip():
        return merging.stdout.strip()
    if gitops.out(project, "status", "--porcelain", "--untracked-files=no"):
        raise NotAProject(
            "the project has uncommitted changes: commit or stash them first, so the merge "
            "can be reviewed and undone on its own"
        )
    return ""


def _commit_of(project: Path, ref: str) -> str:
    """The commit ``ref`` names, or '' if none."""
    found = gitops.run(project, "rev-parse", "-q", "--verify", f"{ref}^{{commit}}", ok_codes=(0, 1))
    return found.stdout.strip()


def _template_tip(project: Path) -> str:
    """The tip of the template branch, local or (in a fresh clone) the remote one."""
    for ref in (REF, f"refs/remotes/origin/{BRANCH}"):
        tip = _commit_of(project, ref)
        if tip:
            return tip
    raise NotAProject(
        f"the project has no '{BRANCH}' branch (the pristine template that scaffold merges "
        f"from); fetch it with 'git fetch origin {BRANCH}:{BRANCH}'"
    )


def _merged_base(project: Path, tip: str) -> str:
    """The newest pristine rendering that HEAD has merged: what the next change starts from."""
    # The tip itself, unless HEAD was reset behind it (or an older scaffold moved it before a
    # merge that was then undone): then the last rendering both have.
    start = gitops.run(project, "merge-base", tip, "HEAD", ok_codes=(0, 1)).stdout.strip()
    if not start:
        raise NotAProject(f"the project's branch shares no history with '{BRANCH}'")
    newer = gitops.out(
        project,
        "rev-list",
        "--topo-order",
        "--ancestry-path",
        f"--grep=^{TRAILER}: ",
        f"{start}..HEAD",
    ).split()
    return newer[0] if newer else start


def _check_answers(project: Path, answers: Mapping[str, object], base: str) -> None:
    """The answers file must be the one scaffold last merged: scaffold records it itself."""
    merged = read_project(project, base)
    if merged != answers:
        edited = [k for k in sorted({*answers, *merged}) if answers.get(k) != merged.get(k)]
        raise NotAProject(
            f"{render.ANSWERS_FILE} was edited by hand ({', '.join(edited)}); scaffold keeps it "
            f"itself: undo that with 'git checkout {base[:12]} -- {render.ANSWERS_FILE}' and "
            "commit, then use 'scaffold add' or 'scaffold remove'"
        )


def _render_tree(project: Path, answers: Mapping[str, object]) -> str:
    """Render ``answers`` and store the files in git: the id of the pristine tree."""
    with scratch.temp_dir(None, "scaffold-merge-") as tmp:
        tree_dir, index = tmp / "tree", tmp / "index"
        names = {"project_name": answers["project_name"], "package_name": answers["package_name"]}
        render.render(
            tree_dir, template=str(answers["_template"]), answers={**names, **_selections(answers)}
        )
        env = {"GIT_INDEX_FILE": str(index)}
        gitops.run(project, "--work-tree", str(tree_dir), "add", "--all", env=env)
        return gitops.out(project, "write-tree", env=env)


def _pristine_commit(project: Path, tree: str, base: str, message: str, template: str) -> str:
    """A commit of ``tree`` on top of ``base``, marked as a pristine rendering (no ref moves)."""
    body = f"{message}\n\n{TRAILER}: {template} {__version__}\n"
    return gitops.out(
        project,
        "commit-tree",
        "--no-gpg-sign",
        tree,
        "-p",
        base,
        "-m",
        body,
        config=gitops.identity(project),
    )


def _check_in_the_way(project: Path, base: str, commit: str) -> None:
    """Refuse, naming them, untracked files where the change writes (git would stop half-way)."""
    tracked = set(gitops.out(project, "ls-files", "-z").split("\0"))
    written = gitops.out(
        project, "diff", "--name-only", "--no-renames", "--diff-filter=d", base, commit
    ).splitlines()
    blocked = []
    for path in written:
        parts = Path(path).parts
        for depth in range(1, len(parts) + 1):
            here = "/".join(parts[:depth])
            last = depth == len(parts)
            if os.path.lexists(project / here) and here not in tracked:
                if last or not (project / here).is_dir():
                    blocked.append(here)
                    break
    if blocked:
        names = ", ".join(sorted(set(blocked)))
        raise NotAProject(
            f"the change writes {names}, in the way as untracked: move it away or commit it, "
            "then run this again"
        )


@contextmanager
def _uninterrupted() -> Iterator[None]:
    """Ctrl-C waits for the block: a merge cut half-way would leave a half-merged tree."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _conflict_message(project: Path, conflicts: list[str]) -> str:
    status = {
        line[3:]: line[:2]
        for line in gitops.run(project, "status", "--porcelain").stdout.split("\n")
    }
    notes = {
        "DU": "you deleted it; the change needs it",
        "UD": "the change deletes it; you edited it",
    }
    named = [f"{p} ({notes[status[p]]})" if status.get(p) in notes else p for p in conflicts]
    marked = [p for p in conflicts if status.get(p) not in notes]
    steps = []
    if marked:
        steps.append(f"resolve the <<<<<<< markers in {', '.join(marked)}")
    if len(marked) < len(conflicts):
        steps.append("'git add' (keep) or 'git rm' (delete) each file named with a deletion")
    return (
        f"conflicts in {', '.join(named)}: {'; '.join(steps)}; then 'git commit', "
        "or undo all with 'git merge --abort'"
    )


def _report(project: Path) -> MergeResult:
    """The merge in progress: what it changes; ``MergeConflict`` when files need resolving."""
    conflicts = gitops.out(project, "diff", "--name-only", "--diff-filter=U").split("\n")
    conflicts = [path for path in conflicts if path]
    if conflicts:
        raise MergeConflict(_conflict_message(project, conflicts))
    return MergeResult(changed=gitops.out(project, "diff", "--name-only", "HEAD").split())


def _dry_run(project: Path, commit: str) -> MergeResult:
    # merge-tree computes the merge, conflicts and all, without touching a file or ref.
    merged = gitops.run(
        project, "merge-tree", "--write-tree", "--name-only", "HEAD", commit, ok_codes=(0, 1)
    )
    tree, _, rest = merged.stdout.partition("\n")
    conflicts = sorted(set(rest.split("\n\n")[0].split())) if merged.returncode else []
    diff = gitops.run(project, "diff", "HEAD", tree).stdout
    changed = gitops.out(project, "diff", "--name-only", "HEAD", tree).split()
    return MergeResult(changed=changed, conflicts=conflicts, diff=diff)


def _merge(project: Path, base: str, commit: str, message: str) -> MergeResult:
    """Move the branch up to the base (what HEAD has merged), then merge the new rendering."""
    if _commit_of(project, REF) != base:
        gitops.run(project, "update-ref", REF, base)
    with _uninterrupted():
        merged = gitops.run(
            project,
            "merge",
            "--no-ff",
            "--no-commit",
            "-m",
            message,
            commit,
            config=gitops.identity(project),
            ok_codes=(0, 1),
        )
    if not _commit_of(project, "MERGE_HEAD"):
        detail = (merged.stderr.strip() or merged.stdout.strip()).splitlines() or ["no merge"]
        raise NotAProject(f"'git merge' did not start: {detail[-1]}")
    try:
        return _report(project)
    except GitError as error:
        raise GitError(f"merged and left for review ('git status'), but then {error}") from None


def _apply(
    project: Path,
    new_answers: Callable[[dict[str, object]], dict[str, object]],
    message: Callable[[dict[str, object]], str],
    *,
    dry_run: bool,
    update: bool = False,
) -> MergeResult:
    """The steps every change shares; ``new_answers`` maps the recorded answers to the new."""
    project = Path(project).absolute()
    if not (project / render.ANSWERS_FILE).is_file():
        read_project(project)  # not a project at all: say so before anything about git
    merging = _check_repository(project)
    base = _merged_base(project, _template_tip(project))
    # A bad answers file is restored from the last rendering the project merged.
    answers = read_project(project, "HEAD", good=base[:12])
    target = new_answers(answers)
    if not merging:
        _check_answers(project, answers, base)
    tree = _render_tree(project, target)
    if merging:
        # An earlier run of this same change was cut off after git merged: report that merge.
        if gitops.out(project, "rev-parse", f"{merging}^{{tree}}") == tree:
            return _report(project)
        raise NotAProject(
            "a merge is in progress: finish it with 'git commit' or undo it with "
            "'git merge --abort', then run this again"
        )
    if tree == gitops.out(project, "rev-parse", f"{base}^{{tree}}"):
        if update:
            return MergeResult(changed=[], up_to_date=True)
        raise NothingToDo("nothing to change: the project's template already matches")
    commit = _pristine_commit(project, tree, base, message(answers), str(target["_template"]))
    if dry_run:
        return _dry_run(project, commit)
    _check_in_the_way(project, base, commit)
    return _merge(project, base, commit, message(answers))


def add_feature(
    project: Path,
    *,
    kind: str,
    name: str,
    params: Mapping[str, object] | None = None,
    dry_run: bool = False,
) -> MergeResult:
    """Add one catalogue entry (with its options, e.g. {"patience": 5}) to a generated,
    hand-edited project."""
    return _change(project, kind=kind, name=name, on=True, params=params, dry_run=dry_run)


def remove_feature(project: Path, *, kind: str, name: str, dry_run: bool = False) -> MergeResult:
    """Remove one catalogue entry, by the same merge."""
    return _change(project, kind=kind, name=name, on=False, params=None, dry_run=dry_run)


def _change(
    project: Path,
    *,
    kind: str,
    name: str,
    on: bool,
    params: Mapping[str, object] | None,
    dry_run: bool,
) -> MergeResult:
    def new_answers(answers: dict[str, object]) -> dict[str, object]:
        selections = features.change(_selections(answers), kind, name, on=on, params=params)
        return {**answers, **selections}

    message = f"scaffold: {'add' if on else 'remove'} {kind} {name}"
    return _apply(project, new_answers, lambda _: message, dry_run=dry_run)


def update_project(project: Path, *, dry_run: bool = False) -> MergeResult:
    """Bring the project to the installed torch-scaffold's template, keeping hand edits."""

    def message(answers: dict[str, object]) -> str:
        return f"scaffold: update from {answers['_scaffold_version']} to {__version__}"

    return _apply(project, dict, message, dry_run=dry_run, update=True)
