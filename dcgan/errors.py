"""Exceptions meant for people: each message says what was wrong and what to do next."""


class DcganError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class PathNotAllowed(DcganError):
    """A local path lies outside the allowed roots (message never says whether it exists)."""


class ImportRejected(DcganError):
    """A whole import source (archive, URL, folder) was refused."""


class ImageRejected(DcganError):
    """One image could not be used; `reason` is a short machine-friendly code."""

    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class DatasetError(DcganError):
    """A dataset is missing, empty, or too small for what was asked."""
