"""Images: the store (names → content → snapshots), unpack, Docker's image operations, save/load.

Nothing is imported here, so ``import wharf.images.store`` pulls in only what it needs.
"""
