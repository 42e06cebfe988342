"""The ``.tez`` container: byte layout, header, GOP payloads, streaming writer and reader.

FORMAT.md is the normative description; this package implements it.
"""
