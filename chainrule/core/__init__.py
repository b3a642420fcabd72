"""The core: abstract values, primitives, traces and the one dispatch (`bind`), the array
functions everything is written with (`ops`, `linalg`), named axes and pytrees."""
