"""The ``scaffold`` command: a mapping from arguments to the keyword-only API.

``new`` calls ``render.create_project``; ``add`` / ``remove`` / ``update`` call ``merge``. Every
error is one line on stderr, ``error: <message>``, with exit code 2 (3: merge conflicts, 130:
Ctrl-C): ``ScaffoldError``, ``OSError`` on the destination, and Click's usage errors
(``OneLineErrors``). The flags of ``new`` that select features come from the catalogue
(``features.current()``). ``render`` and ``merge`` (and through them copier) are imported
inside the commands so that ``scaffold --help`` stays fast.
"""

import inspect
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from torch_scaffold import __version__, features, tables
from torch_scaffold.errors import ScaffoldError
from torch_scaffold.options import Option
from torch_scaffold.schema import parse_params

USAGE_EXIT_CODE = 2
INTERRUPTED_EXIT_CODE = 130
FEATURES_PANEL = "Features (see 'scaffold features')"
# The Click that Typer parses with (recent Typers vendor their own copy): its exceptions.
CLICK = sys.modules[typer.BadParameter.__module__]
NO_ARGS_IS_HELP = getattr(CLICK, "NoArgsIsHelpError", ())


def _error(message: str) -> None:
    typer.secho(f"error: {' '.join(message.split())}", fg="red", err=True)


def _fail(message: str, code: int) -> typer.Exit:
    _error(message)
    return typer.Exit(code)


class OneLineErrors(TyperGroup):
    """Click's usage errors (unknown flag, extra argument, missing value) as our one line."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except NO_ARGS_IS_HELP as error:  # 'scaffold new': its help
            typer.echo(error.ctx.get_help() if error.ctx else error.format_message())
            code = 0
        except CLICK.ClickException as error:
            path = error.ctx.command_path if getattr(error, "ctx", None) else "scaffold"
            _error(f"{error.format_message()} (see '{path} --help')")
            code = error.exit_code
        except typer.Abort:
            _error("interrupted")
            code = INTERRUPTED_EXIT_CODE
        if not standalone_mode:
            return code
        sys.exit(code or 0)


@contextmanager
def _one_line(interrupted: str = "interrupted", creating: Path | None = None) -> Iterator[None]:
    """Report a ScaffoldError, an OSError (while ``creating`` a project) or a Ctrl-C as one
    line and exit."""
    try:
        yield
    except ScaffoldError as error:
        raise _fail(str(error), error.exit_code) from None
    except OSError as error:
        reason = error.strerror or str(error)
        if creating is not None:
            message = f"cannot create {_short(creating)}: {reason}; choose another --dest"
        else:
            message = f"{_short(error.filename)}: {reason}" if error.filename else reason
        raise _fail(message, USAGE_EXIT_CODE) from None
    except (KeyboardInterrupt, typer.Abort):
        raise _fail(interrupted, INTERRUPTED_EXIT_CODE) from None


def _short(path: object, limit: int = 80) -> str:
    text = str(path)
    return text if len(text) <= limit else f"{text[: limit // 2]}...{text[-limit // 3 :]}"


def _interactive() -> bool:
    return sys.stdin.isatty()


class _Terminal:
    """The questionnaire's prompts (options.Ui)."""

    def prompt(self, text: str, default: str) -> str:
        return typer.prompt(text, default=default)

    def confirm(self, text: str, default: bool) -> bool:
        return typer.confirm(text, default=default)

    def error(self, message: str) -> None:
        _error(message)


def _next_steps(project: Path, package: str) -> str:
    try:
        shown = project.relative_to(Path.cwd())
    except ValueError:
        shown = project
    return "\n".join(
        [
            f"Created {project}",
            "Next:",
            f"  cd {shown}",
            "  pip install -e '.[dev]'",
            f"  python -m {package}.train",
            "  pytest",
        ]
    )


def new(
    name: Annotated[
        str, typer.Argument(help="project name, e.g. my-project (package: my_project)")
    ],
    dest: Annotated[
        Path | None,
        typer.Option(
            help="project directory; must not exist or be empty (default: ./NAME)",
            show_default=False,
        ),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="do not prompt; use defaults for unset options")
    ] = False,
    no_git: Annotated[
        bool, typer.Option("--no-git", help="do not create a git repository")
    ] = False,
    **selections: object,  # one per catalogue option: see _with_catalogue_options
) -> None:
    """Generate a new project NAME (in ./NAME unless --dest is given)."""
    from torch_scaffold import render

    catalogue = features.current()
    dst = Path(dest if dest is not None else name).absolute()
    with _one_line("interrupted; nothing was written", creating=dst):
        _, package = render.validate_name(name)
        render.check_destination(dst)
        given = {o.answer: selections[o.param] for o in catalogue.options}
        given = {key: value for key, value in given.items() if value is not None}
        if not yes and _interactive():
            given = catalogue.ask(given, _Terminal())
        answers = {"project_name": name, **given}
        project = render.create_project(dst, answers=answers, git=not no_git)
    typer.echo(_next_steps(project, package))


