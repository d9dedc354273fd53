"""`keras-convert`: inspect a model file, or convert it to the other API, from the shell.

    keras-convert inspect model.h5
    keras-convert convert model.h5 --to functional -o model_functional.keras
    keras-convert export model.h5 --format onnx -o model.onnx

`convert` checks the result with `assert_equivalent`, writes it to a temporary file next to
the output, loads that file back and checks it again, and only then puts it in place;
`export` writes its artefact (a file, or a SavedModel folder) the same way, after
`keras_convert.export` has run it in its own runtime and compared it with the model.
`keras_convert._placement` puts files in place: never over an existing one without `--force`,
never a partial one, Ctrl-C and SIGTERM included. Once the output is in place it stays, even
if the report cannot be printed (`_print_report`). Errors print one line on stderr and exit
with a code that says what went wrong (see EXIT_CODES); a failure the command line did not
foresee is a bug, reported as such (`--debug`, or the environment variable
KERAS_CONVERT_DEBUG=1, prints its traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import os
import stat
import sys
import traceback
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

from keras_convert._placement import (
    PlacementError,
    Terminated,
    place,
    reason,
    sigterm_raises,
    temporary_beside,
)
from keras_convert._process import c_stderr_closed
from keras_convert.errors import ModelFileError
from keras_convert.files import MAX_LAYERS, inspect_file

# TensorFlow's C++ log lines at run time stay off stderr; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXIT_CODES = {
    0: "success",
    1: "the model cannot be converted or exported exactly (the message names the layer, "
    "operation or package)",
    2: "wrong command-line usage",
    3: "an input file is missing, unreadable, or not a Keras model",
    4: "the output cannot be written (it exists without --force, or its name does not fit "
    "the format)",
    5: "an internal error: a bug in keras-convert (please report it; --debug shows where)",
    130: "interrupted (Ctrl-C); nothing was written",
    143: "terminated (SIGTERM); nothing was written",
}
DEBUG_VARIABLE = "KERAS_CONVERT_DEBUG"
# The command line's names of the formats `keras_convert.export` writes, with the name each
# output must end in (None: a SavedModel is a folder, named freely).
EXPORT_FORMATS = {"onnx": "onnx", "litert": "litert", "saved_model": "tf_saved_model"}
EXPORT_SUFFIX = {"onnx": ".onnx", "litert": ".tflite", "saved_model": None}
# What a caller of the library passes to fix what `ModelFileError.needs` names, on the
# command line.
FLAG_FOR = {
    "custom_objects": "pass --import MODULE, a module that registers it",
    "unsafe": "if you trust this file, pass --unsafe",
    "max_layers": "if you trust this file, pass --max-layers N",
}


class CommandError(Exception):
    """A failure to report in one line, with its exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def run() -> NoReturn:
    """The `keras-convert` console script and `python -m keras_convert`: `main`, then exit.

    At exit Python collects garbage several times over every object still alive, and after
    importing TensorFlow that is about 400,000 of them: over a second, a quarter of a short
    command's time. Freezing them first (`gc.freeze`) skips those passes."""
    status = main()
    gc.freeze()
    sys.exit(status)


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line; returns the exit status."""
    parser = _parser()
    arguments = parser.parse_args(argv)
    if arguments.command == "convert" and arguments.group_branches and arguments.to != "sequential":
        parser.error("--group-branches applies to --to sequential only")
    debug = arguments.debug or os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
    try:
        with sigterm_raises():
            return _command(arguments, debug)
    except CommandError as error:
        _report(str(error))
        return error.code
    except PlacementError as error:
        _report(str(error))
        return 4
    except KeyboardInterrupt:
        _report("interrupted; nothing was written")
        return 130
    except Terminated:
        _report("terminated; nothing was written")
        return 143
    except Exception as error:
        return _internal_error(error, debug)


def _command(arguments: argparse.Namespace, debug: bool) -> int:
    if arguments.command == "inspect":
        # Mistakes in the paths are reported before the seconds-long import of Keras.
        problems = {name: _problem(Path(name)) for name in arguments.files}
        if all(problems.values()):
            for problem in problems.values():
                _report(str(problem))
            return 3
    else:
        check_input(Path(arguments.file))
        check_output(
            Path(arguments.output), force=arguments.force, format=getattr(arguments, "format", None)
        )
    with _quiet():
        _import_keras_quietly()
        for module in arguments.imports:
            import_module(module)
        if arguments.command == "inspect":
            return _inspect_each(
                arguments.files,
                problems,
                unsafe=arguments.unsafe,
                max_layers=arguments.max_layers,
                debug=debug,
            )
        if arguments.command == "export":
            lines = export_file(
                Path(arguments.file),
                Path(arguments.output),
                format=arguments.format,
                force=arguments.force,
                unsafe=arguments.unsafe,
                max_layers=arguments.max_layers,
            )
        else:
            lines = convert_file(
                Path(arguments.file),
                Path(arguments.output),
                to=arguments.to,
                group_branches=arguments.group_branches,
                force=arguments.force,
                unsafe=arguments.unsafe,
                max_layers=arguments.max_layers,
            )
    _print_report(lines, Path(arguments.output))
    return 0


def _print_report(lines: Sequence[str], output: Path) -> None:
    """Prints what `convert` or `export` did once its output is in place. The file is kept whatever
    happens to the report: a name that stdout cannot encode is escaped, and a report that
    cannot be written (a full disk, a closed pipe) is said on stderr; the exit code stays 0."""
    text = "\n".join(lines) + "\n"
    try:
        try:
            sys.stdout.write(text)
        except UnicodeEncodeError:
            encoding = sys.stdout.encoding or "utf-8"
            sys.stdout.buffer.write(text.encode(encoding, "backslashreplace"))
        sys.stdout.flush()
    except (OSError, ValueError) as error:
        # Whatever stdout still buffers would fail again when Python exits.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        why = reason(error) if isinstance(error, OSError) else str(error)
        print(
            f"keras-convert: wrote '{output}', but could not print the report: {why}",
            file=sys.stderr,
            flush=True,
        )


def _problem(path: Path) -> CommandError | None:
    try:
        check_input(path)
    except CommandError as error:
        return error
    return None


def _inspect_each(
    files: Sequence[str], problems: dict, *, unsafe: bool, max_layers: int, debug: bool
) -> int:
    """Inspects the files in turn, printing as it goes; one that fails is reported in one
    line and the others are still inspected. Returns the first failure's exit code, or 0."""
    status, printed = 0, False
    for name in files:
        try:
            if problems[name] is not None:
                raise problems[name]
            lines = inspect_file_lines(Path(name), unsafe=unsafe, max_layers=max_layers)
        except CommandError as error:
            _report(str(error))
            status = status or error.code
            continue
        except Exception as error:
            status = status or _internal_error(error, debug, what=f"inspecting '{name}'")
            continue
        print("\n".join(["", *lines] if printed else lines), flush=True)
        printed = True
    return status


