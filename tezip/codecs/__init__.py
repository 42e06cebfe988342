"""tezip as a chunk codec: for numcodecs (:mod:`tezip.codecs.numcodecs`, id ``tezip``) and as a
Zarr v3 array-to-bytes codec (:mod:`tezip.codecs.zarr`, name ``tezip``); both code each chunk
as one compact ``.tez`` archive (:mod:`tezip.codecs.chunk`)."""
