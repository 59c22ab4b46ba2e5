"""wharf: a Docker-compatible container engine. Importing the package has no side effects."""

__version__ = "0.1.0"
