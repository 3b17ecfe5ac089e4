"""Settings of the edgeclaims Django sample.

DEMO ONLY: ``SECRET_KEY`` and the key in ``edgeclaims.toml`` are public.
"""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "django-insecure-edgeclaims-sample-demo-only")
DEBUG = False
ALLOWED_HOSTS = os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")
ROOT_URLCONF = "django_site.urls"
WSGI_APPLICATION = "django_site.wsgi.application"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    # edgeclaims.contrib.django imports django.contrib.auth (its optional backend).
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "edgeclaims.contrib.django",
]
MIDDLEWARE = [
    # First, so no other middleware sees the raw identity headers.
    "edgeclaims.contrib.django.middleware.EdgeClaimsMiddleware",
    "django.middleware.common.CommonMiddleware",
]
DATABASES: dict[str, dict[str, str]] = {}

# The configuration: EDGECLAIMS_CONFIG when set, else the bundled file.
EDGECLAIMS = os.environ.get("EDGECLAIMS_CONFIG") or str(BASE_DIR / "edgeclaims.toml")
