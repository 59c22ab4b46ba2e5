"""Docker semantics on top of the runtime, images and network layers (see docs/architecture.md)."""
