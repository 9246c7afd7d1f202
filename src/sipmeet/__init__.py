"""sipmeet: phone callers join WebRTC meeting rooms by SIP address."""

__version__ = "0.1.0"
__all__ = ["__version__"]