def _report(message: str) -> None:
    sys.stdout.flush()
    print(f"keras-convert: error: {message}", file=sys.stderr, flush=True)


def _internal_error(error: Exception, debug: bool, what: str = "") -> int:
    """Reports a failure the command line did not foresee: a bug. Returns exit code 5."""
    if debug:
        sys.stdout.flush()
        traceback.print_exception(error, file=sys.stderr)
    detail = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
    where = f" while {what}" if what else ""
    hint = "" if debug else f" (--debug or {DEBUG_VARIABLE}=1 shows the traceback)"
    _report(
        f"internal error{where}: {type(error).__name__}: {detail}; this is a bug in "
        f"keras-convert, please report it{hint}"
    )
    return 5


def inspect_file_lines(
    path: Path, *, unsafe: bool = False, max_layers: int = MAX_LAYERS
) -> list[str]:
    """What `keras-convert inspect` prints about the model in `path`, line by line."""
    import keras

    from keras_convert.graph import is_graph_model

    model = load(path, unsafe=unsafe, max_layers=max_layers)
    lines = [f"file:        {path}"]
    if not is_graph_model(model):
        lines += [
            f"api:         subclassed ({type(model).__name__}, model '{model.name}')",
            "sequential:  no: its computation is Python code in call(), not a graph of "
            "layers; in Python, keras_convert.to_functional traces call() into one where it can",
        ]
        return lines
    api = "Sequential" if isinstance(model, keras.Sequential) else "Functional"
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    nested = sum(isinstance(layer, keras.Model) for layer in layers)
    lines += [
        f"api:         {api} (model '{model.name}')",
        f"layers:      {len(layers)}" + (f", {nested} of them nested models" if nested else ""),
    ]
    if not model.built:
        return [
            *lines,
            "parameters:  unknown: the model is not built (the file records no input shape)",
            "sequential:  yes: it is a Sequential model (unbuilt: to convert it, build it in "
            "Python with an input shape)",
        ]
    trainable = sum(int(_size(w)) for w in model.trainable_weights)
    return [
        *lines,
        f"parameters:  {model.count_params():,} ({trainable:,} trainable)",
        f"inputs:      {_tensors(model.inputs)}",
        f"outputs:     {_tensors(model.outputs)}",
        f"sequential:  {_sequential_verdict(model)}",
    ]


