"""Errors that end the service with one sentence for the user, and how
errors show what a request gave."""

SHOWN_CHARS = 40


class StartupError(Exception):
    """The service cannot start; str(error) tells the user what to do."""


def shown(value: str) -> str:
    """A value for an error message, cut short: requests can be large."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 4] + "...'"
