"""The one error type of doclrp.

>>> from doclrp.errors import DoclrpError
>>> isinstance(DoclrpError("x"), ValueError)
True
"""

__all__ = ["DoclrpError"]


class DoclrpError(ValueError):
    """One error type for doclrp; the message names the problem and the fix."""
