"""The ``scaffold`` command: parse, call the API in ``render``, print one line per error.

The options of ``scaffold new`` that select features are generated from the catalogue in
``features``. ``render`` (and through it copier) is imported inside the commands so that
``scaffold --help`` stays fast.
"""

import inspect
import sys
from pathlib import Path
from typing import Annotated

import typer

from torch_scaffold import __version__, features
from torch_scaffold.errors import ScaffoldError

INTERRUPTED_EXIT_CODE = 130


def _fail(message: str, code: int) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(code)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _option_annotation(option: features.Option) -> object:
    if option.type == "bool":
        return Annotated[
            bool | None,
            typer.Option(
                f"{option.flag}/--no-{option.flag[2:]}",
                help=f"{option.help} (default: {'on' if option.default else 'off'})",
                show_default=False,
                rich_help_panel="Features (see 'scaffold features')",
            ),
        ]
    if option.type == "multi":
        default = ",".join(option.default) or "none"  # type: ignore[arg-type]
    else:
        default = str(option.default)
    return Annotated[
        str | None,
        typer.Option(
            option.flag,
            help=f"{option.help} (default: {default})",
            metavar="LIST" if option.type == "multi" else "NAME",
            show_default=False,
            rich_help_panel="Features (see 'scaffold features')",
        ),
    ]


def _prompt(option: features.Option) -> object:
    """Ask for one option until the answer is valid."""
    title = features.KINDS[option.kind].title
    if features.KINDS[option.kind].style == "each":  # one entry: name it, e.g. "amp"
        title = option.entries[0].name
    if option.type == "bool":
        return typer.confirm(f"{option.entries[0].name}: {option.help}?", default=option.default)
    if option.type == "multi":
        text = f"{title}s, comma-separated ({', '.join(option.choices)}, or none)"
        default = ",".join(option.default) or "none"  # type: ignore[arg-type]
    else:
        text = f"{title} ({' | '.join(option.choices)})"
        default = str(option.default)
    while True:
        value = typer.prompt(text, default=default)
        try:
            features.resolve({option.answer: value})
        except ScaffoldError as error:
            typer.secho(f"error: {error}", fg="red", err=True)
            continue
        return value


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
            "  pip install -e .",
            f"  python -m {package}.train",
            "  pytest",
        ]
    )


def _new_command(options: list[features.Option]):
    """Build ``scaffold new`` with one option per catalogue option."""
    fixed = {"name", "dest", "template", "yes", "no_git"}
    clash = fixed & {o.param for o in options}
    if clash:
        raise ValueError(f"catalogue options clash with fixed options of 'new': {clash}")

    def new(**kwargs: object) -> None:
        """Generate a new project NAME (in ./NAME unless --dest is given)."""
        from torch_scaffold import render

        name = str(kwargs.pop("name"))
        dest = kwargs.pop("dest")
        template = str(kwargs.pop("template"))
        yes = bool(kwargs.pop("yes"))
        git = not kwargs.pop("no_git")
        dst = Path(dest if dest is not None else name).absolute()  # type: ignore[arg-type]
        try:
            _, package = render.validate_name(name)
            render.template_path(template)
            render.check_destination(dst)
            selections = {o.answer: kwargs[o.param] for o in options}
            features.resolve(selections)  # fail before asking anything
            if not yes and _interactive():
                for o in options:
                    if selections[o.answer] is None:
                        selections[o.answer] = _prompt(o)
            project = render.create_project(
                dst,
                template=template,
                answers={"project_name": name, **selections},
                git=git,
            )
        except ScaffoldError as error:
            raise _fail(str(error), error.exit_code) from None
        except (KeyboardInterrupt, typer.Abort):
            raise _fail("interrupted; nothing was written", INTERRUPTED_EXIT_CODE) from None
        typer.echo(_next_steps(project, package))

    parameters = [
        inspect.Parameter(
            "name",
            inspect.Parameter.KEYWORD_ONLY,
            annotation=Annotated[
                str,
                typer.Argument(help="project name, e.g. my-project (package: my_project)"),
            ],
        ),
        inspect.Parameter(
            "dest",
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[
                Path | None,
                typer.Option(
                    "--dest",
                    help="project directory; must not exist or be empty (default: ./NAME)",
                    show_default=False,
                    file_okay=False,
                ),
            ],
        ),
        inspect.Parameter(
            "template",
            inspect.Parameter.KEYWORD_ONLY,
            default="classifier",
            annotation=Annotated[str, typer.Option("--template", help="template to render")],
        ),
        *(
            inspect.Parameter(
                o.param,
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=_option_annotation(o),
            )
            for o in options
        ),
        inspect.Parameter(
            "yes",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[
                bool,
                typer.Option("--yes", "-y", help="do not prompt; use defaults for unset options"),
            ],
        ),
        inspect.Parameter(
            "no_git",
            inspect.Parameter.KEYWORD_ONLY,
            default=False,
            annotation=Annotated[
                bool,
                typer.Option("--no-git", help="do not create a git repository"),
            ],
        ),
    ]
    new.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    new.__annotations__ = {p.name: p.annotation for p in parameters}
    return new


