"""Entry point of the ``logloss`` script: a clear message when the CLI's extra is missing."""

import sys

# How to install an optional extra. logloss is on no package index, so pip installs it
# from a local path, never by name.
EXTRA_HINT = (
    "install the `{extra}` extra: in a clone of logloss, run the command with "
    "`uv run --extra {extra} ...` (or run `uv sync --extra {extra}`); in another project, "
    "`pip install '/path/to/logloss[{extra}]'`"
)


def main(args=None) -> None:
    """Run the ``logloss`` command line, or exit with status 1 if click, rich or pyarrow is missing."""
    try:
        from .cli import main as cli_main
    except ImportError as error:
        print(f"logloss: error: {error}", file=sys.stderr)
        sys.exit(1)
    cli_main(args)