def _with_catalogue_options(command: Callable[..., None], options: list[Option]) -> Callable:
    """``command`` with its ``**selections`` replaced by one keyword-only parameter per
    catalogue option, so that Typer makes a flag of each (``--data``, ``--gpus/--no-gpus``)."""
    signature = inspect.signature(command)
    fixed = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    clash = {p.name for p in fixed} & {o.param for o in options}
    if clash:
        raise ValueError(f"catalogue options clash with fixed options of 'new': {clash}")
    extra = [
        inspect.Parameter(o.param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=a)
        for o, a in ((o, _annotation(o)) for o in options)
    ]
    parameters = [*fixed, *extra]

    def wrapper(**kwargs: object) -> None:
        command(**kwargs)

    wrapper.__doc__ = command.__doc__
    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper


def _annotation(option: Option) -> object:
    help_ = f"{option.help} (default: {option.default_text()})"
    info = typer.Option(
        *option.decls(),
        help=help_,
        metavar=option.metavar,
        show_default=False,
        rich_help_panel=FEATURES_PANEL,
    )
    return Annotated[option.python_type | None, info]


def _version(value: bool) -> None:
    if value:
        typer.echo(f"torch-scaffold {__version__}")
        raise typer.Exit()


def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Generate a PyTorch project whose train.py is the loop."""


def features_command() -> None:
    """List every feature of the catalogue and the flag that selects it."""
    typer.echo(tables.text_table(features.current()))


ProjectOption = Annotated[
    Path, typer.Option("--project", help="the generated project (default: this folder)")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="print the diff that would be applied; change nothing")
]
KindArgument = Annotated[str, typer.Argument(help="a kind from 'scaffold features'")]


def add(
    ctx: typer.Context,
    kind: KindArgument,
    name: Annotated[str, typer.Argument(help="a name from 'scaffold features' (amp=fp16)")],
    project: ProjectOption = Path("."),
    dry_run: DryRunOption = False,
) -> None:
    """Add a feature to a generated project by a 3-way merge that keeps your edits.

    Options of the feature follow as flags, e.g.
    'scaffold add callback early-stopping --patience 5 --monitor val/acc --mode max'.
    """
    with _one_line():
        params = parse_params(ctx.args)
    _merge("add", project, dry_run, kind=kind, name=name, params=params)


def remove(
    kind: KindArgument,
    name: Annotated[str, typer.Argument(help="a name from 'scaffold features'")],
    project: ProjectOption = Path("."),
    dry_run: DryRunOption = False,
) -> None:
    """Remove a feature from a generated project by the same merge."""
    _merge("remove", project, dry_run, kind=kind, name=name)


def update(project: ProjectOption = Path("."), dry_run: DryRunOption = False) -> None:
    """Bring a generated project to this version's template, keeping your edits."""
    _merge("update", project, dry_run)


def _merge(action: str, project: Path, dry_run: bool, **change: object) -> None:
    """Run add / remove / update and report: the changed files, or the conflicts (exit 3)."""
    from torch_scaffold import merge

    run = {"add": merge.add_feature, "remove": merge.remove_feature}.get(action)
    with _one_line():
        result = (run or merge.update_project)(project, dry_run=dry_run, **change)
    if result.up_to_date:
        typer.echo("already up to date")
    elif dry_run:
        typer.echo(result.diff, nl=False)
        if result.conflicts:
            typer.echo(f"would conflict in: {', '.join(result.conflicts)}", err=True)
    else:
        typer.echo(f"merged into {project}, left uncommitted for review:")
        typer.echo("".join(f"  {path}\n" for path in result.changed), nl=False)
        typer.echo(
            "review with 'git diff --cached', keep with 'git commit', undo with 'git merge --abort'"
        )


def make_app() -> typer.Typer:
    """Build the Typer app from the current catalogue (tests rebuild it after patching)."""
    app = typer.Typer(
        name="scaffold",
        cls=OneLineErrors,
        help="Generate a PyTorch project whose train.py is the loop.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    app.callback()(_root)
    app.command("new", no_args_is_help=True)(
        _with_catalogue_options(new, features.current().options)
    )
    app.command("features")(features_command)
    # The added feature's own options (--patience 5) are parsed from the extra arguments.
    extra = {"allow_extra_args": True, "ignore_unknown_options": True}
    app.command("add", no_args_is_help=True, context_settings=extra)(add)
    app.command("remove", no_args_is_help=True)(remove)
    app.command("update")(update)
    return app


app = make_app()