def features_table(options: list[features.Option] | None = None) -> str:
    """Every catalogue entry as aligned plain text."""
    rows = [("NAME", "KIND", "FLAG", "DEFAULT", "ADDS", "REQUIRES/CONFLICTS")]
    for option in options if options is not None else features.options():
        for entry in option.entries:
            if option.type == "bool":
                flag = f"{option.flag}/--no-{option.flag[2:]}"
                default = "on" if entry.default else "off"
            elif entry.choices:
                flag = f"{option.flag} {'|'.join(entry.choices)}"
                default = str(entry.default)
            else:
                flag = f"{option.flag} {entry.name}"
                default = "yes" if entry.default else ""
            rules = [f"requires {r}" for r in entry.requires]
            rules += [f"conflicts {c}" for c in entry.conflicts]
            adds = entry.help
            if entry.params:  # the options 'scaffold add' takes for this feature
                adds += f" [options: {' '.join(f'--{p.name}' for p in entry.params)}]"
            rows.append((entry.name, entry.kind, flag, default, adds, ", ".join(rules) or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(w) for cell, w in zip(row, widths, strict=False)), row[-1]]
        ).rstrip()
        for row in rows
    )


def _version(value: bool) -> None:
    if value:
        typer.echo(f"torch-scaffold {__version__}")
        raise typer.Exit()


def make_app() -> typer.Typer:
    """Build the Typer app from the current catalogue (tests rebuild it after patching)."""
    app = typer.Typer(
        name="scaffold",
        help="Generate a PyTorch project whose train.py is the loop.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback()
    def main(
        version: Annotated[
            bool,
            typer.Option(
                "--version",
                callback=_version,
                is_eager=True,
                help="Show the version and exit.",
            ),
        ] = False,
    ) -> None:
        """Generate a PyTorch project whose train.py is the loop."""

    options = features.options()
    app.command("new", no_args_is_help=True)(_new_command(options))

    @app.command("features")
    def features_command() -> None:
        """List every feature of the catalogue and the flag that selects it."""
        typer.echo(features_table(options))

    kinds = ", ".join(dict.fromkeys(f.kind for f in features.CATALOGUE))

    # The added feature's own options (--patience 5) are parsed from the extra arguments.
    extra = {"allow_extra_args": True, "ignore_unknown_options": True}

    @app.command("add", no_args_is_help=True, context_settings=extra)
    def add(
        ctx: typer.Context,
        kind: Annotated[str, typer.Argument(help=f"one of: {kinds}")],
        name: Annotated[str, typer.Argument(help="a name from 'scaffold features' (amp=fp16)")],
        project: ProjectOption = Path("."),
        dry_run: DryRunOption = False,
    ) -> None:
        """Add a feature to a generated project by a 3-way merge that keeps your edits.

        Options of the feature follow as flags, e.g.
        'scaffold add callback early-stopping --patience 5 --monitor val/acc --mode max'.
        """
        params = _feature_options(ctx.args)
        _merge("add", project, dry_run, kind=kind, name=name, params=params)

    @app.command("remove", no_args_is_help=True)
    def remove(
        kind: Annotated[str, typer.Argument(help=f"one of: {kinds}")],
        name: Annotated[str, typer.Argument(help="a name from 'scaffold features'")],
        project: ProjectOption = Path("."),
        dry_run: DryRunOption = False,
    ) -> None:
        """Remove a feature from a generated project by the same merge."""
        _merge("remove", project, dry_run, kind=kind, name=name)

    @app.command("update")
    def update(project: ProjectOption = Path("."), dry_run: DryRunOption = False) -> None:
        """Bring a generated project to this version's template, keeping your edits."""
        _merge("update", project, dry_run)

    return app


ProjectOption = Annotated[
    Path, typer.Option("--project", help="the generated project (default: this folder)")
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="print the diff that would be applied; change nothing")
]


def _feature_options(args: list[str]) -> dict[str, str]:
    """['--patience', '5', '--mode=max'] -> {'patience': '5', 'mode': 'max'}."""
    options: dict[str, str] = {}
    words = iter(args)
    for word in words:
        if not word.startswith("--"):
            raise _fail(f"unexpected argument {word!r}; feature options look like --patience 5", 2)
        key, equals, value = word[2:].partition("=")
        if not equals:
            value = next(words, None)
            if value is None:
                raise _fail(f"--{key} needs a value, e.g. --{key} 5", 2)
        options[key] = value
    return options


def _merge(action: str, project: Path, dry_run: bool, **change: object) -> None:
    """Run add / remove / update and report: the changed files, or the conflicts (exit 3)."""
    from torch_scaffold import merge

    run = {
        "add": merge.add_feature,
        "remove": merge.remove_feature,
        "update": merge.update_project,
    }[action]
    try:
        result = run(project, dry_run=dry_run, **change)
    except ScaffoldError as error:
        raise _fail(str(error), error.exit_code) from None
    except KeyboardInterrupt:
        raise _fail("interrupted", INTERRUPTED_EXIT_CODE) from None
    if dry_run:
        typer.echo(result.diff, nl=False)
        if result.conflicts:
            typer.echo(f"would conflict in: {', '.join(result.conflicts)}", err=True)
        return
    typer.echo(f"merged into {project}, left uncommitted for review:")
    for path in result.changed:
        typer.echo(f"  {path}")
    typer.echo(
        "review with 'git diff --cached', keep with 'git commit', undo with 'git merge --abort'"
    )


app = make_app()
