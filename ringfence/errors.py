"""The exception hierarchy of ringfence.

Every error a user can cause derives from :class:`RingfenceError`; the CLI
turns each child into a one-line message and a distinct exit code.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "InputError",
    "ModelError",
    "RingfenceError",
    "StoreError",
]


class RingfenceError(Exception):
    """Base class of every error ringfence raises on purpose."""

    exit_code = 1


class ConfigError(RingfenceError):
    """A setting is missing or invalid (config file, flag or environment)."""

    exit_code = 2


class InputError(RingfenceError):
    """An input file cannot be used: unreadable, wrong columns, too many rejects."""

    exit_code = 3


class StoreError(RingfenceError):
    """The graph store failed.

    Args:
        message: What failed and what to do about it.
        retryable: True when repeating the same call may succeed (a server
            restarting, a lock held by another writer).
    """

    exit_code = 4

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable

    def is_retryable(self) -> bool:
        """Whether repeating the failed call may succeed."""
        return self.retryable


class ModelError(RingfenceError):
    """A trained model cannot be used (missing, or its schema does not match)."""

    exit_code = 5
