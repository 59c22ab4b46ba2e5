"""Layer tars: decompression, safe apply (whiteouts, links, devices, metadata) and writing."""
