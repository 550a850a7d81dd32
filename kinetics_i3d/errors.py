"""The exception for expected user mistakes (a bad flag value, a missing or malformed file).

Library code raises `UserError` with a one-line message that names the flag, file or value and
what was expected; command-line tools print it as one `error: ...` line on stderr and exit 1, with
no traceback. Anything else that escapes is a bug and keeps its traceback. A subclass of
`ValueError`, so callers that already catch `ValueError` keep working.
"""


class UserError(ValueError):
    """An expected user mistake; the message is one line meant for the user."""


class ClassCountError(UserError):
    """A checkpoint's class count does not match the label map / the other stream."""
