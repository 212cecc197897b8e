"""Exceptions of the engine: the three failure levels of spec §8.1, minus reported errors."""

from __future__ import annotations


class BatchError(Exception):
    """Stops the batch: its message becomes ``EXCEPTION: Error during import: <message>``."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class SetupError(Exception):
    """A value transformer could not be built (e.g. ``Date format not specified for …``)."""

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ModelError(ValueError):
    """A model definition was rejected; ``problems`` lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("Invalid model definition:\n  " + "\n  ".join(problems))
        self.problems = list(problems)
