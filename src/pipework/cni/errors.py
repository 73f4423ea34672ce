"""The CNI spec's error codes, and the one error type the plugin reports with them.

A CNI plugin fails by printing ``{"cniVersion", "code", "msg", "details"}`` on stdout
and exiting non-zero (spec, "Error"); the runtime shows ``msg`` to its user.
"""

from __future__ import annotations

from ..errors import PipeworkError

#: codes 1-99 are the spec's (well-known); 100 and up are the plugin's own
INCOMPATIBLE_VERSION = 1
UNSUPPORTED_FIELD = 2
UNKNOWN_CONTAINER = 3
INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_CONFIG = 7
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50
LIMITED_CONNECTIVITY = 51
#: pipework's own: an attach step failed (the message names the step, object and errno)
ATTACH_FAILED = 100


class CniError(PipeworkError):
    """A failure to report in the spec's error shape, with its code."""

    def __init__(self, code: int, message: str, details: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.details = details
