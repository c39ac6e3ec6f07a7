"""Warning categories that logloss emits."""

__all__ = ["InfiniteLossWarning", "LogLossWarning", "LossOverflowWarning", "UndefinedMetricWarning"]


class LogLossWarning(UserWarning):
    """Base class of every warning that logloss emits."""


class InfiniteLossWarning(LogLossWarning):
    """A prediction gave an infinite loss: probability 0 for a positive or 1 for a negative."""


class UndefinedMetricWarning(LogLossWarning):
    """A figure is undefined for the data given (no rows, zero total weight, a single class)."""


class LossOverflowWarning(LogLossWarning):
    """A sum of finite losses lies beyond the float range, so a figure built from it is inf or NaN.

    No loss is infinite: the losses are finite but so large (logits beyond about 1e154, or
    large weights) that their sum, or the sum of their squares, exceeds the largest float.
    """
