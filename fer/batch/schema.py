"""The columns of the batch results, and the internal columns that travel with them between stages."""

from __future__ import annotations

import pyarrow as pa

from fer.config import EMOTIONS

BOX = ("x0", "y0", "x1", "y1")
SCHEMA = pa.schema(
    [("path", pa.string()), ("frame", pa.int64()), ("time_s", pa.float64()), ("face", pa.int64())]
    + [(k, pa.int32()) for k in BOX]
    + [("score", pa.float32()), ("label", pa.string())]
    + [(k, pa.float32()) for k in EMOTIONS]
    + [("uncertain", pa.bool_()), ("error", pa.string())]
)
# Internal columns between the actors and the join: which chunk of its input a row comes from, how
# many chunks that input has, how many rows its chunk gave (so the driver knows when it is whole),
# and whether the row is the error row of a chunk that decoded no frame (which the join may drop:
# the frame count in a video's header is sometimes an overestimate).
INTERNAL_FIELDS = [pa.field("_chunk", pa.int32()), pa.field("_chunks", pa.int32()), pa.field("_rows", pa.int32()),
                   pa.field("_empty", pa.bool_())]
INTERNAL = tuple(f.name for f in INTERNAL_FIELDS)
RAW_SCHEMA = pa.schema(list(SCHEMA) + INTERNAL_FIELDS)
