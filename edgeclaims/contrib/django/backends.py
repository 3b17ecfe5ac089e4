"""An authentication backend mapping the verified identity to a Django user.

    AUTHENTICATION_BACKENDS += ["edgeclaims.contrib.django.backends.EdgeClaimsBackend"]
    EDGECLAIMS_BACKEND = {                  # all optional; these are the defaults
        "username_claim": "sub",
        "username_prefix": "",             # e.g. "edge:": edge users get their own namespace
        "create_users": True,
        "mirror_groups": False,            # True: the user's groups become its roles
        "staff_roles": None,               # e.g. ["admin"]: is_staff follows these roles
        "superuser_roles": None,           # e.g. ["admin"]: is_superuser follows them
    }

The safe version of ``RemoteUserMiddleware`` + ``RemoteUserBackend``: the
user comes from ``request.edgeclaims`` — the identity the middleware
verified — and never from a request header, and there is no session to
outlive it: ``EdgeClaimsMiddleware`` sets ``request.user`` on every request
(``AnonymousUser`` when there is no identity).

**Security:** ``username_claim`` should name a claim the identity provider
never reassigns (``sub``, Entra ID ``oid``); an e-mail address can move to
another person. The username is ``username_prefix`` followed by the claim,
character for character, or there is no user (and a warning on the
``edgeclaims`` logger): a claim that NFKC or the user model's
``normalize_username`` would change (``ａdmin`` → ``admin``), that is empty,
holds control characters or exceeds the username field is refused — never
normalized onto another account, never truncated — and so is a user the
lookup finds under another username (a case- or accent-insensitive
collation). Without a prefix, a subject equal to the username of an account
created another way (``createsuperuser``) logs in as that account: set
``username_prefix = "edge:"`` (Django's username validator refuses ``:``).
``staff_roles`` and ``superuser_roles`` hand Django admin access to whoever
the role rules grant those roles: ``manage.py check`` warns about
``superuser_roles``. Inactive users (``is_active = False``) are
never returned, so an administrator can still lock a user out in Django.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group
from django.core.exceptions import FieldDoesNotExist
from django.http import HttpRequest

from edgeclaims.config_table import Table
from edgeclaims.errors import ConfigurationError
from edgeclaims.identity import Identity

__all__ = ["BACKEND_SETTING", "BackendSettings", "EdgeClaimsBackend"]

#: The Django setting holding the backend's options.
BACKEND_SETTING = "EDGECLAIMS_BACKEND"

logger = logging.getLogger("edgeclaims")

# NUL breaks PostgreSQL text, line breaks forge log lines, a lone surrogate
# cannot be stored as UTF-8: none belongs in an account name.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs"})


@dataclass(frozen=True)
class BackendSettings:
    """The options of :class:`EdgeClaimsBackend` (``settings.EDGECLAIMS_BACKEND``)."""

    username_claim: str = "sub"
    username_prefix: str = ""
    create_users: bool = True
    mirror_groups: bool = False
    staff_roles: frozenset[str] | None = None
    superuser_roles: frozenset[str] | None = None

    @classmethod
    def from_django(cls) -> BackendSettings:
        """Read and check the setting against the user model; raises ``ConfigurationError``."""
        from django.conf import settings

        value = getattr(settings, BACKEND_SETTING, None)
        options = cls.parse({} if value is None else value)
        options.check_user_model(get_user_model())
        return options

    @classmethod
    def parse(cls, data: object) -> BackendSettings:
        """Validate the mapping; unknown keys are errors (a typo must not be ignored)."""
        table = Table(data, BACKEND_SETTING)
        username_claim = table.str("username_claim", "sub")
        if not username_claim:
            raise table.error("username_claim", "must name a claim")
        username_prefix = table.str("username_prefix", "")
        if any(ch.isspace() or not ch.isprintable() for ch in username_prefix):
            raise table.error("username_prefix", "must not contain spaces or control characters")
        options = cls(
            username_claim=username_claim,
            username_prefix=username_prefix,
            create_users=table.bool("create_users", True),
            mirror_groups=table.bool("mirror_groups", False),
            staff_roles=_optional_roles(table, "staff_roles"),
            superuser_roles=_optional_roles(table, "superuser_roles"),
        )
        table.refuse_unknown()
        return options

    def check_user_model(self, user_model: Any) -> None:
        """Every field the options write must exist; the prefix must fit the username field."""
        prefix = self.username_prefix
        if prefix:
            if _normalized(user_model, prefix) != prefix:
                raise ConfigurationError(
                    f"{BACKEND_SETTING}.username_prefix",
                    f"the user model {user_model.__name__} normalizes it: no username would fit",
                )
            max_length = _username_max_length(user_model)
            if max_length is not None and len(prefix) >= max_length:
                raise ConfigurationError(
                    f"{BACKEND_SETTING}.username_prefix",
                    f"leaves no room in the {max_length}-character username field",
                )
        needed = {
            "staff_roles": ("is_staff",) if self.staff_roles is not None else (),
            "superuser_roles": ("is_superuser",) if self.superuser_roles is not None else (),
            "mirror_groups": ("groups",) if self.mirror_groups else (),
        }
        for option, fields in needed.items():
            for name in fields:
                try:
                    user_model._meta.get_field(name)
                except FieldDoesNotExist:
                    raise ConfigurationError(
                        f"{BACKEND_SETTING}.{option}",
                        f"the user model {user_model.__name__} has no {name} field",
                    ) from None


def _optional_roles(table: Table, key: str) -> frozenset[str] | None:
    if table.raw(key) is None:
        return None
    return frozenset(table.str_list(key))


class EdgeClaimsBackend(ModelBackend):
    """Authenticate the request's verified identity as a Django user.

    Django permissions (``user.has_perm``) work as with ``ModelBackend``,
    through the user's groups — which ``mirror_groups`` keeps equal to the
    identity's roles. Subclass and override :meth:`configure_user` to adapt
    the mapping, :meth:`clean_username` to refuse more identities.
    """

    def __init__(self) -> None:
        self.options = BackendSettings.from_django()

    def authenticate(  # type: ignore[override]
        self, request: HttpRequest | None, *, edgeclaims: bool = False
    ) -> Any:
        """The user for ``request.edgeclaims``, or None.

        Only ``edgeclaims=True`` (what the middleware passes) does anything,
        so a login form's ``authenticate(request, username=…, password=…)``
        never reaches this backend.
        """
        if not edgeclaims or request is None:
            return None
        # Only what the middleware attached: never a header.
        identity = getattr(request, "edgeclaims", None)
        if not isinstance(identity, Identity):
            return None
        username = self._checked_username(identity)
        if username is None:
            return None
        user_model: Any = get_user_model()
        manager = user_model._default_manager
        created = False
        if self.options.create_users:
            user, created = manager.get_or_create(**{user_model.USERNAME_FIELD: username})
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
        else:
            try:
                user = manager.get_by_natural_key(username)
            except user_model.DoesNotExist:
                return None
        if user.get_username() != username:
            # A case- or accent-insensitive collation (MySQL's default, citext)
            # or an iexact manager found someone else: refuse before
            # configure_user could touch that account.
            _refuse(self.options.username_claim, "found a user of another username")
            return None
        user = self.configure_user(request, user, identity, created=created)
        return user if self.user_can_authenticate(user) else None

    def clean_username(self, identity: Identity) -> str | None:
        """The username for an identity: ``username_prefix`` + the ``username_claim``.

        Override to refuse more identities (return None). Any other result
        than that exact string is refused, as is one the user model's
        normalization would change: a subclass cannot map one identity onto
        another account by lower-casing, trimming or normalizing.
        """
        value = self._claim(identity)
        if not isinstance(value, str):
            return None
        return self.options.username_prefix + value

    def _claim(self, identity: Identity) -> object:
        if self.options.username_claim == "sub":
            return identity.subject
        return identity.claims.get(self.options.username_claim)

    def _checked_username(self, identity: Identity) -> str | None:
        """:meth:`clean_username`'s result, when it is the claim unchanged; else None, logged."""
        value = self._claim(identity)
        problem: str | None
        if not isinstance(value, str) or not value.strip():
            problem = "is missing, empty or not a string"
        elif any(unicodedata.category(ch) in _REFUSED_CATEGORIES for ch in value):
            problem = "contains control characters"
        else:
            username = self.clean_username(identity)
            if username is None:
                return None
            problem = _username_problem(username, self.options.username_prefix + value)
            if problem is None:
                return username
        _refuse(self.options.username_claim, problem)
        return None

    def configure_user(
        self, request: HttpRequest, user: Any, identity: Identity, *, created: bool
    ) -> Any:
        """Mirror the roles onto ``is_staff``, ``is_superuser`` and groups, as configured."""
        options = self.options
        changed: list[str] = []
        for field, roles in (
            ("is_staff", options.staff_roles),
            ("is_superuser", options.superuser_roles),
        ):
            if roles is None:
                continue
            granted = not roles.isdisjoint(identity.roles)
            if getattr(user, field) != granted:
                setattr(user, field, granted)
                changed.append(field)
        if changed:
            user.save(update_fields=changed)
        if options.mirror_groups:
            wanted = set(identity.roles)
            current = set(user.groups.values_list("name", flat=True))
            if current != wanted:
                user.groups.set(
                    [Group.objects.get_or_create(name=role)[0] for role in sorted(wanted)]
                )
        return user


