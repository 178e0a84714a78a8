"""What every method is: a configuration that knows how to place itself."""

import dataclasses
from typing import ClassVar


@dataclasses.dataclass
class Trained:
    """One variable a method trains, under a stable name, in a group."""

    group: str
    key: str
    variable: object


@dataclasses.dataclass
class MethodConfig:
    """Base of every method's configuration.

    A subclass is a dataclass of the method's settings (every default is the
    paper's) and implements `validate(wiring)`, which raises before anything
    changes, and `apply(wiring)`, which places the method's layers through
    the wiring and returns the list of `Trained` variables.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def validate(self, wiring):
        pass

    def apply(self, wiring):
        raise NotImplementedError

    @property
    def default_learning_rate(self):
        return self.learning_rate

    def get_config(self):
        """The method's name and settings, JSON-serialisable."""
        config = {"method": self.name}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            config[field.name] = list(value) if isinstance(value, tuple) else value
        return config

    def settings(self):
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
