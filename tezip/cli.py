"""The ``tezip`` command line: pack, unpack, inspect, plugins (and commands from plugins).

Errors from tezip and the operating system become one line on stderr and exit status 1;
usage errors exit 2 (click's convention). No traceback reaches the user for a bad input.
"""

from __future__ import annotations

import json
import sys
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, BinaryIO

import click

from tezip import __version__, parameters
from tezip.api import DEFAULT_LEVEL, level_coder, pack, select_frames, unpack_to
from tezip.bounds import ErrorBound
from tezip.device import DEVICES
from tezip.errors import OptionError, OutputExistsError, TezipError, TezipWarning
from tezip.gops import GopPolicy
from tezip.inspection import describe_archive, format_description, verify_archive
from tezip.registry import get_registry
from tezip.termination import clean_termination

#: command-line flags of the API keywords that are not ``--`` plus the keyword
_FLAGS = {
    "predictor_options": "--predictor-opt",
    "entropy_options": "--entropy-opt",
    "fmt": "--format",
}


def _flag(option: str) -> str:
    return _FLAGS.get(option, "--" + option.replace("_", "-"))


class TezipGroup(click.Group):
    """A group that turns ``TezipError``, ``OSError`` and ``MemoryError`` into one-line
    messages: invalid options exit 2 as usage errors, other errors 1; warnings become one
    ``warning:`` line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with _warnings_as_lines():
                return super().invoke(ctx)
        except OptionError as exc:
            message = f"{exc.problem} [{exc.code}]"
            if not exc.options:
                raise click.UsageError(message) from None
            hint = [_flag(option) for option in exc.options]
            raise click.BadParameter(message, param_hint=hint) from None
        except OutputExistsError as exc:
            raise click.ClickException(
                f"{exc.what}; refusing to replace it (use --force) [{exc.code}]"
            ) from None
        except TezipError as exc:
            raise click.ClickException(f"{exc} [{exc.code}]") from None
        except OSError as exc:
            where = f"{exc.filename}: " if exc.filename else ""
            raise click.ClickException(f"{where}{exc.strerror or exc}") from None
        except MemoryError:  # a valid archive or input may need more than this machine has
            raise click.ClickException("not enough memory for these frames") from None


@contextmanager
def _warnings_as_lines() -> Iterator[None]:
    """Print each ``TezipWarning`` as one line on stderr (others as Python prints them)."""
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message: Warning | str, category: type[Warning], *args: Any) -> None:
            if issubclass(category, TezipWarning):
                click.echo(f"warning: {message}", err=True)
            else:
                shown(message, category, *args)

        warnings.showwarning = show
        warnings.simplefilter("always", TezipWarning)
        yield


def note_devices(requested: str, devices: tuple[str, ...]) -> None:
    """Say which GPU ``--device auto`` chose, when it chose one."""
    chosen = [device for device in devices if device != "cpu"]
    if requested == "auto" and chosen:
        click.echo(f"--device auto: ran on {', '.join(chosen)}", err=True)


@contextmanager
def progress_bar(total: int, label: str, quiet: bool) -> Iterator[Callable[[int], None] | None]:
    """A progress bar on a terminal's stderr; nothing with ``--quiet`` or when redirected."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    with click.progressbar(length=total, label=label, file=sys.stderr, width=30) as bar:
        yield bar.update


def _binary_stdin() -> BinaryIO:
    """stdin for ``-``, unless it is a terminal (nobody types an array or an archive)."""
    if sys.stdin.isatty():
        raise click.UsageError("- reads binary data from stdin, which is a terminal")
    return sys.stdin.buffer


def _binary_stdout() -> BinaryIO:
    """stdout for ``-``, unless it is a terminal (binary data would garble it)."""
    if sys.stdout.isatty():
        raise click.UsageError("- writes binary data to stdout, which is a terminal; redirect it")
    return sys.stdout.buffer


def parse_options(pairs: tuple[str, ...], flag: str) -> dict[str, Any]:
    """``key=value`` pairs; values are JSON literals where they parse, else strings."""
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint=flag)
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    return options


def parse_frames(text: str | None) -> slice | None:
    """``START:STOP``, ``START:`` , ``:STOP`` or a single index."""
    if text is None:
        return None
    start, sep, stop = text.partition(":")
    try:
        first = int(start) if start else None
        if not sep:
            return slice(first, None if first is None or first == -1 else first + 1)
        return slice(first, int(stop) if stop else None)
    except ValueError:
        raise click.BadParameter(
            f"expected START:STOP, got {text!r}", param_hint="--frames"
        ) from None


device_option = click.option(
    "--device",
    type=click.Choice(DEVICES),
    default="auto",
    show_default=True,
    help="Where learned predictors and GPU stages run.",
)


def threads_option(text: str) -> Callable[[Any], Any]:
    """``-T``/``--threads``: the one thread budget every pool honours (``tezip.parallel``)."""
    return click.option("-T", "--threads", type=click.IntRange(1), help=text)


