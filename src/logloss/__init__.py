"""logloss: exact, fast binary cross-entropy (log loss) for training and evaluation.

``import logloss`` needs only NumPy. File input, the command-line tool and the adapters for
other libraries import their optional dependencies when first used.
"""

from ._io import DataFileError, DataFileTypeError
from ._gradient import (
    binary_cross_entropy_grad_hess,
    binary_cross_entropy_with_logits_grad_hess,
    boosting_objective,
)
from ._loss import binary_cross_entropy, binary_cross_entropy_with_logits
from ._score_file import score_file
from ._state import LogLossResult, LogLossState
from ._warnings import InfiniteLossWarning, LogLossWarning, UndefinedMetricWarning

__version__ = "0.1.0"

__all__ = [
    "DataFileError",
    "DataFileTypeError",
    "InfiniteLossWarning",
    "LogLossResult",
    "LogLossState",
    "LogLossWarning",
    "UndefinedMetricWarning",
    "binary_cross_entropy",
    "binary_cross_entropy_grad_hess",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad_hess",
    "boosting_objective",
    "score_file",
]
