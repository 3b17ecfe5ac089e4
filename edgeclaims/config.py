"""The one frozen configuration tree, built and validated once at start-up.

The configuration arrives as the ``[edgeclaims]`` table of a TOML file named
by ``EDGECLAIMS_CONFIG``, as ``settings.EDGECLAIMS`` (Django), as
``app.config["EDGECLAIMS"]`` (Flask) or as a mapping handed to
:func:`load_config`. Whatever the route, it is read here, strictly: unknown
keys are errors, every error is a :class:`ConfigurationError` naming the key
path, and nothing is read again per request. No repr in the tree shows a
password, a secret or key material: keys show their id and algorithm, URLs
are shown through :func:`~edgeclaims.config_table.redact_url`.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from edgeclaims.config_table import Table, redact_url
from edgeclaims.errors import ConfigurationError
from edgeclaims.keys import read_named_text

if TYPE_CHECKING:
    from edgeclaims.origin_gate import G2OGate
    from edgeclaims.rbac import Policy
    from edgeclaims.sources import Source

__all__ = ["CONFIG_ENV", "Config", "ReplayConfig", "load_config"]

CONFIG_ENV = "EDGECLAIMS_CONFIG"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class ReplayConfig:
    """Where nonces are remembered (``[edgeclaims.replay]``)."""

    store: Literal["off", "memory", "sqlite", "redis"] = "memory"
    path: str | None = None
    #: The Redis URL, credentials included: never in a repr (see ``display_url``).
    url: str | None = field(default=None, repr=False)
    on_error: Literal["deny", "allow"] = "deny"
    max_entries: int = 500_000
    timeout: float = 0.5
    key_prefix: str = "edgeclaims:replay:"
    #: Whether ``url`` was written in the configuration (not ``url_env``).
    url_in_config: bool = field(default=False, compare=False)
    #: ``url`` without user, password or query: what reprs and logs show.
    display_url: str | None = field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        shown = redact_url(self.url) if self.url is not None else None
        object.__setattr__(self, "display_url", shown)

    @property
    def enabled(self) -> bool:
        return self.store != "off"


@dataclass(frozen=True)
class Config:
    """Everything edgeclaims needs to decide on a request. Immutable."""

    sources: tuple[Source, ...]
    policy: Policy
    mode: Literal["enforce", "monitor"] = "enforce"
    require_identity: bool = True
    public_paths: tuple[str, ...] = ()
    trusted_peers: tuple[IPNetwork, ...] = ()
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    #: Under wfastcgi, ``X-Original-URL`` replaces ``PATH_INFO``. Only a
    #: deployment whose IIS URL Rewrite sets that header may trust it.
    trust_original_url: bool = False
    #: Header carrying the edge's request id, copied into decision logs.
    request_id_header: str | None = None
    #: ``[edgeclaims.origin_gate]``: checked before any source, on every path
    #: but its exempt ones; None when not configured.
    origin_gate: G2OGate | None = None


def load_config(
    source: str | os.PathLike[str] | Mapping[str, object] | Config | None = None,
) -> Config:
    """Build the configuration from a TOML path, a mapping, or ``EDGECLAIMS_CONFIG``.

    A mapping is the content of the ``[edgeclaims]`` table. A TOML file must
    hold an ``[edgeclaims]`` table. With no argument the path comes from the
    ``EDGECLAIMS_CONFIG`` environment variable.
    """
    if isinstance(source, Config):
        return source
    if source is None:
        env_path = os.environ.get(CONFIG_ENV)
        if not env_path:
            raise ConfigurationError(
                CONFIG_ENV, "no configuration given and the environment variable is not set"
            )
        return _load_file(Path(env_path), base=CONFIG_ENV)
    if isinstance(source, Mapping):
        return parse_config(source, base_dir=Path.cwd())
    return _load_file(Path(source), base=str(source))


def _load_file(path: Path, *, base: str) -> Config:
    # Imported here: a configuration given as a mapping never needs a TOML parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigurationError(base, f"configuration file {path} does not exist") from None
    except OSError as exc:
        raise ConfigurationError(base, f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(base, f"{path} is not valid TOML: {exc}") from None
    if "edgeclaims" not in document:
        raise ConfigurationError(base, f"{path} has no [edgeclaims] table")
    extra = [key for key in document if key != "edgeclaims"]
    if extra:
        raise ConfigurationError(extra[0], f"unknown top-level table in {path}")
    # Relative secret_file / path settings are read relative to the file,
    # not to the worker's current directory (IIS starts it in system32).
    return parse_config(document["edgeclaims"], base_dir=path.resolve().parent)


def parse_config(data: Mapping[str, object], *, base_dir: Path) -> Config:
    """Validate the ``[edgeclaims]`` mapping and build the frozen tree."""
    from edgeclaims.rbac import compile_policy
    from edgeclaims.rbac.policy import DEFAULT_ROLE_CACHE_SIZE
    from edgeclaims.sources import parse_source_config

    top = Table(data, "")
    mode = top.str("mode", "enforce", choices=("enforce", "monitor"))
    require_identity = top.bool("require_identity", True)
    public_paths = top.str_list("public_paths", ())
    for index, pattern in enumerate(public_paths):
        if not pattern.startswith("/"):
            raise ConfigurationError(f"public_paths[{index}]", "a path must start with '/'")
    trusted_peers = _parse_networks(top)
    trust_original_url = top.bool("trust_original_url", False)
    request_id_header = top.optional_str("request_id_header")

    replay = _parse_replay(top.table("replay"), base_dir=base_dir)
    origin_gate = None
    if "origin_gate" in top:
        from edgeclaims.origin_gate import parse_origin_gate

        origin_gate = parse_origin_gate(top.table("origin_gate"), base_dir=base_dir)
    source_tables = top.tables("sources")
    if not source_tables and origin_gate is None:
        # With a gate alone, requests that pass it go on anonymously where
        # the route is public; every other route refuses them (missing).
        raise top.error("sources", "at least one source is required (or an origin_gate)")
    sources = tuple(
        parse_source_config(table, base_dir=base_dir, replay_enabled=replay.enabled)
        for table in source_tables
    )
    names = [source.name for source in sources]
    for index, name in enumerate(names):
        if names.index(name) != index:
            raise ConfigurationError(f"sources[{index}].name", f"duplicate source name {name!r}")

    policy = compile_policy(
        top.table("roles"),
        top.table("permissions"),
        top.table("routes"),
        default_route=top.raw("default_route", "authenticated" if require_identity else "public"),
        default_route_path="default_route",
        public_paths=public_paths,
        cache_size=top.int("role_cache_size", DEFAULT_ROLE_CACHE_SIZE, minimum=1),
    )
    top.refuse_unknown()
    return Config(
        sources=sources,
        policy=policy,
        mode=mode,  # type: ignore[arg-type]
        require_identity=require_identity,
        public_paths=public_paths,
        trusted_peers=trusted_peers,
        replay=replay,
        trust_original_url=trust_original_url,
        request_id_header=request_id_header,
        origin_gate=origin_gate,
    )


def _parse_networks(top: Table) -> tuple[IPNetwork, ...]:
    networks: list[IPNetwork] = []
    for index, text in enumerate(top.str_list("trusted_peers", ())):
        try:
            networks.append(ipaddress.ip_network(text, strict=True))
        except ValueError as exc:
            raise ConfigurationError(f"trusted_peers[{index}]", str(exc)) from None
    return tuple(networks)


def _parse_replay(table: Table, *, base_dir: Path) -> ReplayConfig:
    defaults = ReplayConfig()
    store = table.str("store", defaults.store, choices=("off", "memory", "sqlite", "redis"))
    path = table.optional_str("path")
    url = table.optional_str("url")
    url_env = table.optional_str("url_env")
    if store == "sqlite":
        if not path:
            raise table.error("path", "is required when store = 'sqlite'")
        path = str((base_dir / path).resolve()) if not Path(path).is_absolute() else path
    if store == "redis" and url_env is not None:
        # The URL from the environment (an IIS app pool variable): a password
        # need not be written in the file. Errors name the variable only.
        if url is not None:
            raise table.error("url_env", "give url or url_env, not both")
        url = read_named_text(table, "url_env", base_dir).strip()
        if not url:
            raise table.error("url_env", f"environment variable {url_env} is empty")
    if store == "redis":
        if not url:
            raise table.error(
                "url", "is required when store = 'redis' (or url_env: an environment variable)"
            )
        if not url.startswith(("redis://", "rediss://", "unix://")):
            where = "url" if url_env is None else "url_env"
            raise table.error(where, "must start with redis://, rediss:// or unix://")
    config = ReplayConfig(
        store=store,  # type: ignore[arg-type]
        path=path,
        url=url,
        on_error=table.str("on_error", defaults.on_error, choices=("deny", "allow")),  # type: ignore[arg-type]
        max_entries=table.int("max_entries", defaults.max_entries, minimum=1),
        timeout=table.number("timeout", defaults.timeout, minimum=0.001),
        key_prefix=table.str("key_prefix", defaults.key_prefix),
        url_in_config=url is not None and url_env is None,
    )
    table.refuse_unknown()
    return config


# -- warnings ------------------------------------------------------------------------

#: The key the samples ship in their edgeclaims.toml files: public, in the repository.
SAMPLE_DEMO_SECRET = b"edgeclaims-demo-key-NOT-A-SECRET"


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """A valid but risky setting; ``id`` is stable (``W001``…, Django: ``edgeclaims.W001``)."""

    id: str
    message: str

    def __str__(self) -> str:
        return self.message


def _has_password(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return bool(parts.password) or "password=" in parts.query.lower()


def config_warnings(config: Config) -> list[ConfigWarning]:
    """Risky but valid settings, each explained; ``edgeclaims check`` and Django's checks."""
    warnings: list[ConfigWarning] = []

    def warn(warning_id: str, message: str) -> None:
        warnings.append(ConfigWarning(warning_id, message))

    if config.replay.store == "memory":
        warn(
            "W001",
            "replay.store = 'memory' remembers nonces in one process only; under IIS "
            "(FastCGI maxInstances, web gardens, processesPerApplication > 1) or a farm a "
            "replay landing on another process is accepted: use 'sqlite' or 'redis'",
        )
    if config.replay.store == "off":
        warn("W002", "replay.store = 'off': a captured request can be replayed within max_age")
    if config.replay.url_in_config and _has_password(config.replay.url):
        warn(
            "W017",
            "replay.url holds a password written in the configuration: anyone who can "
            "read the file can use the replay store; use url_env",
        )
    if config.replay.on_error == "allow":
        warn("W003", "replay.on_error = 'allow' accepts requests when the store is down")
    if config.mode == "monitor":
        warn("W004", "mode = 'monitor' never blocks: invalid identities reach the app anonymous")
    if not config.require_identity:
        warn("W005", "require_identity = false: unmatched routes are public by default")
    if config.trust_original_url:
        warn(
            "W006",
            "trust_original_url = true: only safe when IIS URL Rewrite always sets X-Original-URL",
        )
    if config.origin_gate is not None:
        gate = config.origin_gate
        for warning_id, why in gate.risks():
            warn(warning_id, f"origin_gate ({gate.name}): {why}")
        for key_name in gate.keys_in_config:
            warn(
                "W008",
                f"origin_gate key {key_name!r} is a secret written in the configuration: "
                "anyone who can read the file can pass the gate; use secret_env or secret_file",
            )
    for index, source in enumerate(config.sources):
        for warning_id, why in source.risks():
            warn(warning_id, f"sources[{index}] ({source.name}): {why}")
        for key in source.configured_keys:
            where = f"sources[{index}] key {key.id!r}"
            if key.material == SAMPLE_DEMO_SECRET:
                warn(
                    "W009",
                    f"{where} is the samples' published demo key: anyone can sign any "
                    "identity with it; make your own with 'edgeclaims keygen'",
                )
            elif key.in_config:
                warn(
                    "W008",
                    f"{where} is a secret written in the configuration: anyone who can "
                    "read the file can sign identities; use secret_env or secret_file",
                )
    return warnings
