"""Storage errors.

StorageError            anything the store cannot do, with a message fit for a user
 ├── NotFound           no such API key / room / call record
 ├── Conflict           the id or name is taken
 ├── Invalid            a value the store does not accept (room id format, call result)
 └── MasterKeyError     the master key is missing, malformed or not this database's
"""

from __future__ import annotations

__all__ = ["Conflict", "Invalid", "MasterKeyError", "NotFound", "StorageError"]


class StorageError(Exception):
    """The store could not do what was asked; the message says why."""


class NotFound(StorageError):
    """The API key, room or call record does not exist."""


class Conflict(StorageError):
    """The requested id is already taken."""


class Invalid(StorageError):
    """A value the store does not accept; the message says which and why."""


class MasterKeyError(StorageError):
    """The master key is unusable, or it is not the key this database was written with."""
