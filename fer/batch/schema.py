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
    + [("error", pa.string())]
)
# Internal columns between the actors and the join: which chunk of its input a row comes from, how
# many chunks that input has, and how many rows its chunk gave (so the driver knows when it is whole).
INTERNAL = ("_chunk", "_chunks", "_rows")
RAW_SCHEMA = pa.schema(list(SCHEMA) + [pa.field(name, pa.int32()) for name in INTERNAL])
