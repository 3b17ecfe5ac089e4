"""ASGI entry point: ``uvicorn django_site.asgi:application`` (HttpPlatformHandler only).

The edgeclaims middleware reads ``request.scope`` under ASGI (raw path and
raw header names), so it verifies the same way as under WSGI.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site.settings")

application = get_asgi_application()
