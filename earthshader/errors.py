"""The package's one base for errors the user can fix (a missing model, recipe, dataset or picture).

    from earthshader.errors import UsageError

    class SourceError(UsageError, ValueError):
        \"\"\"A dataset that cannot be read; the message names it and what would be valid.\"\"\"

Any layer may raise one: this module is the lowest layer and imports nothing (docs/architecture.md).
An entry point run through `earthshader.cli.run_entry_point` ends with the message on one line and exit
status 2, never a traceback.
"""


class UsageError(Exception):
    """Input the user can fix (a missing model, recipe or dataset): the command ends with its message on
    one line and exit status 2 (`earthshader.cli.run_entry_point`), never a traceback. Errors of that kind
    derive from it."""
