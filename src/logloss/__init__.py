"""logloss: exact, fast binary cross-entropy (log loss) for training and evaluation.

``import logloss`` needs only NumPy. File input, the command-line tool and the adapters for
other libraries import their optional dependencies when first used.
"""

from ._binned import BinnedDecompositionState
from ._bootstrap import BootstrapState
from ._decompose import Decomposition, decompose, decompose_with_logits
from ._gradient import (
    binary_cross_entropy_grad_hess,
    binary_cross_entropy_with_logits_grad_hess,
    boosting_objective,
)
from ._grouped import GroupedLogLossState
from ._intervals import Interval, Intervals, confidence_interval
from ._io import DataFileError, DataFileTypeError
from ._loss import binary_cross_entropy, binary_cross_entropy_with_logits
from ._paired import PairedComparison, PairedComparisonState
from ._plots import plot_loss_terms, plot_reliability_diagram, plot_segment_losses
from ._report import render_report, write_report, write_report_with_logits
from ._resample import bootstrap_weights
from ._score_file import score_file
from ._state import LogLossResult, LogLossState
from ._warnings import InfiniteLossWarning, LogLossWarning, LossOverflowWarning, UndefinedMetricWarning

__version__ = "0.1.0"

__all__ = [
    "BinnedDecompositionState",
    "BootstrapState",
    "DataFileError",
    "DataFileTypeError",
    "Decomposition",
    "GroupedLogLossState",
    "InfiniteLossWarning",
    "Interval",
    "Intervals",
    "LogLossResult",
    "LogLossState",
    "LogLossWarning",
    "LossOverflowWarning",
    "PairedComparison",
    "PairedComparisonState",
    "UndefinedMetricWarning",
    "binary_cross_entropy",
    "binary_cross_entropy_grad_hess",
    "binary_cross_entropy_with_logits",
    "binary_cross_entropy_with_logits_grad_hess",
    "boosting_objective",
    "bootstrap_weights",
    "confidence_interval",
    "decompose",
    "decompose_with_logits",
    "plot_loss_terms",
    "plot_reliability_diagram",
    "plot_segment_losses",
    "render_report",
    "score_file",
    "write_report",
    "write_report_with_logits",
]
