"""Errors the harness reports to people: one line that says what is wrong and how to fix it."""


class InputError(Exception):
    """Bad input from the user (an option, a file): reported as one line, exit non-zero, nothing run."""


class CheckError(Exception):
    """A requirement could not be checked (API failure, missing data): reported as broken, never passed.

    ``hint`` says what to do about it, for example the permission the verifying identity lacks.
    """

    def __init__(self, message: str, hint: str = "", *, code: str = "") -> None:
        self.message = message
        self.hint = hint
        #: The API's error code where one answered (NoSuchEntity, AccessDenied, Throttling...), else "".
        self.code = code
        super().__init__(f"{message}. {hint}" if hint else message)
