"""Why a bulk load ends early."""

from __future__ import annotations

from gateway.jobs.service import JobError


class SourceError(Exception):
    """Reading the input failed (download, S3): the load ends with this message."""


class LoadFailed(JobError):
    """The load stopped at a bad row; the message names it (the job ends with ERROR)."""
