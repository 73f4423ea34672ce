"""Frozen value records, without ``dataclasses``.

``import dataclasses`` pulls in ``inspect`` and costs more than the whole attach on
a slow host (about 25 ms measured on the 2-core CI machine, against a 25 ms budget
for one ``pipework`` process), so the model is built on this small base instead:
subclasses list their fields in ``__slots__``, assign them once in ``__init__``
through ``_init``, and get equality, hashing, ``repr`` and immutability from here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import TypeVar

    _R = TypeVar("_R", bound="Record")


_SLOTS: dict[type, frozenset[str]] = {}


class Record:
    __slots__: tuple[str, ...] = ()

    def _init(self, **values: object) -> None:
        names = _SLOTS.get(type(self))
        if names is None:
            names = _SLOTS[type(self)] = frozenset(
                name for klass in type(self).__mro__ for name in klass.__dict__.get("__slots__", ())
            )
        if names != values.keys():
            missing = sorted(names - values.keys())
            extra = sorted(values.keys() - names)
            raise TypeError(f"{type(self).__name__}: missing {missing}, unexpected {extra}")
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _fields(self) -> Iterator[tuple[str, object]]:
        for klass in type(self).__mro__:
            for name in klass.__dict__.get("__slots__", ()):
                yield name, getattr(self, name)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return tuple(self._fields()) == tuple(other._fields())

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self._fields()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self._fields())
        return f"{type(self).__name__}({inner})"

    def replace(self: _R, **changes: object) -> _R:
        """A copy with some fields changed (like ``dataclasses.replace``)."""
        clone = object.__new__(type(self))
        values = dict(self._fields())
        values.update(changes)
        Record._init(clone, **values)
        return clone
