"""The one exception type for user mistakes.

Anything a user can get wrong (a spec file, a topology CSV, an axis value, a layer shape) raises
:class:`QuidamInputError` with a one-line message naming the value and what is allowed. The CLI turns
it into that line on stderr and exit status 2; everything else is a bug and keeps its traceback.
"""


class QuidamInputError(ValueError):
    """Invalid user input: the message names the offending value and what is allowed."""
