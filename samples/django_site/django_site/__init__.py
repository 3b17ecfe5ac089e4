"""edgeclaims sample: a Django project (settings, urls, views, wsgi, asgi)."""