def convert_file(
    source: Path,
    output: Path,
    *,
    to: str,
    group_branches: bool = False,
    force: bool = False,
    unsafe: bool = False,
    max_layers: int = MAX_LAYERS,
) -> list[str]:
    """Converts the model in `source` and writes it to `output`; returns what to print."""
    from keras_convert import ConversionError, NotEquivalentError, assert_equivalent
    from keras_convert.conversion import to_functional, to_sequential

    check_output(output, force=force)
    # load_model checks a Keras 2 model's weights against the file's own arrays.
    keras2 = inspect_file(source, read_config=False).keras_version.startswith("2.")
    checked = "its weights checked against the file, " if keras2 else ""
    replaced = f" ({source.name} was replaced)" if output.resolve() == source.resolve() else ""
    model = load(source, unsafe=unsafe, max_layers=max_layers)
    try:
        if to == "functional":
            converted = to_functional(model)
        else:
            converted = to_sequential(model, group_branches=group_branches)
        assert_equivalent(model, converted)
    except ConversionError as error:
        raise CommandError(_conversion_message(error), 1) from error
    except NotEquivalentError as error:
        raise CommandError(f"{type(error).__name__}: {error}", 1) from error
    _write(converted, output, force=force, unsafe=unsafe, max_layers=max_layers)
    kind = type(converted).__name__ if to == "sequential" else "Functional"
    return [
        f"wrote {output}: {kind} model '{converted.name}', "
        f"{converted.count_params():,} parameters, equivalent to {source.name} "
        f"({checked}checked before and after saving)",
        "note: the written model is not compiled: compile settings and optimizer state that "
        f"{source.name} may store are not carried over{replaced}; compile it before training",
    ]


def export_file(
    source: Path,
    output: Path,
    *,
    format: str,
    force: bool = False,
    unsafe: bool = False,
    max_layers: int = MAX_LAYERS,
) -> list[str]:
    """Exports the model in `source` to `output` (`format`: a key of EXPORT_FORMATS) with
    `keras_convert.export`, which runs the artefact and compares; returns what to print."""
    import keras

    from keras_convert import ConversionError, ExportError, NotEquivalentError
    from keras_convert.exporting import export

    check_output(output, force=force, format=format)
    model = load(source, unsafe=unsafe, max_layers=max_layers)
    with temporary_beside(output, EXPORT_SUFFIX[format]) as temporary:
        try:
            with c_stderr_closed():  # the converters' C++ log lines
                report = export(model, temporary, format=EXPORT_FORMATS[format])
        except (ExportError, NotEquivalentError, ConversionError) as error:
            message = _conversion_message(error).replace(str(temporary), str(output))
            raise CommandError(message, 1) from error
        try:
            place(temporary, output, force=force, doing="exporting")
        except OSError as error:
            raise CommandError(f"cannot write '{output}': {reason(error)}", 4) from error
    kind = "Sequential" if isinstance(model, keras.Sequential) else "Functional"
    return [
        f"wrote {output}: {format} artefact of {kind} model '{model.name}' "
        f"({model.count_params():,} parameters), run in {report.runtime} "
        f"{report.runtime_version} on generated inputs (batch of 2, seed 0) and compared "
        f"with {source.name}: max difference {report.max_abs_diff:.1e}"
    ]


def _conversion_message(error: Exception) -> str:
    """A library error in the command line's words: its reason, and the flag that helps."""
    from keras_convert import NotSequentialError, UnbuiltModelError

    name = type(error).__name__
    if isinstance(error, NotSequentialError):
        if error.groupable:
            return f"{name}: {error.reason}; --group-branches wraps such regions in blocks"
        return f"{name}: {error.reason}"
    if isinstance(error, UnbuiltModelError):
        remedy = (
            "The file records none; build it in Python: "
            "keras_convert.to_functional(model, input_shape=...)"
        )
        return f"{name}: {error.with_remedy(remedy)}"
    return f"{name}: {error}"


