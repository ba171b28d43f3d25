"""``scaffold`` and ``python -m torch_scaffold``: the CLI, with a Ctrl-C while it starts up
(importing Typer and the catalogue) reported as one line, like every other error."""

import sys


def main() -> None:
    try:
        from torch_scaffold.cli import app
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        sys.exit(130)
    app(prog_name="scaffold")


if __name__ == "__main__":
    main()
