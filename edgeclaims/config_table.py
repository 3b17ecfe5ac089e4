"""A strict reader for one table of the configuration mapping.

Every section of the configuration (the top level, each source, each key,
the replay table) is read through a ``Table``: it knows its key path, so an
error always names the offending setting, and it refuses keys nobody read —
a typo such as ``max_agee`` must not silently leave a check at its default.
Settings are never shown whole where they may hold a secret: :func:`redact_url`
is what reprs, logs and errors show of a URL setting.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

from edgeclaims.errors import ConfigurationError

T = TypeVar("T")

__all__ = ["Table", "redact_url"]

# The reader has methods named str, bool and int; annotations in its body
# would resolve to them, so the builtins get other names here.
_Str = str
_Bool = bool
_Int = int


class Table:
    """One mapping of the configuration, read by name with type checks."""

    def __init__(self, data: object, path: _Str) -> None:
        if not isinstance(data, Mapping):
            raise ConfigurationError(path, f"expected a table, got {_kind(data)}")
        for key in data:
            if not isinstance(key, _Str):
                raise ConfigurationError(path, f"keys must be strings, got {_kind(key)}")
        self._data: Mapping[_Str, object] = data
        self.path = path
        self._read: set[_Str] = set()

    def child_path(self, key: _Str | _Int) -> _Str:
        """The key path of a child entry."""
        if isinstance(key, _Int):
            return f"{self.path}[{key}]"
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: _Str, problem: _Str) -> ConfigurationError:
        """A ConfigurationError naming ``key`` of this table."""
        return ConfigurationError(self.child_path(key), problem)

    def __contains__(self, key: _Str) -> _Bool:
        return key in self._data

    def keys(self) -> Iterator[_Str]:
        """Every key of the table (each counts as read)."""
        self._read.update(self._data)
        return iter(list(self._data))

    def raw(self, key: _Str, default: object = None) -> object:
        """The value as given, without a type check."""
        self._read.add(key)
        return self._data.get(key, default)

    def str(self, key: _Str, default: _Str | None = None, *, choices: Sequence[_Str] = ()) -> _Str:
        value = self._typed(key, _Str, default, "a string")
        if choices and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise self.error(key, f"must be one of {allowed}, got {value!r}")
        return value

    def optional_str(self, key: _Str) -> _Str | None:
        if self._data.get(key) is None:
            self._read.add(key)
            return None
        return self.str(key)

    def bool(self, key: _Str, default: _Bool | None = None) -> _Bool:
        return self._typed(key, _Bool, default, "true or false")

    def int(self, key: _Str, default: _Int | None = None, *, minimum: _Int | None = None) -> _Int:
        value = self._data.get(key, default)
        self._read.add(key)
        # bool is an int subclass: `max_age = true` is a mistake, not 1.
        if isinstance(value, _Bool) or not isinstance(value, _Int):
            if value is None:
                raise self.error(key, "is required")
            raise self.error(key, f"expected an integer, got {_kind(value)}")
        if minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def number(self, key: _Str, default: float | None = None, *, minimum: float = 0.0) -> float:
        value = self._data.get(key, default)
        self._read.add(key)
        if isinstance(value, _Bool) or not isinstance(value, _Int | float):
            if value is None:
                raise self.error(key, "is required")
            raise self.error(key, f"expected a number, got {_kind(value)}")
        if value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return float(value)

    def str_list(self, key: _Str, default: Sequence[_Str] | None = None) -> tuple[_Str, ...]:
        """A list of strings; a single string is accepted as a one-item list."""
        value = self._data.get(key, default)
        self._read.add(key)
        if value is None:
            raise self.error(key, "is required")
        if isinstance(value, _Str):
            return (value,)
        if not isinstance(value, Sequence):
            raise self.error(key, f"expected a list of strings, got {_kind(value)}")
        for index, item in enumerate(value):
            if not isinstance(item, _Str):
                raise ConfigurationError(
                    f"{self.child_path(key)}[{index}]", f"expected a string, got {_kind(item)}"
                )
        return tuple(value)

    def table(self, key: _Str, *, required: _Bool = False) -> Table:
        """A nested table (empty when absent and not required)."""
        self._read.add(key)
        if key not in self._data:
            if required:
                raise self.error(key, "is required")
            return Table({}, self.child_path(key))
        return Table(self._data[key], self.child_path(key))

    def tables(self, key: _Str) -> list[Table]:
        """A list of nested tables (``[[array.of.tables]]`` in TOML)."""
        value = self._data.get(key, [])
        self._read.add(key)
        if isinstance(value, Mapping) or not isinstance(value, Sequence) or isinstance(value, _Str):
            raise self.error(key, f"expected a list of tables, got {_kind(value)}")
        return [Table(item, f"{self.child_path(key)}[{i}]") for i, item in enumerate(value)]

    def refuse_unknown(self) -> None:
        """Raise for any key that no reader asked for (a typo, most likely)."""
        unknown = [key for key in self._data if key not in self._read]
        if unknown:
            raise self.error(unknown[0], "unknown setting")

    def _typed(self, key: _Str, kind: type[T], default: T | None, described: _Str) -> T:
        value = self._data.get(key, default)
        self._read.add(key)
        if value is None:
            raise self.error(key, "is required")
        if not isinstance(value, kind):
            raise self.error(key, f"expected {described}, got {_kind(value)}")
        return value


def _kind(value: Any) -> str:
    """Name the type of a value without showing the value (it may be secret)."""
    if value is None:
        return "nothing"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        tuple: "a list",
        dict: "a table",
    }.get(type(value), type(value).__name__)


def redact_url(url: str) -> str:
    """The URL without user, password or query: what logs and reprs may show.

    A Redis URL carries its password in the user part or the query
    (``?password=``), a JWKS URL may carry an IdP token in the query: both go.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    try:
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        # A port that is not a number: which part holds the password is
        # anybody's guess, so only the scheme is shown.
        return f"<unparsable {parts.scheme} URL>" if parts.scheme else "<unparsable URL>"
    credentials = "***@" if parts.username or parts.password else ""
    return f"{parts.scheme}://{credentials}{host}{port}{parts.path}"
