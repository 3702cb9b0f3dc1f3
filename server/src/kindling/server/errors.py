"""Errors that end the service with one sentence for the user."""


class StartupError(Exception):
    """The service cannot start; str(error) tells the user what to do."""
