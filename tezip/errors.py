"""The ``TezipError`` tree.

Every error tezip raises on purpose derives from :class:`TezipError`, carries a stable
``code`` (for scripts and tests) and also inherits the matching built-in exception, so
callers may catch ``ValueError`` or ``KeyError`` as they would elsewhere. The CLI turns
these into one-line messages; nothing else does.
"""

from __future__ import annotations


class TezipError(Exception):
    """Base of every tezip error; ``code`` is stable across releases."""

    code = "tezip"

    def __str__(self) -> str:  # KeyError quotes its message; we never want that
        return str(self.args[0]) if self.args else self.code


class InputError(TezipError, ValueError):
    """The frames or options given to tezip cannot be used."""

    code = "input"


class OptionError(InputError):
    """An option given to the API or the command line is invalid (the CLI exits 2).

    ``options`` names the options at fault by their API keywords (``abs``, ``gop``...), so
    the command line can name its own flags; ``problem`` is the message without them.
    """

    code = "input.option"

    def __init__(self, problem: str, *options: str) -> None:
        super().__init__(f"{' and '.join(options)}: {problem}" if options else problem)
        self.problem = problem
        self.options = options


class BoundError(OptionError):
    """An error-bound option is invalid (negative, NaN, conflicting modes)."""

    code = "input.bound"


class OutputExistsError(InputError):
    """The output exists and replacing it was not asked for.

    ``what`` describes the output without the remedy, which the API and the CLI word apart.
    """

    code = "input.exists"

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}; refusing to replace it (pass overwrite=True)")
        self.what = what


class FormatError(TezipError, ValueError):
    """An archive is not a valid ``.tez`` file or is damaged."""

    code = "format"


class SignatureError(FormatError):
    """The file does not start with the ``.tez`` signature (or it was mangled in transfer)."""

    code = "format.signature"


class VersionError(FormatError):
    """The archive's format major version is newer than this reader."""

    code = "format.version"


class TruncatedError(FormatError):
    """The archive ends before a structure it declares."""

    code = "format.truncated"


class ChecksumError(FormatError):
    """A stored CRC does not match the bytes it protects."""

    code = "format.crc"


class HeaderError(FormatError):
    """The header is oversized, malformed or violates the schema."""

    code = "format.header"


class SectionError(FormatError):
    """A section is unknown-and-critical, misplaced, overlapping or malformed."""

    code = "format.section"


class StreamError(FormatError):
    """A stage's encoded stream is malformed."""

    code = "format.stream"


class IntegrityError(TezipError, ValueError):
    """A decoded frame does not match the checksum the encoder stored."""

    code = "integrity"


class ModelError(TezipError, ValueError):
    """The model a learned predictor needs is missing, unreadable or not the recorded one."""

    code = "model"


class PluginError(TezipError):
    """A plugin is missing, broken or conflicts with another."""

    code = "plugin"


class UnknownIdError(PluginError, KeyError):
    """No installed plugin provides the requested stage or predictor id."""

    code = "plugin.unknown"


class DuplicateIdError(PluginError):
    """Two plugins register the same id."""

    code = "plugin.duplicate"


class DependencyError(TezipError, ImportError):
    """An optional dependency (torch, cupy...) needed for this step is not installed."""

    code = "dependency"


class DeviceError(TezipError, RuntimeError):
    """The GPU failed at its work: out of memory, a failed kernel launch, a lost device."""

    code = "device"


class TezipWarning(UserWarning):
    """Something works but is probably not what was meant (the CLI prints one line)."""