@click.group(cls=TezipGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tezip")
def cli() -> None:
    """Error-bounded predictive compression of time-evolving image data."""


@cli.command("pack")
@click.argument("source", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str), help="Archive.")
@click.option("--lossless", is_flag=True, help="Bit-exact (the default when no bound is given).")
@click.option("--abs", "abs_", type=float, help="Every value within E of the original.")
@click.option("--rel", type=float, help="E = R x (max - min) of the whole input.")
@click.option("--pwrel", type=float, help="Every value within R x its own magnitude.")
@click.option(
    "--predictor",
    default="auto",
    show_default=True,
    help="Predictor id, or ids to choose among per GOP (a,b); 'auto' = the built-in ones.",
)
@click.option(
    "--predictor-opt",
    multiple=True,
    metavar="KEY=VALUE",
    help="Option of the predictors that take KEY (tezip plugins lists them).",
)
@click.option(
    "-l",
    "--level",
    type=int,
    default=DEFAULT_LEVEL,
    show_default=True,
    help="Speed against ratio, 1 (fastest) .. 9 (smallest), as zstd's levels.",
)
@click.option("--fast", is_flag=True, help="The fastest level (--level 1).")
@click.option("--entropy", help="Entropy stage id (default: the level's: tezip.rans, 1: zstd).")
@click.option("--entropy-opt", multiple=True, metavar="KEY=VALUE", help="e.g. effort=3.")
@click.option("--spatial", default="auto", show_default=True, help="Spatial stage id or 'none'.")
@click.option("--gop", default="auto", show_default=True, help="Frames per GOP, or auto[:MAX].")
@click.option("--model", type=click.Path(path_type=str), help="Model file for learned predictors.")
@click.option("--embed-model", is_flag=True, help="Store the model inside the archive.")
@device_option
@threads_option("Threads to use, or --dask local processes (default: all cores).")
@click.option(
    "--dask",
    type=click.Choice(["local"]),
    help="Encode on a Dask LocalCluster of --threads processes (pip install 'tezip[dask]').",
)
@click.option(
    "--scheduler", metavar="ADDRESS", help="Encode on this Dask cluster (tcp://host:8786)."
)
@click.option("-f", "--force", is_flag=True, help="Overwrite an existing archive.")
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def pack_command(
    source: str,
    output: str,
    lossless: bool,
    abs_: float | None,
    rel: float | None,
    pwrel: float | None,
    predictor: str,
    predictor_opt: tuple[str, ...],
    level: int,
    fast: bool,
    entropy: str | None,
    entropy_opt: tuple[str, ...],
    spatial: str,
    gop: str,
    model: str | None,
    embed_model: bool,
    device: str,
    threads: int | None,
    dask: str | None,
    scheduler: str | None,
    force: bool,
    quiet: bool,
) -> None:
    """Compress SOURCE (a .npy array, an image or a folder of images, a TIFF stack, an HDF5
    file[:/dataset] or a Zarr store[:/array]; - reads a .npy array from stdin) into an
    archive (- writes it to stdout)."""
    from tezip.io import open_source
    from tezip.io.npy import read_npy_stream

    ErrorBound.from_options(lossless=lossless, abs=abs_, rel=rel, pwrel=pwrel)  # before reading
    GopPolicy.parse(gop)  # the input, which may take long
    level = 1 if fast else level
    level_coder(level, entropy, None)
    target = _binary_stdout() if output == "-" else output
    frames = read_npy_stream(_binary_stdin()) if source == "-" else open_source(source)
    options: dict[str, Any] = {
        "lossless": lossless,
        "abs": abs_,
        "rel": rel,
        "pwrel": pwrel,
        "predictor": predictor,
        "predictor_options": parse_options(predictor_opt, "--predictor-opt"),
        "level": level,
        "entropy": entropy,
        "entropy_options": parse_options(entropy_opt, "--entropy-opt"),
        "spatial": spatial,
        "gop": gop,
        "model": model,
        "embed_model": embed_model,
        "device": device,
        "overwrite": force,
    }
    with progress_bar(len(frames), "packing", quiet) as update:
        if dask or scheduler:
            if dask and scheduler:
                raise click.UsageError("give --dask local or --scheduler ADDRESS, not both")
            if output == "-":
                raise click.UsageError("a Dask pack writes an archive file, not stdout")
            from tezip.cluster import pack_on_cluster

            where = scheduler or dask
            result = pack_on_cluster(
                frames, output, scheduler=where, threads=threads, progress=update, **options
            )
        else:
            result = pack(frames, target, threads=threads, progress=update, **options)
    if not quiet:
        click.echo(
            f"{result.path or '-'}: {result.frames} frames, {result.input_bytes} -> "
            f"{result.output_bytes} bytes (ratio {result.ratio:.3f})",
            err=True,
        )
        note_devices(device, result.devices)


