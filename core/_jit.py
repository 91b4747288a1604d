"""The package's one JIT decorator: every kernel is compiled with the same flags, set here.

Kernels are serial (the target machine has one effective core; ``parallel=True`` measured no gain) and
cached on disk, so only the first call on a fresh install pays the compile (about 10 s for all kernels,
see ``quidam_fast.warm_up``). ``fastmath`` stays off: results are compared exactly against references.
"""

import numba
from numba.extending import intrinsic

JIT_FLAGS = dict(cache=True, fastmath=False, nogil=True)


def jit(function=None, *, inline: bool = False):
    """Compile ``function`` with the package's flags (see ``JIT_FLAGS``).

    ``inline=True`` inlines it into its callers in numba's IR (``inline='always'``): a helper that takes
    arrays and is called in a hot loop then costs no reference counting per call (a call increments and
    decrements each array argument's count, atomically, and LLVM's inlining does not remove those).
    """
    if function is None:
        return lambda f: jit(f, inline=inline)
    return numba.njit(inline="always" if inline else "never", **JIT_FLAGS)(function)


@intrinsic
def borrowed(typingctx, array):
    """A view of ``array`` that owns no reference to its memory (no meminfo, as ``numba.carray`` gives).

    Passing it to functions costs no reference counting. The caller must keep ``array`` (or whatever
    owns its memory) alive for as long as the view is used.
    """
    def codegen(context, builder, signature, args):
        source = context.make_array(array)(context, builder, value=args[0])
        view = context.make_array(array)(context, builder)
        context.populate_array(view, data=source.data, shape=source.shape, strides=source.strides,
                               itemsize=source.itemsize, meminfo=None, parent=None)
        return view._getvalue()

    return array(array), codegen


if numba.config.DISABLE_JIT:  # plain Python (.ci/kernel-coverage): an intrinsic cannot run, a view is the array
    def borrowed(array):  # noqa: F811
        return array
