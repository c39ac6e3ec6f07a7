"""Warning categories that logloss emits."""

__all__ = ["InfiniteLossWarning", "LogLossWarning", "UndefinedMetricWarning"]


class LogLossWarning(UserWarning):
    """Base class of every warning that logloss emits."""


class InfiniteLossWarning(LogLossWarning):
    """A prediction gave an infinite loss: probability 0 for a positive or 1 for a negative."""


class UndefinedMetricWarning(LogLossWarning):
    """A figure is undefined for the data given (no rows, zero total weight, a single class)."""
