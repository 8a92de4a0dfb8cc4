"""The judge's wire format: plain data in length-prefixed frames over a pipe, no pickle.

The grader and the judge process (:mod:`autograder.judge_worker`, which runs the student's code)
exchange *frames*: an 8-byte big-endian length, then a JSON header (its own 4-byte length first)
and the raw bytes of any numpy arrays. The header says, for every array, its dtype, shape, offset
and size; :func:`decode_frame` checks all of that against the bytes that arrived before building
anything, so a hostile judge process can make the grader read at most ``max_bytes`` and never
decompress, unpickle or allocate more than it sent.

Values that cross: None, bools, ints, floats (inf and NaN included), strings, numpy arrays and
scalars of bool/int/uint/float/complex dtypes, and tuples, lists and str-keyed dicts of those
(torch tensors travel as arrays). Anything else arrives as an :class:`Opaque` that names its type.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import Any

import numpy as np

__all__ = ["FrameError", "Opaque", "decode", "decode_frame", "encode", "encode_frame", "read_frame",
           "write_frame", "MAX_FRAME", "MAX_HEADER"]

#: Largest frame the grader accepts from a judge process (the outputs of one call).
MAX_FRAME = 256 * 1024 * 1024
#: Largest JSON header of a frame (the structure of an answer, its strings and numbers).
MAX_HEADER = 16 * 1024 * 1024
_MAX_DEPTH = 64
_MAX_ITEMS = 100_000
_KINDS = "biufc"  # bool, int, uint, float, complex: no objects, strings or raw void


class FrameError(Exception):
    """A frame that is too large, truncated, late or malformed."""


class Opaque:
    """Stands for a value that cannot cross as data (a module, a function, a custom object)."""

    def __init__(self, type_name: str):
        self.type_name = str(type_name)[:100]

    def __repr__(self) -> str:
        return f"<a {self.type_name} object>"

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Opaque) and other.type_name == self.type_name

    __hash__ = None


def encode(value: Any, arrays: list[np.ndarray], depth: int = 0) -> Any:
    """``value`` as a JSON-able tree; arrays are appended to ``arrays`` and referenced by index."""
    if depth > _MAX_DEPTH:
        return {"opaque": "deeply nested value"}
    if value is None or isinstance(value, (bool, str)):
        return {"v": value}
    if isinstance(value, int):
        return {"int": str(value)} if abs(value) >= 2**53 else {"int": value}
    if isinstance(value, float):
        return {"float": value if math.isfinite(value) else repr(value)}
    module = type(value).__module__ or ""
    if module.startswith("torch") and hasattr(value, "detach"):
        try:
            value = value.detach().cpu().numpy()
        except Exception:
            return {"opaque": type(value).__name__}
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if arr.dtype.kind not in _KINDS:
            return {"opaque": f"array of dtype {arr.dtype}"}
        arrays.append(arr.copy(order="C"))  # (np.ascontiguousarray would make a 0-d array 1-d)
        return {"array": len(arrays) - 1, "scalar": isinstance(value, np.generic)}
    if isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list":
                [encode(v, arrays, depth + 1) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"dict": {k: encode(v, arrays, depth + 1) for k, v in value.items()}}
    return {"opaque": type(value).__name__}


def decode(node: Any, arrays: list[np.ndarray], unpickle: bool = False) -> Any:
    """The value of an :func:`encode` tree (raises :class:`FrameError` on anything else).

    Pickled values are loaded only with ``unpickle`` — in the judge process, from the grader."""
    count = [0]

    def walk(n: Any, depth: int) -> Any:
        count[0] += 1
        if depth > _MAX_DEPTH or count[0] > _MAX_ITEMS or not isinstance(n, dict) or len(n) not in (1, 2):
            raise FrameError("malformed value")
        if "v" in n:
            if n["v"] is not None and not isinstance(n["v"], (bool, str)):
                raise FrameError("malformed value")
            return n["v"]
        if "int" in n:
            return int(n["int"])
        if "float" in n:
            return float(n["float"])
        if "array" in n:
            index = n["array"]
            if type(index) is not int or not 0 <= index < len(arrays):
                raise FrameError("malformed array reference")
            return arrays[index][()] if n.get("scalar") else arrays[index]
        if "tuple" in n or "list" in n:
            items = n.get("tuple", n.get("list"))
            if not isinstance(items, list):
                raise FrameError("malformed value")
            values = [walk(v, depth + 1) for v in items]
            return tuple(values) if "tuple" in n else values
        if "dict" in n:
            if not isinstance(n["dict"], dict):
                raise FrameError("malformed value")
            return {str(k): walk(v, depth + 1) for k, v in n["dict"].items()}
        if "opaque" in n:
            return Opaque(n["opaque"])
        if "pickled" in n and unpickle:
            import pickle

            return pickle.loads(arrays[n["pickled"]].tobytes())
        raise FrameError("malformed value")

    try:
        return walk(node, 0)
    except (ValueError, TypeError, OverflowError) as err:
        raise FrameError(f"malformed value ({type(err).__name__})") from None


def encode_frame(message: dict, arrays: list[np.ndarray] = ()) -> bytes:
    """One frame: ``message`` (JSON) and the raw bytes of ``arrays``."""
    specs, blobs, offset = [], [], 0
    for arr in arrays:
        data = arr.tobytes()
        specs.append({"dtype": arr.dtype.str, "shape": list(arr.shape), "offset": offset, "nbytes": len(data)})
        blobs.append(data)
        offset += len(data)
    header = json.dumps({"message": message, "arrays": specs}, allow_nan=True).encode()
    body = struct.pack(">I", len(header)) + header + b"".join(blobs)
    return struct.pack(">Q", len(body)) + body


def decode_frame(body: bytes) -> tuple[dict, list[np.ndarray]]:
    """The message and arrays of a frame body, every size checked before use."""
    if len(body) < 4:
        raise FrameError("truncated frame")
    (size,) = struct.unpack(">I", body[:4])
    if size > len(body) - 4:
        raise FrameError("truncated frame header")
    if size > MAX_HEADER:  # the bulk travels as arrays: a huge JSON header would only cost the grader memory
        raise FrameError(f"a frame header of {size:,} bytes is over the limit of {MAX_HEADER:,}")
    try:
        header = json.loads(body[4:4 + size])
    except (ValueError, RecursionError) as err:
        raise FrameError(f"malformed frame header ({type(err).__name__})") from None
    if not isinstance(header, dict) or not isinstance(header.get("message"), dict) \
            or not isinstance(header.get("arrays"), list) or len(header["arrays"]) > _MAX_ITEMS:
        raise FrameError("malformed frame header")
    data = memoryview(body)[4 + size:]
    arrays = []
    for spec in header["arrays"]:
        try:
            dtype = np.dtype(str(spec["dtype"]))
            shape = tuple(int(s) for s in spec["shape"])
            offset, nbytes = int(spec["offset"]), int(spec["nbytes"])
        except (KeyError, TypeError, ValueError) as err:
            raise FrameError(f"malformed array ({type(err).__name__})") from None
        if dtype.kind not in _KINDS or dtype.hasobject or len(shape) > 32 or any(s < 0 for s in shape):
            raise FrameError(f"unsupported array dtype {dtype} or shape {shape}")
        if math.prod(shape) * dtype.itemsize != nbytes or offset < 0 or offset + nbytes > len(data):
            raise FrameError("array sizes do not match the frame")
        arrays.append(np.frombuffer(data[offset:offset + nbytes], dtype=dtype).reshape(shape).copy())
    return header["message"], arrays


def write_frame(fd: int, message: dict, arrays: list[np.ndarray] = (), deadline: float | None = None) -> None:
    """Send one frame on ``fd``; with ``deadline`` (time.monotonic), never block past it."""
    data = memoryview(encode_frame(message, arrays))
    while data:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise FrameError("the judge process stopped reading (time limit)")
        try:
            n = os.write(fd, data[:1 << 20])
        except BlockingIOError:
            continue
        except (BrokenPipeError, OSError) as err:
            raise FrameError(f"the judge process is gone ({type(err).__name__})") from None
        data = data[n:]


def _read_exactly(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError("no answer from the judge process in time")
        try:
            chunk = os.read(fd, min(n - got, 1 << 20))
        except BlockingIOError:
            continue
        if not chunk:
            raise EOFError("the judge process ended")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int, deadline: float | None = None, max_bytes: int = MAX_FRAME) -> tuple[dict, list[np.ndarray]]:
    """Read one frame from ``fd``. Raises TimeoutError past ``deadline``, EOFError when the writer
    is gone, :class:`FrameError` for a frame over ``max_bytes`` or a malformed one."""
    (size,) = struct.unpack(">Q", _read_exactly(fd, 8, deadline))
    if size > max_bytes:
        raise FrameError(f"an answer of {size:,} bytes is over the limit of {max_bytes:,}")
    return decode_frame(_read_exactly(fd, size, deadline))
