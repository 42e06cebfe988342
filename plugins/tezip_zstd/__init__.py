"""``tezip.zstd``: zig-zag, byte-plane shuffle and zstd, the simple entropy stage."""
