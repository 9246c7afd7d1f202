"""Errors of the codecs.

::

    CodecError    a payload a codec cannot decode, PCM it cannot encode, or a codec
                  or codec library that is not available
"""

from __future__ import annotations

__all__ = ["CodecError"]


class CodecError(Exception):
    """A codec could not do what was asked; the message says what and why."""
