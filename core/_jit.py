"""The package's one JIT decorator: every kernel is compiled with the same flags, set here.

Kernels are serial (the target machine has one effective core; ``parallel=True`` measured no gain) and
cached on disk, so only the first call on a fresh install pays the compile (about 10 s for all kernels,
see ``quidam_fast.warm_up``). ``fastmath`` stays off: results are compared exactly against references.
"""

import numba

JIT_FLAGS = dict(cache=True, fastmath=False, nogil=True)


def jit(function):
    """Compile ``function`` with the package's flags (see ``JIT_FLAGS``)."""
    return numba.njit(**JIT_FLAGS)(function)
