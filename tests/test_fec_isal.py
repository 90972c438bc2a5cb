"""pydpdk's Reed-Solomon parity and decoding equal Intel ISA-L's for the same matrix.

ISA-L's own generator (gf_gen_cauchy1_matrix) is a different Cauchy matrix,
so the test hands pydpdk's matrix (documented in native/fec/fec.h:
coefficient of source j in parity row i is 1 / (i XOR (m + j)) over GF(2^8)
with polynomial 0x11D, the field ISA-L also uses) to ec_init_tables and
ec_encode_data.  Decoding is checked the ISA-L way: invert the k x k matrix
of the surviving rows with gf_invert_matrix.  Every kernel pydpdk has on this
CPU is compared.  Needs ISA-L's shared library (Debian's libisal2, installed
by `make deps`); PYDPDK_ISAL_LIB may name another build of it.  Skipped when
neither is present.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import numpy as np
import pytest

from pydpdk import fec

KERNELS = fec.available_kernels()


def _load_isal() -> ctypes.CDLL | None:
    path = os.environ.get("PYDPDK_ISAL_LIB") or ctypes.util.find_library("isal")
    if not path:
        return None
    try:
        lib = ctypes.CDLL(path)
    except OSError:
        return None
    p, i = ctypes.c_void_p, ctypes.c_int
    lib.ec_init_tables.argtypes = [i, i, p, p]
    lib.ec_init_tables.restype = None
    lib.ec_encode_data.argtypes = [i, i, i, p, p, p]
    lib.ec_encode_data.restype = None
    lib.gf_invert_matrix.argtypes = [p, p, i]
    lib.gf_invert_matrix.restype = i
    return lib


ISAL = _load_isal()
pytestmark = pytest.mark.skipif(ISAL is None, reason="ISA-L shared library (libisal2) not found")


def _gf_tables() -> tuple[list[int], list[int]]:
    """exp/log tables of GF(2^8) mod x^8+x^4+x^3+x^2+1, generator 2 (built here,
    independently of the C code)."""
    exp, log = [0] * 510, [0] * 256
    x = 1
    for i in range(255):
        exp[i] = exp[i + 255] = x
        log[x] = i
        x <<= 1
        if x & 0x100:
            x ^= 0x11D
    return exp, log


EXP, LOG = _gf_tables()


def gf_inv(a: int) -> int:
    return EXP[(255 - LOG[a]) % 255]


def pydpdk_matrix(k: int, m: int) -> np.ndarray:
    """The m x k generator rows pydpdk documents for RS."""
    return np.array([[gf_inv(r ^ (m + c)) for c in range(k)] for r in range(m)], dtype=np.uint8)


def _ptrs(rows: np.ndarray) -> ctypes.Array:
    """char ** over the rows of a 2-D uint8 array."""
    arr = (ctypes.c_void_p * rows.shape[0])()
    for i in range(rows.shape[0]):
        arr[i] = rows[i].ctypes.data
    return arr


def isal_apply(matrix: np.ndarray, inputs: np.ndarray) -> np.ndarray:
    """ec_init_tables(matrix) + ec_encode_data over inputs: (rows, L) outputs."""
    assert ISAL is not None
    rows, k = matrix.shape
    length = inputs.shape[1]
    mat = np.ascontiguousarray(matrix, dtype=np.uint8)
    tables = np.zeros(32 * k * rows, dtype=np.uint8)
    ISAL.ec_init_tables(k, rows, mat.ctypes.data, tables.ctypes.data)
    out = np.full((rows, length), 0xA5, dtype=np.uint8)
    ISAL.ec_encode_data(length, k, rows, tables.ctypes.data, _ptrs(inputs), _ptrs(out))
    return out


SHAPES = [(10, 4), (1, 1), (4, 1), (8, 2), (20, 5), (32, 8), (6, 12), (100, 30)]
LENGTHS = [1, 31, 63, 64, 65, 200, 1400, 9000]


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("k,m", SHAPES)
def test_parity_equals_isal(kernel: str, k: int, m: int) -> None:
    rng = np.random.default_rng(k * 1000 + m)
    codec = fec.BlockCodec(k, m, kernel=kernel)
    matrix = pydpdk_matrix(k, m)
    for length in LENGTHS:
        data = rng.integers(0, 256, (k, length), dtype=np.uint8)
        ours = codec.encode(data)
        theirs = isal_apply(matrix, data)
        assert np.array_equal(ours, theirs), f"parity differs: k={k} m={m} L={length}"


def test_matrix_is_what_the_codec_uses() -> None:
    """Parity of unit vectors reads the generator back: pydpdk_matrix() is the
    codec's matrix, so the comparison above is for the same code."""
    k, m = 10, 4
    codec = fec.BlockCodec(k, m)
    unit = np.eye(k, dtype=np.uint8)
    assert np.array_equal(codec.encode(unit), pydpdk_matrix(k, m))


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("k,m", [(10, 4), (20, 5), (32, 8), (4, 1)])
def test_decode_equals_isal(kernel: str, k: int, m: int) -> None:
    """Lose m symbols (sources and repairs mixed); pydpdk's reconstruct and the
    ISA-L decode (survivor matrix inverted by gf_invert_matrix) both give the
    original sources."""
    assert ISAL is not None
    rng = np.random.default_rng(7 * k + m)
    codec = fec.BlockCodec(k, m, kernel=kernel)
    generator = np.vstack([np.eye(k, dtype=np.uint8), pydpdk_matrix(k, m)])
    for trial in range(12):
        length = int(rng.choice([64, 1400, 777 + trial]))
        data = rng.integers(0, 256, (k, length), dtype=np.uint8)
        symbols = np.vstack([data, codec.encode(data)])
        lost = rng.choice(k + m, size=m, replace=False)
        present = np.ones(k + m, dtype=bool)
        present[lost] = False

        survivors = np.flatnonzero(present)[:k]
        sub = np.ascontiguousarray(generator[survivors])
        inverse = np.zeros((k, k), dtype=np.uint8)
        assert ISAL.gf_invert_matrix(sub.ctypes.data, inverse.ctypes.data, k) == 0
        theirs = isal_apply(inverse, np.ascontiguousarray(symbols[survivors]))

        work = symbols.copy()
        work[~present] = 0
        rebuilt = codec.reconstruct(work, present)
        assert rebuilt == int(np.count_nonzero(~present[:k]))
        assert np.array_equal(theirs, data)
        assert np.array_equal(work[:k], data)
