"""WSGI entry point: ``django_site.wsgi:application`` (waitress) or
``WSGI_HANDLER = django_site.wsgi.application`` (wfastcgi).

edgeclaims runs as the first Django middleware (``settings.MIDDLEWARE``), so
``application`` is already the protected callable.
"""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_site.settings")

application = get_wsgi_application()
