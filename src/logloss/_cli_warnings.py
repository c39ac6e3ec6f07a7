"""Warnings that ``logloss score`` prints: library warnings reworded for the command line.

The library's warnings name Python arguments (``clip``, ``clip=``), and those of the
evaluation states speak of probabilities. On the command line the option is ``--clip``,
and it applies to ``--prob`` only, so a run on logits gets advice about infinite logits
instead.
"""

from __future__ import annotations

__all__ = ["REPORT_INFINITE_LOSS_ADVICE", "cli_warning"]

# Library phrase -> the command line's phrase, for each scale of the prediction column.
_REWORDINGS = {
    "prob": {
        "Pass clip to the state to bound the loss": "Pass --clip EPS to bound the loss",
        "(pass clip to bound them)": "(pass --clip EPS to bound them)",
        "Pass clip= to bound the loss": "Pass --clip EPS to bound the loss",
    },
    "logit": {
        "Pass clip to the state to bound the loss": (
            "An infinite logit of the wrong sign gives an infinite loss, and --clip applies "
            "to --prob only, so check the infinite logits"
        ),
        "(pass clip to bound them)": "(from infinite logits of the wrong sign, which are never clipped)",
    },
}


def cli_warning(message: str, scale: str) -> str:
    """Return a library warning's `message` worded for a run on `scale` ("prob" or "logit")."""
    for library_text, cli_text in _REWORDINGS[scale].items():
        message = message.replace(library_text, cli_text)
    return message


# The advice that ends the `logloss report` page's note on rows with an infinite loss, by
# scale of the prediction column. The command has no clipping option.
REPORT_INFINITE_LOSS_ADVICE = {
    "prob": (
        "logloss report has no clipping option, so check those predictions, or clip them "
        "to [EPS, 1 - EPS] in the file before the report. logloss score --clip EPS gives "
        "the figures with each row's loss bounded by -log(EPS)."
    ),
    "logit": (
        "logloss report has no clipping option, and logloss score --clip applies to --prob "
        "only, so check those logits, or clip them to a finite range in the file before the "
        "report."
    ),
}
