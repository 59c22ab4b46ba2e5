"""The Engine API's routes, one module per resource, each over its role of ``api/backend.py``
and with a ``register(router)`` that declares its table (``api/app.py`` calls them all)."""
