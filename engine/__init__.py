"""The pure import engine: Haplo's data import framework on a record store.

No HTTP, no files, no database handles: the gateway passes a control file (parsed
JSON), a :class:`Model`, :class:`BatchFile` streams and a :class:`TargetStore`.
"""

from engine.batch import BatchOutcome, PreparedBatch, prepare_batch, run_batch
from engine.control import model_warnings, validate_control
from engine.datatypes import DATA_TYPES
from engine.errors import BatchError, ModelError
from engine.filters import FILTERS, describe_filters
from engine.jsvalues import UNDEFINED, Ref
from engine.models import Destination, Model, NameSpec
from engine.ports import BatchFile, StoreError, TargetStore, TargetWrite
from engine.processors import RECORD_PROCESSORS
from engine.readers import READERS
from engine.readers.base import HINTS_VERSION
from engine.report import MAX_ERRORS_TO_REPORT, TOO_MANY_ERRORS, ReportedError

__all__ = [
    "DATA_TYPES",
    "FILTERS",
    "HINTS_VERSION",
    "MAX_ERRORS_TO_REPORT",
    "READERS",
    "RECORD_PROCESSORS",
    "TOO_MANY_ERRORS",
    "UNDEFINED",
    "BatchError",
    "BatchFile",
    "BatchOutcome",
    "Destination",
    "Model",
    "ModelError",
    "NameSpec",
    "PreparedBatch",
    "Ref",
    "ReportedError",
    "StoreError",
    "TargetStore",
    "TargetWrite",
    "describe_filters",
    "model_warnings",
    "prepare_batch",
    "run_batch",
    "validate_control",
]
