"""The one exception tree of pipework; each class carries its process exit code.

    PipeworkError                 exit 1  runtime failure: names the step, the object, what to try
    ├── UsageError                exit 2  bad input; raised before anything on the host changes
    │   └── NotSupportedYet       exit 2  a form of the original command line not built yet
    ├── GuestNotFound             exit 1  no resolver found the guest; says what each one saw
    ├── AmbiguousGuest            exit 1  several guests match; lists them
    ├── HostStateError            exit 1  the host is not in a state we may act on (name taken, …)
    │   └── AttachmentDiffers     exit 1  the interface is attached already, differently
    ├── NetlinkError              exit 1  the kernel refused a request: errno, operation, object
    └── CommandError              exit 1  a child process (lxc-info, ip, tc) failed or is missing

    AlreadyAttached               not an error: the same request was already done (idempotency)

Only ``pipework.cli.main`` turns these into messages and exit codes.
"""

from __future__ import annotations

import errno as _errno
import os


class PipeworkError(Exception):
    """Base of every error pipework raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message


class UsageError(PipeworkError):
    """Bad input: a malformed argument, a value out of range, a name we refuse."""

    exit_code = 2


class NotSupportedYet(UsageError):
    """A documented form of the original command line that this version does not build yet."""

    def __init__(self, what: str) -> None:
        super().__init__(f"not supported yet: {what}")


class GuestNotFound(PipeworkError):
    """No resolver found the guest; the message lists each resolver and what it saw."""


class AmbiguousGuest(PipeworkError):
    """Several guests match one identifier; the message lists them."""


class HostStateError(PipeworkError):
    """The host is not in a state we may act on, such as a name already taken."""


class AttachmentDiffers(HostStateError):
    """The guest interface is already attached, differently from the request (what
    ``watch`` and ``apply`` report as differing, and never replace on their own)."""


class CommandError(PipeworkError):
    """A child process failed, or the program is not installed."""

    def __init__(self, message: str, *, returncode: int = 1, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.returncode = returncode


class NetlinkError(PipeworkError):
    """The kernel answered a netlink request with an error."""

    def __init__(
        self,
        errno: int,
        operation: str,
        obj: str,
        *,
        kernel_message: str | None = None,
        hint: str | None = None,
    ) -> None:
        name = _errno.errorcode.get(errno, f"errno {errno}")
        text = f"{operation} {obj}: {name} ({os.strerror(errno)})"
        if kernel_message:
            text += f": kernel says {kernel_message!r}"
        super().__init__(text, hint=hint)
        self.errno = errno
        self.operation = operation
        self.obj = obj
        self.kernel_message = kernel_message


class AlreadyAttached(Exception):
    """The guest interface is already attached exactly as asked: nothing to do.

    Raised through the executor (which rolls back anything the run did before
    noticing) and turned into a successful, unchanged result by ``engine.attach``.
    """

    def __init__(self, host_link: object, guest_link: object) -> None:
        super().__init__("already attached")
        self.host_link = host_link
        self.guest_link = guest_link