def _write(converted, output: Path, *, force: bool, unsafe: bool, max_layers: int) -> None:
    """Saves `converted` to a temporary file beside `output`, checks that it reloads to the
    same model, and puts it in place (exclusively unless `force`). The temporary file never
    outlives this call."""
    from keras_convert import NotEquivalentError, assert_equivalent

    with temporary_beside(output, ".keras") as temporary:
        try:
            converted.save(temporary)
            try:
                reloaded = load(temporary, unsafe=unsafe, max_layers=max_layers)
            except CommandError as error:
                cause = error.__cause__
                why = cause.cause if isinstance(cause, ModelFileError) else str(error)
                raise CommandError(f"the converted model does not reload: {why}", 1) from error
            assert_equivalent(converted, reloaded)
            place(temporary, output, force=force, doing="converting")
        except NotEquivalentError as error:
            raise CommandError(f"the written file does not reload exactly: {error}", 1) from error
        except OSError as error:
            raise CommandError(f"cannot write '{output}': {reason(error)}", 4) from error


def check_input(path: Path) -> None:
    """Raises `CommandError` (exit code 3) unless `path` is a readable model file.

    Reads only the file's header (`keras_convert.files.inspect_file`): no Keras needed.
    """
    with _input_errors(path):
        inspect_file(path, read_config=False)


def check_output(output: Path, *, force: bool, format: str | None = None) -> None:
    """Raises `CommandError` (exit code 4) if `output` cannot or must not be written.

    `format` is None for `convert` (a .keras file), else a key of EXPORT_FORMATS: a SavedModel
    is a folder, which --force replaces only if it holds a SavedModel (`saved_model.pb`)."""
    suffix = ".keras" if format is None else EXPORT_SUFFIX[format]
    if suffix is not None and output.suffix != suffix:
        raise CommandError(f"the output must be a {suffix} file, not '{output.name}'", 4)
    if not output.parent.is_dir():
        raise CommandError(f"the folder '{output.parent}' does not exist", 4)
    if not os.path.lexists(output):
        return
    if not force:
        raise CommandError(f"'{output}' exists; pass --force to overwrite it", 4)
    mode = os.lstat(output).st_mode
    if suffix is None and stat.S_ISDIR(mode):
        if not (output / "saved_model.pb").is_file():
            raise CommandError(
                f"'{output}' is a folder without a SavedModel in it; --force replaces only "
                "a file or a SavedModel folder",
                4,
            )
        return
    if not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
        raise CommandError(f"'{output}' exists and is not a file; --force replaces only files", 4)


def load(path: Path, *, unsafe: bool = False, max_layers: int = MAX_LAYERS):
    """Loads a model file (Keras 3 or Keras 2 `.keras`, `.h5`) without compiling it.

    Raises:
        CommandError: (exit code 3) the file is missing, unreadable or not loadable.
    """
    from keras_convert.loading import load_model

    with _input_errors(path):
        return load_model(path, compile=False, safe_mode=not unsafe, max_layers=max_layers)


@contextlib.contextmanager
def _input_errors(path: Path) -> Iterator[None]:
    """Reports what goes wrong with an input file as a `CommandError` (exit code 3)."""
    try:
        yield
    except FileNotFoundError as error:
        raise CommandError(f"'{path}' does not exist", 3) from error
    except OSError as error:
        raise CommandError(f"cannot read '{path}': {reason(error)}", 3) from error
    except ModelFileError as error:
        raise CommandError(_load_message(error), 3) from error


def _load_message(error: ModelFileError) -> str:
    """`cannot load 'PATH': CAUSE` and the command line's remedy (a flag), else the
    library's; one line."""
    remedy = FLAG_FOR.get(error.needs or "", error.remedy)
    return f"cannot load '{error.path}': {error.cause}" + (f"; {remedy}" if remedy else "")


def import_module(name: str) -> None:
    """Imports a module by dotted name or .py path, so that it registers its custom objects.

    Raises:
        CommandError: (exit code 3) the module cannot be imported.
    """
    try:
        if name.endswith(".py"):
            spec = importlib.util.spec_from_file_location(Path(name).stem, name)
            if spec is None or spec.loader is None or not Path(name).is_file():
                raise ImportError(f"no such file: {name}")
            module = importlib.util.module_from_spec(spec)
            sys.modules[spec.name] = module
            spec.loader.exec_module(module)
        else:
            importlib.import_module(name)
    except Exception as error:
        raise CommandError(f"cannot import '{name}': {type(error).__name__}: {error}", 3) from error


