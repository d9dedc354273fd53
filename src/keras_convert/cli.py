"""`keras-convert`: inspect a model file, or convert it to the other API, from the shell.

    keras-convert inspect model.h5
    keras-convert convert model.h5 --to functional -o model_functional.keras

`convert` checks the result with `assert_equivalent`, writes it to a temporary file next to
the output, loads that file back and checks it again, and only then moves it into place: a
failure never leaves a partial output behind. Errors print one line on stderr and exit with
a code that says what went wrong (see EXIT_CODES).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import os
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NoReturn

# TensorFlow's C++ log lines at run time stay off stderr; a user's own setting wins.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

EXIT_CODES = {
    0: "success",
    1: "the model cannot be converted exactly (the message names the layer)",
    2: "wrong command-line usage",
    3: "the input file is missing, unreadable, or not a Keras model",
    4: "the output cannot be written (it exists without --force, or its name is not .keras)",
}


# How Keras 3.6 to 3.15 say that a file names a class they do not know.
UNKNOWN_CLASS = ("Unknown layer", "Could not locate", "Could not deserialize class")


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
    try:
        # Mistakes in the paths are reported before the seconds-long import of Keras.
        sources = arguments.files if arguments.command == "inspect" else [arguments.file]
        for name in sources:
            check_input(Path(name))
        if arguments.command == "convert":
            check_output(Path(arguments.output), force=arguments.force)
        with _quiet():
            _import_keras_quietly()
            for module in arguments.imports:
                import_module(module)
            if arguments.command == "inspect":
                return _inspect_each(arguments.files, unsafe=arguments.unsafe)
            lines = convert_file(
                Path(arguments.file),
                Path(arguments.output),
                to=arguments.to,
                group_branches=arguments.group_branches,
                force=arguments.force,
                unsafe=arguments.unsafe,
            )
    except CommandError as error:
        _report(error)
        return error.code
    print("\n".join(lines))
    return 0


def _inspect_each(files: Sequence[str], *, unsafe: bool) -> int:
    """Inspects the files in turn, printing as it goes; one that fails is reported and skipped.

    Returns the exit code of the first failure, or 0.
    """
    status, printed = 0, False
    for name in files:
        try:
            lines = inspect_file(Path(name), unsafe=unsafe)
        except CommandError as error:
            _report(error)
            status = status or error.code
            continue
        print("\n".join(["", *lines] if printed else lines), flush=True)
        printed = True
    return status


def _report(error: CommandError) -> None:
    sys.stdout.flush()
    print(f"keras-convert: error: {error}", file=sys.stderr, flush=True)


def inspect_file(path: Path, *, unsafe: bool = False) -> list[str]:
    """What `keras-convert inspect` prints about the model in `path`, line by line."""
    from keras_convert.graph import is_graph_model

    model = load(path, unsafe=unsafe)
    lines = [f"file:        {path}"]
    if not is_graph_model(model):
        lines += [
            f"api:         subclassed ({type(model).__name__}, model '{model.name}')",
            "sequential:  no: its computation is Python code in call(), not a graph of "
            "layers; nothing converts it",
        ]
        return lines
    import keras

    api = "Sequential" if isinstance(model, keras.Sequential) else "Functional"
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    nested = sum(isinstance(layer, keras.Model) for layer in layers)
    trainable = sum(int(_size(w)) for w in model.trainable_weights)
    lines += [
        f"api:         {api} (model '{model.name}')",
        f"layers:      {len(layers)}" + (f", {nested} of them nested models" if nested else ""),
        f"parameters:  {model.count_params():,} ({trainable:,} trainable)",
        f"inputs:      {_tensors(model.inputs)}",
        f"outputs:     {_tensors(model.outputs)}",
        f"sequential:  {_sequential_verdict(model)}",
    ]
    return lines


def convert_file(
    source: Path,
    output: Path,
    *,
    to: str,
    group_branches: bool = False,
    force: bool = False,
    unsafe: bool = False,
) -> list[str]:
    """Converts the model in `source` and writes it to `output`; returns what to print."""
    from keras_convert import ConversionError, NotEquivalentError, assert_equivalent
    from keras_convert.conversion import to_functional, to_sequential

    check_output(output, force=force)
    model = load(source, unsafe=unsafe)
    try:
        if to == "functional":
            converted = to_functional(model)
        else:
            converted = to_sequential(model, group_branches=group_branches)
        assert_equivalent(model, converted)
    except (ConversionError, NotEquivalentError) as error:
        message = str(error).replace("to_sequential(..., group_branches=True)", "--group-branches")
        raise CommandError(f"{type(error).__name__}: {message}", 1) from error
    temporary = output.with_name(f".{output.stem}.{os.getpid()}.partial.keras")
    try:
        converted.save(temporary)
        reloaded = load(temporary, unsafe=unsafe)
        assert_equivalent(converted, reloaded)
        os.replace(temporary, output)
    except NotEquivalentError as error:
        raise CommandError(f"the written file does not reload exactly: {error}", 1) from error
    except OSError as error:
        raise CommandError(f"cannot write '{output}': {error.strerror or error}", 4) from error
    finally:
        temporary.unlink(missing_ok=True)
    kind = type(converted).__name__ if to == "sequential" else "Functional"
    return [
        f"wrote {output}: {kind} model '{converted.name}', "
        f"{converted.count_params():,} parameters, equivalent to {source.name} "
        "(checked before and after saving)",
        "note: the written model is not compiled; compile it before training",
    ]


def check_input(path: Path) -> None:
    """Raises `CommandError` (exit code 3) unless `path` names a .keras or .h5 file."""
    if not path.exists():
        raise CommandError(f"'{path}' does not exist", 3)
    if (path / "saved_model.pb").is_file() or path.name == "saved_model.pb":
        raise CommandError(
            f"'{path}' is a TensorFlow SavedModel: Keras 3 loads one only for inference, as "
            "keras.layers.TFSMLayer, with no layers to convert; load the architecture and "
            "weights from a .keras or .h5 file instead",
            3,
        )
    if path.is_dir() or path.suffix not in (".keras", ".h5", ".hdf5"):
        raise CommandError(f"'{path}' is not a .keras or .h5 model file", 3)


def check_output(output: Path, *, force: bool) -> None:
    """Raises `CommandError` (exit code 4) if `output` cannot or must not be written."""
    if output.suffix != ".keras":
        raise CommandError(f"the output must be a .keras file, not '{output.name}'", 4)
    if output.exists() and not force:
        raise CommandError(f"'{output}' exists; pass --force to overwrite it", 4)
    if not output.parent.is_dir():
        raise CommandError(f"the folder '{output.parent}' does not exist", 4)


def load(path: Path, *, unsafe: bool = False):
    """Loads a `.keras` or legacy `.h5` model without compiling it.

    Raises:
        CommandError: (exit code 3) the file is missing, a SavedModel, or not loadable.
    """
    import keras

    check_input(path)
    try:
        model = keras.saving.load_model(path, compile=False, safe_mode=not unsafe)
    except Exception as error:
        from keras_convert.errors import keras_reason

        reason = keras_reason(error)
        if "safe_mode" in reason:
            # Keras's advice names Python calls; the command line's way is --unsafe.
            reason = reason.split(" If you trust the source")[0]
            reason += " If you trust this file, pass --unsafe."
        elif any(words in reason for words in UNKNOWN_CLASS):
            reason += (
                " Pass --import MODULE, a module that registers the class (with "
                "keras.saving.register_keras_serializable, or for a Keras 2 file "
                "keras.saving.get_custom_objects()['Name'] = TheClass)."
            )
        raise CommandError(f"cannot load '{path}': {reason}", 3) from error
    if not isinstance(model, keras.Model):
        raise CommandError(f"'{path}' holds a {type(model).__name__}, not a keras.Model", 3)
    return model


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
        reason = str(error).split(". to_sequential(")[0]
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            return f"no: {reason}; keep it Functional"
        try:
            grouped = to_sequential(model, group_branches=True)
        except ConversionError as grouped_error:
            return f"no: {reason}; not with --group-branches either ({grouped_error})"
        blocks = sum(isinstance(layer, keras.Model) for layer in grouped.layers)
        kind = "a Functional block" if blocks == 1 else "Functional blocks"
        return (
            f"no: {reason}; --group-branches converts it to {len(grouped.layers)} steps "
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
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keras's Python warnings stay out of the one-line output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _parser() -> argparse.ArgumentParser:
    codes = "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())
    parser = argparse.ArgumentParser(
        prog="keras-convert",
        description="Inspect a Keras model file, or convert it between the Sequential and "
        "Functional APIs without changing what it computes.",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inspect = commands.add_parser(
        "inspect",
        help="the API, layers, parameters, shapes, and whether it converts to Sequential",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inspect.add_argument(
        "files", metavar="FILE", nargs="+", help="one or more .keras or legacy .h5 model files"
    )
    convert = commands.add_parser(
        "convert",
        help="convert to the other API, check it, write a .keras file",
        epilog=f"exit codes:\n{codes}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    convert.add_argument("file", metavar="FILE", help="a .keras or legacy .h5 model file")
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
    for command in (inspect, convert):
        command.add_argument(
            "--unsafe",
            action="store_true",
            help="load Lambda layers' Python code (safe_mode=False): only for files you trust",
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
    return parser