@cli.command("unpack")
@click.argument("archive", type=click.Path(path_type=str))
@click.option("-o", "--output", required=True, type=click.Path(path_type=str))
@click.option("--frames", help="Only frames START:STOP (decodes only the GOPs needed).")
@click.option("--format", "fmt", type=click.Choice(["png", "tiff", "npy"]), help="Output kind.")
@threads_option("Threads to use (default: all cores).")
@click.option("--model", type=click.Path(path_type=str), help="Model file the archive needs.")
@device_option
@click.option(
    "-f",
    "--force",
    is_flag=True,
    help="Replace an existing output; in an existing folder, replace the images of the same "
    "names and leave other files as they are.",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bar or summary.")
def unpack_command(
    archive: str,
    output: str,
    frames: str | None,
    fmt: str | None,
    threads: int | None,
    model: str | None,
    device: str,
    force: bool,
    quiet: bool,
) -> None:
    """Decode ARCHIVE (- reads it from stdin) into OUTPUT: a .npy file (- writes one to
    stdout), a folder of images (a name ending in / or an existing folder), a TIFF stack
    (.tif), an HDF5 file[:/dataset] or a Zarr store[:/array]; by default the same kind of
    output as the packed input."""
    import tezip

    selection = parse_frames(frames)
    source = _binary_stdin().read() if archive == "-" else archive
    target = _binary_stdout() if output == "-" else output
    with warnings.catch_warnings():  # said once, by the decoding below
        warnings.simplefilter("ignore", TezipWarning)
        with tezip.open(source, model=model, device=device) as opened:
            total = len(select_frames(selection, len(opened)))
    with progress_bar(total, "unpacking", quiet) as update:
        result = unpack_to(
            source,
            target,
            frames=selection,
            fmt=fmt,
            threads=threads,
            progress=update,
            model=model,
            device=device,
            overwrite=force,
        )
    if not quiet:
        note_devices(device, result.devices)
    if result.converted_from:
        click.echo(
            f"note: the frames were packed from {result.converted_from.upper()} files, which "
            f"tezip does not write; they were written as {str(result.image_format).upper()} "
            "with the same pixels",
            err=True,
        )
    if not quiet:
        kind = f"{result.image_format.upper()} images" if result.image_format else ".npy file"
        click.echo(f"{result.path or '-'}: {result.frames} frames written ({kind})", err=True)


@cli.command("inspect")
@click.argument("archive", type=click.Path(path_type=str))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--verify", is_flag=True, help="Decode everything and check every checksum.")
@click.option("--model", type=click.Path(path_type=str), help="Model file the archive needs.")
@threads_option("Threads --verify uses (default: all cores).")
def inspect_command(
    archive: str, as_json: bool, verify: bool, model: str | None, threads: int | None
) -> None:
    """Show an archive's header, pipeline, GOPs and sizes."""
    description = describe_archive(archive)
    if verify:
        with progress_bar(description["header"]["frames"], "verifying", quiet=False) as update:
            verify_archive(archive, model=model, progress=update, threads=threads)
        description["verified"] = True
    if as_json:
        click.echo(json.dumps(description, indent=2))
    else:
        click.echo(format_description(description))


@cli.command("plugins")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def plugins_command(as_json: bool) -> None:
    """List installed predictors and stages with their versions."""
    registry = get_registry()
    listing = {
        "predictors": {i: _plugin_info(c) for i, c in sorted(registry.predictors.items())},
        "stages": {i: _plugin_info(c) for i, c in sorted(registry.stages.items())},
        "distributions": registry.distributions(),
    }
    if as_json:
        click.echo(json.dumps(listing, indent=2))
        return
    for kind in ("predictors", "stages"):
        click.echo(f"{kind}:")
        for identifier, info in listing[kind].items():
            click.echo(f"  {identifier:<20} v{info['version']}  {info['summary']}")
            if info["devices"] != ["cpu"]:
                click.echo(f"  {'':<20}     devices: {', '.join(info['devices'])}")
            if info["options"] != "none":
                click.echo(f"  {'':<20}     options: {info['options']}")


def _plugin_info(cls: type) -> dict[str, Any]:
    doc = (cls.__doc__ or "").strip().splitlines()
    return {
        "version": getattr(cls, "version", 1),
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "summary": doc[0] if doc else "",
        "devices": list(getattr(cls, "devices", ("cpu",))),
        "options": parameters.allowed(cls),
    }


def main() -> None:
    """Console-script entry point (adds plugin commands first); SIGTERM and SIGHUP clean up
    the outputs being written, as Ctrl-C does."""
    try:
        get_registry().manager.hook.tezip_add_commands(cli=cli)
    except TezipError as exc:
        click.echo(f"Error: {exc} [{exc.code}]", err=True)
        sys.exit(1)
    with clean_termination():
        cli()