def _sequential_verdict(model) -> str:
    import keras

    from keras_convert import ConversionError, NotSequentialError
    from keras_convert.conversion import to_sequential

    if isinstance(model, keras.Sequential):
        return "yes: it is a Sequential model"
    try:
        converted = to_sequential(model)
    except NotSequentialError as error:
        if not error.groupable:
            return f"no: {error.reason}; keep it Functional"
        try:
            grouped = to_sequential(model, group_branches=True)
        except ConversionError as grouped_error:
            return f"no: {error.reason}; not with --group-branches either ({grouped_error})"
        blocks = sum(isinstance(layer, keras.Model) for layer in grouped.layers)
        kind = "a Functional block" if blocks == 1 else "Functional blocks"
        return (
            f"no: {error.reason}; --group-branches converts it to {len(grouped.layers)} steps "
            f"({blocks} of them {kind})"
        )
    except ConversionError as error:
        return f"no: {error}"
    return f"yes: a chain of {len(converted.layers)} layers (convert FILE --to sequential)"


def _tensors(tensors) -> str:
    """Each tensor as the name of the layer that makes it, its shape and its dtype."""
    from keras_convert.graph import source_name

    return ", ".join(f"{source_name(t)} {tuple(t.shape)} {t.dtype}" for t in tensors)


def _size(weight) -> int:
    size = 1
    for dim in weight.shape:
        size *= int(dim)
    return size


def _import_keras_quietly() -> None:
    """Imports Keras with the process's C-level stderr closed for the duration.

    TensorFlow writes start-up notices there (the oneDNN one, CUDA stubs) that neither
    TF_CPP_MIN_LOG_LEVEL nor any other setting silences; an import error still raises.
    """
    with c_stderr_closed():
        import keras  # noqa: F401


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keras's Python warnings stay out of the one-line output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not '{text}'")
    return value


def _parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code:<3}  {meaning}" for code, meaning in EXIT_CODES.items())
    epilog = (
        f"exit codes:\n{codes}\n\nfiles: Keras 3 .keras, Keras 2 .keras (TensorFlow 2.13-2.15, "
        f"tf_keras) and .h5\nconvert keeps a file it has written even if its report cannot be "
        f"printed (said on stderr, exit code 0)\n{DEBUG_VARIABLE}=1 in the environment works "
        "like --debug"
    )
    parser = argparse.ArgumentParser(
        prog="keras-convert",
        description="Inspect a Keras model file, convert it between the Sequential and "
        "Functional APIs without changing what it computes, or export it (ONNX, LiteRT, "
        "SavedModel) and check the artefact in its own runtime.",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect",
        help="the API, layers, parameters, shapes, and whether it converts to Sequential",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument(
        "files", metavar="FILE", nargs="+", help="one or more .keras or .h5 model files"
    )
    convert = commands.add_parser(
        "convert",
        help="convert to the other API, check it, write a .keras file",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("file", metavar="FILE", help="a .keras or .h5 model file")
    convert.add_argument(
        "--to", required=True, choices=["sequential", "functional"], help="the API to convert to"
    )
    convert.add_argument(
        "--group-branches",
        action="store_true",
        help="(--to sequential) wrap branched regions (skip connections...) in Functional blocks",
    )
    convert.add_argument("-o", "--output", required=True, metavar="OUT", help="a .keras file")
    convert.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    export = commands.add_parser(
        "export",
        help="write an ONNX, LiteRT or SavedModel artefact, run it in its runtime, compare",
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("file", metavar="FILE", help="a .keras or .h5 model file")
    export.add_argument(
        "--format",
        required=True,
        choices=list(EXPORT_FORMATS),
        help="onnx (any backend; needs onnx, onnxruntime, and tf2onnx or jax2onnx), litert "
        "(.tflite; TensorFlow; needs ai-edge-litert) or saved_model (a folder; TensorFlow, JAX)",
    )
    export.add_argument(
        "-o", "--output", required=True, metavar="OUT", help="a .onnx, .tflite file or a folder"
    )
    export.add_argument(
        "--force", action="store_true", help="overwrite OUT (a file, or a SavedModel folder)"
    )
    for command in (inspect, convert, export):
        command.add_argument(
            "--unsafe",
            action="store_true",
            help="load Lambda layers' Python code (safe_mode=False): only for files you trust",
        )
        command.add_argument(
            "--max-layers",
            type=_positive,
            default=MAX_LAYERS,
            metavar="N",
            help=f"refuse a file that declares more than N layers (default {MAX_LAYERS:,}); "
            "raise it only for files you trust",
        )
        command.add_argument(
            "--import",
            dest="imports",
            action="append",
            default=[],
            metavar="MODULE",
            help="import a module (dotted name or .py file) first, so that the custom layers "
            "and models it registers load (keras.saving.register_keras_serializable; for a "
            "Keras 2 file, keras.saving.get_custom_objects()['Name'] = TheClass); repeatable",
        )
        command.add_argument(
            "--debug",
            action="store_true",
            help="on an internal error (exit code 5), print its traceback",
        )
    return parser
