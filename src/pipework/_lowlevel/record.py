"""Frozen value records, without ``dataclasses``: each field is declared once.

``import dataclasses`` pulls in ``inspect`` and costs more than the whole attach on
a slow host (about 25 ms measured on the 2-core CI machine, against a 25 ms budget
for one ``pipework`` process), so the model is built on this small base instead::

    class GuestRef(Record):
        kind: str | None
        value: str
        _: KW_ONLY          # the fields after it are keyword-only
        note: str = ""

The metaclass turns the annotations of the class body into ``__slots__`` and a
constructor (positional and keyword, defaults, then ``__post_init__`` when the
class has one, for validation); instances are immutable, compare and hash by
their fields, and print them. A record does not extend another record, and has
no ClassVar: every annotation is a field. The type checker sees the same constructor through
``dataclass_transform``, imported only when type checking: at run time it costs
nothing, not even ``import typing``. Every module defining records uses
``from __future__ import annotations``, so annotations are plain strings here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import ClassVar, TypeVar

    from typing_extensions import dataclass_transform

    _R = TypeVar("_R", bound="Record")
else:

    def dataclass_transform(**_options: object) -> object:
        return lambda cls: cls


_MISSING = object()
_set = object.__setattr__


@dataclass_transform(frozen_default=True)
class RecordMeta(type):
    """Reads the field declarations of a Record class body (see the module docstring)."""

    def __new__(
        mcls, name: str, bases: tuple[type, ...], namespace: dict[str, object]
    ) -> RecordMeta:
        if not bases:  # Record itself: its annotations are the ClassVars below
            return super().__new__(mcls, name, bases, namespace)
        # Every annotation is a field (records declare no ClassVar), but "_", which
        # marks where the keyword-only fields begin. Class creation runs at import,
        # on every start of pipework: this is kept to a few C-level operations.
        annotations: dict[str, str] = namespace.get("__annotations__", {})  # type: ignore[assignment]
        order = list(annotations)
        fields = tuple(field for field in order if field != "_")
        defaults = {field: namespace.pop(field) for field in fields if field in namespace}
        namespace["__slots__"] = fields
        cls = super().__new__(mcls, name, bases, namespace)
        cls._field_names = fields  # type: ignore[attr-defined]
        cls._positional = order.index("_") if "_" in annotations else len(fields)  # type: ignore[attr-defined]
        cls._defaults = defaults  # type: ignore[attr-defined]
        return cls


class Record(metaclass=RecordMeta):
    """Base of every value record; subclasses only declare their fields."""

    __slots__ = ()
    _field_names: ClassVar[tuple[str, ...]] = ()
    _positional: ClassVar[int] = 0
    _defaults: ClassVar[dict[str, object]] = {}  # replaced per class, never mutated

    if not TYPE_CHECKING:  # the checker synthesises each subclass's own signature

        def __init__(self, *args: object, **kwargs: object) -> None:
            cls = type(self)
            names = cls._field_names
            if len(args) > cls._positional:
                raise TypeError(
                    f"{cls.__name__}() takes {cls._positional} positional arguments, "
                    f"{len(args)} given"
                )
            for field, value in zip(names, args):
                _set(self, field, value)
            defaults = cls._defaults
            for field in names[len(args) :]:
                value = kwargs.pop(field, _MISSING)
                if value is _MISSING:
                    value = defaults.get(field, _MISSING)
                    if value is _MISSING:
                        raise TypeError(f"{cls.__name__}() is missing {field!r}")
                _set(self, field, value)
            if kwargs:
                raise TypeError(f"{cls.__name__}() got unexpected {sorted(kwargs)}")
            post = getattr(self, "__post_init__", None)
            if post is not None:
                post()

    def _derive(self, field: str, value: object) -> None:
        """Set a derived field from ``__post_init__`` (the only write after construction)."""
        _set(self, field, value)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, field) for field in self._field_names)

    def items(self) -> Iterator[tuple[str, object]]:
        for field in self._field_names:
            yield field, getattr(self, field)

    def as_dict(self) -> dict[str, object]:
        return dict(self.items())

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self._values()))

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={value!r}" for name, value in self.items())
        return f"{type(self).__name__}({inner})"

    def replace(self: _R, **changes: object) -> _R:
        """A copy with some fields changed (like ``dataclasses.replace``), checked again."""
        values = self.as_dict()
        values.update(changes)
        return type(self)(**values)
