"""Django: an app, one middleware (sync and async), decorators, mixins, checks, a backend.

    # settings.py
    INSTALLED_APPS += ["edgeclaims.contrib.django"]
    MIDDLEWARE.insert(0, "edgeclaims.contrib.django.middleware.EdgeClaimsMiddleware")
    EDGECLAIMS = {...}            # the [edgeclaims] table; or leave it out: EDGECLAIMS_CONFIG

    # views.py
    from edgeclaims.contrib.django.decorators import roles_required

    @roles_required("admin")
    def admin(request):
        return JsonResponse({"sub": request.edgeclaims.subject})

``request.edgeclaims`` is the verified :class:`~edgeclaims.identity.Identity`,
or None (anonymous on a public route). ``manage.py check`` reports a bad
configuration as ``edgeclaims.E001`` and risky settings as warnings (the
same ones ``edgeclaims check`` prints). The optional
``edgeclaims.contrib.django.backends.EdgeClaimsBackend`` maps the identity
to a Django user — the safe counterpart of ``RemoteUserMiddleware``.
"""

from __future__ import annotations

from edgeclaims.config import Config, load_config

__all__ = ["SETTING", "load_django_config"]

#: The Django setting holding the configuration.
SETTING = "EDGECLAIMS"


def load_django_config() -> Config:
    """The configuration from ``settings.EDGECLAIMS``, else from ``EDGECLAIMS_CONFIG``.

    ``settings.EDGECLAIMS`` may be the ``[edgeclaims]`` mapping, a TOML path
    or a :class:`~edgeclaims.config.Config`. Raises ``ConfigurationError``.
    """
    from django.conf import settings

    return load_config(getattr(settings, SETTING, None))