def _refuse(claim: str, problem: str) -> None:
    # The claim's name only: the value may be crafted to look like another
    # user (or to forge a log line).
    logger.warning(
        "edgeclaims: EdgeClaimsBackend refused the identity (no Django user): its %r claim %s",
        claim,
        problem,
    )


def _username_problem(username: str, expected: str) -> str | None:
    """Why ``username`` may not stand for the claim it came from; None when it may."""
    if username != expected:
        return "was rewritten by clean_username"
    user_model: Any = get_user_model()
    if _normalized(user_model, username) != username:
        return "changes under Unicode NFKC or the user model's normalization"
    max_length = _username_max_length(user_model)
    if max_length is not None and len(username) > max_length:
        return f"makes a username longer than {max_length} characters"
    return None


def _normalized(user_model: Any, username: str) -> str:
    """``username`` after NFKC and the user model's own ``normalize_username``."""
    # NFKC even when the model has no normalize_username: Django's forms
    # apply it to accounts created another way.
    text = unicodedata.normalize("NFKC", username)
    normalize = getattr(user_model, "normalize_username", None)
    return text if normalize is None else str(normalize(text))


def _username_max_length(user_model: Any) -> int | None:
    length: int | None = user_model._meta.get_field(user_model.USERNAME_FIELD).max_length
    return length
