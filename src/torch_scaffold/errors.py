"""The only user-facing error type.

Every message is one line that says what is wrong and how to fix it; the CLI prints it as
``error: <message>`` and exits with ``exit_code``.
"""


class ScaffoldError(Exception):
    """A problem the user can fix; ``str(error)`` is the one-line message."""

    exit_code = 2


class InvalidName(ScaffoldError):
    """The project name cannot become an importable, non-shadowing package name."""


class DestinationExists(ScaffoldError):
    """The destination directory exists and is not empty."""


class BadDestination(ScaffoldError):
    """The destination cannot be created: under a file, too long a path, not writable."""


class UnknownTemplate(ScaffoldError):
    """No template of that name ships with torch-scaffold."""


class UnknownFeature(ScaffoldError):
    """A feature, answer or choice that the catalogue does not know."""


class ConflictingFeatures(ScaffoldError):
    """The selection breaks a ``requires`` or ``conflicts`` rule of the catalogue."""


class GitError(ScaffoldError):
    """git is missing or one of its commands failed."""


class TemplateError(ScaffoldError):
    """The template rendered files that are not lint-clean (a bug in torch-scaffold)."""


class NotAProject(ScaffoldError):
    """The folder is not a generated project, or its answers file is missing or corrupted."""


class FeaturePresent(ScaffoldError):
    """``add`` of a feature the project already has, or ``remove`` of one it lacks."""


class NothingToDo(ScaffoldError):
    """The new rendering equals the last one: the project is already there."""


class MergeConflict(ScaffoldError):
    """The merge left conflict markers for the user to resolve (not a failure of the tool)."""

    exit_code = 3
