"""keras_convert.export: each artefact run in its own runtime (onnxruntime, the LiteRT
interpreter, TensorFlow's SavedModel loader) and compared with the Keras model, on every
backend for the formats it exports (CAN), and a typed error for the others.

Every keras.applications model that tests/test_applications.py builds goes to ONNX and LiteRT;
most are marked `slow`, which `make test` leaves out and `make export-zoo` runs (on the three
backends).
"""

import inspect
import json
import re
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import layers

import keras_convert
from keras_convert import (
    ExportError,
    ExportReport,
    NotEquivalentError,
    export,
    to_functional,
    to_sequential,
)
from keras_convert import exporting as export_module
from tests.helpers import residual, run, run_examples
from tests.test_applications import APPLICATIONS, build

BACKEND = keras.backend.backend()
TENSORFLOW = BACKEND == "tensorflow"
on_tensorflow = pytest.mark.skipif(not TENSORFLOW, reason="a trap of TensorFlow's exporters")
# What each backend exports, read from Keras 3.15.1's keras/src/export/ and written here
# independently of the library's table, with the modules each route imports.
CAN = {
    "tensorflow": {"onnx": ["tf2onnx", "onnx"], "litert": [], "tf_saved_model": []},
    "jax": {"onnx": ["jax2onnx", "onnx"], "tf_saved_model": ["tensorflow"]},
    "torch": {"onnx": ["onnx"]},
}[BACKEND]
CANNOT = [f for f in ("onnx", "litert", "tf_saved_model") if f not in CAN]
SUFFIX = {"onnx": ".onnx", "litert": ".tflite", "tf_saved_model": ""}
RUNTIME = {"onnx": "onnxruntime", "litert": "ai_edge_litert", "tf_saved_model": "tensorflow"}
# The applications every run exports: one per kind of operation the exporters meet, plain
# convolutions (VGG16), depthwise (MobileNet), residual adds and ReLU6 (MobileNetV2), swish,
# squeeze-excite and Normalization (EfficientNetB0), separable convolutions (Xception). The
# others add adds and concatenations of the same operations (VGG19, ResNet50, DenseNet121,
# InceptionV3) and, on 2026-12-07 on two cores, 4.5 minutes on TensorFlow (10 to 60 s each
# per format). On JAX and PyTorch MobileNet alone: all nine took about 7.5 and 4 minutes, and
# test_pooling_... below covers what their ONNX routes refuse in a second.
EVERY_RUN = {
    "tensorflow": {"VGG16", "MobileNet", "MobileNetV2", "EfficientNetB0", "Xception"},
    "jax": {"MobileNet"},
    "torch": {"MobileNet"},
}[BACKEND]
# What each backend's ONNX route cannot take, by the layers export must name: jax2onnx's
# MaxPool pools over batch and channels too, beyond onnxruntime's 3 dimensions; PyTorch's
# trace cannot hold the padding Keras computes for a strided "same" pooling.
ONNX_REFUSES = {
    "jax": ("MaxPool over 4 dimensions", lambda layer: isinstance(layer, layers.MaxPooling2D)),
    "torch": (
        r"padding='same' and a stride above 1",
        lambda layer: (
            isinstance(layer, layers.MaxPooling2D | layers.AveragePooling2D)
            and layer.padding == "same"
            and max(layer.strides) > 1
        ),
    ),
}


SIGNED = "input_signature" in inspect.signature(keras.Model.export).parameters


def needs(format):
    """Skips a test whose format's exporter or runtime is not installed on this backend, or
    whose Keras's Model.export takes no input signature (the next test covers that)."""
    for module in [*CAN[format], RUNTIME[format]]:
        pytest.importorskip(module, reason=f"{format} on {BACKEND} needs {module}")
    if not SIGNED:
        pytest.skip(f"Keras {keras.__version__}'s Model.export takes no input_signature")


@pytest.mark.skipif(
    SIGNED or "tf_saved_model" not in CAN, reason="Model.export takes an input_signature"
)
def test_a_keras_whose_export_takes_no_signature_is_an_export_error_saying_upgrade(tmp_path):
    for module in [*CAN["tf_saved_model"], RUNTIME["tf_saved_model"]]:
        pytest.importorskip(module)
    with pytest.raises(ExportError, match=r"does not take: upgrade Keras \(pip install"):
        export(mlp(), tmp_path / "served", format="tf_saved_model")
    assert not (tmp_path / "served").exists()


def exported(model, tmp_path, format, **kwargs):
    needs(format)
    return export(model, tmp_path / f"{model.name}{SUFFIX[format]}", format=format, **kwargs)


def weights_of(model):
    return [np.array(weight.numpy()) for weight in model.weights]


def mlp():
    return keras.Sequential(
        [
            keras.Input((4,), name="features"),
            layers.Dense(8, activation="relu", name="hidden"),
            layers.BatchNormalization(name="bn"),
            layers.Dense(2, name="head"),
        ],
        name="mlp",
    )


def two_in_two_out():
    """Inputs given as a dict, listed in reverse order; outputs as a dict."""
    a, b = keras.Input((3,), name="a"), keras.Input((5,), name="b")
    merged = layers.Concatenate(name="cat")([layers.Dense(4, name="da")(a), layers.Dense(4)(b)])
    outputs = {"y": layers.Dense(2, name="y")(merged), "z": layers.Dense(1, name="z")(merged)}
    return keras.Model({"b": b, "a": a}, outputs, name="two_in_two_out")


@pytest.fixture(scope="module")
def application():
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = build(name)
        return cache[name]

    return get


def refused_by_onnx(model):
    """The layers of `model` this backend's ONNX route cannot take, and the message's words."""
    words, refuses = ONNX_REFUSES.get(BACKEND, ("", lambda layer: False))
    return words, [layer.name for layer in model.layers if refuses(layer)]


@pytest.mark.parametrize("format", [f for f in ("onnx", "litert") if f in CAN])
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(name, marks=() if name in EVERY_RUN else pytest.mark.slow)
        for name in sorted(APPLICATIONS)
    ],
)
def test_applications_export_and_run_the_same_or_name_what_onnx_lacks(
    name, format, application, tmp_path
):
    model = application(name)
    if name == "EfficientNetB0" and format == "onnx" and TENSORFLOW:
        # Its Normalization layer keeps mean and variance in captured tensors, which
        # tf2onnx makes graph inputs: the file would ask its user for them.
        with pytest.raises(ExportError, match=r"inputs that model .* does not have") as error:
            exported(model, tmp_path, format)
        assert re.search(r"layer 'normalization(_\d+)?', a Normalization", str(error.value))
        return
    words, refused = refused_by_onnx(model)
    if format == "onnx" and refused:
        with pytest.raises(ExportError, match=words) as error:
            exported(model, tmp_path, format)
        assert error.value.operation == "MaxPool"
        assert f"'{refused[0]}'" in str(error.value)
        return
    report = exported(model, tmp_path, format)
    assert report.max_abs_diff <= 1e-5
    assert report.path.is_file()


POOLS = {
    "max_valid": lambda: layers.MaxPooling2D(2, name="pool"),
    "max_same_strided": lambda: layers.MaxPooling2D(3, strides=2, padding="same", name="pool"),
    "average_same_strided": lambda: layers.AveragePooling2D(
        3, strides=2, padding="same", name="pool"
    ),
}


@pytest.mark.parametrize("kind", list(POOLS))
def test_pooling_goes_to_onnx_verified_or_the_export_error_names_the_layer(kind, tmp_path):
    model = keras.Sequential([keras.Input((9, 9, 3), name="image"), POOLS[kind]()], name=kind)
    words, refused = refused_by_onnx(model)
    if not refused:
        assert exported(model, tmp_path, "onnx").max_abs_diff <= 1e-5
        return
    with pytest.raises(ExportError, match=f"{words}.*layer 'pool'") as error:
        exported(model, tmp_path, "onnx")
    operation = "AveragePool" if kind.startswith("average") else "MaxPool"
    assert (error.value.operation, error.value.format) == (operation, "onnx")


@pytest.mark.parametrize("format", list(CAN))
def test_a_model_never_called_exports_verified_with_its_weights_and_stats_unchanged(
    format, tmp_path
):
    model = mlp()
    before = weights_of(model)
    report = exported(model, tmp_path, format)
    assert isinstance(report, ExportReport) and report.format == format
    assert report.max_abs_diff <= 1e-5
    assert report.runtime and report.runtime_version
    for old, new in zip(before, weights_of(model), strict=True):
        assert np.array_equal(old, new)


def test_keras_itself_refuses_a_never_called_model_for_onnx(tmp_path):
    needs("onnx")
    with pytest.raises(ValueError, match="The model provided has never called"):
        mlp().export(str(tmp_path / "mlp.onnx"), format="onnx", verbose=False)


@pytest.mark.parametrize("format", list(CAN))
def test_the_functional_model_to_functional_returns_exports_verified(format, tmp_path):
    report = exported(to_functional(mlp()), tmp_path, format)
    assert report.max_abs_diff <= 1e-5


@pytest.mark.parametrize("format", list(CAN))
def test_multi_input_multi_output_dict_model_is_fed_and_compared_by_name(format, tmp_path):
    model = two_in_two_out()
    report = exported(model, tmp_path, format)
    assert report.max_abs_diff <= 1e-5


@pytest.mark.parametrize("format", list(CAN))
def test_dict_outputs_of_one_shape_listed_out_of_key_order_are_matched_to_the_right_key(
    format, tmp_path
):
    inputs = keras.Input((3,), name="x")
    outputs = {
        "z": layers.Dense(2, name="z")(inputs),
        "a": layers.Dense(2, name="a")(inputs),
        "m": layers.Dense(2, name="m")(inputs),
    }
    model = keras.Model(inputs, outputs, name="three_heads")
    assert exported(model, tmp_path, format).max_abs_diff <= 1e-5


@on_tensorflow
def test_litert_orders_its_inputs_its_own_way_so_they_are_fed_by_name(tmp_path):
    needs("litert")
    from ai_edge_litert.interpreter import Interpreter

    model = two_in_two_out()
    report = exported(model, tmp_path, "litert")
    details = Interpreter(model_path=str(report.path)).get_input_details()
    in_file_order = [detail["name"] for detail in details]
    assert in_file_order == ["serving_default_b:0", "serving_default_a:0"]
    assert [tensor.name for tensor in model.inputs] == ["a", "b"]


@pytest.mark.parametrize("format", [f for f in ("onnx", "litert") if f in CAN])
def test_a_grouped_sequential_of_blocks_exports_verified(format, tmp_path):
    grouped = to_sequential(residual(), group_branches=True)
    assert any(isinstance(layer, keras.Model) for layer in grouped.layers)
    assert exported(grouped, tmp_path, format).max_abs_diff <= 1e-5


@pytest.mark.parametrize("format", [f for f in ("onnx", "litert") if f in CAN])
def test_a_model_nesting_a_sequential_and_a_functional_exports_verified(format, tmp_path):
    inputs = keras.Input((4,), name="x")
    inner = keras.Sequential([keras.Input((4,)), layers.Dense(6, name="inner")], name="seq")
    outputs = residual()(layers.Dense(4, name="narrow")(inner(inputs)))
    model = keras.Model(inputs, outputs, name="outer")
    assert exported(model, tmp_path, format).max_abs_diff <= 1e-5


# Keras's ONNX export of the backbone fails inside one of its layers on JAX and PyTorch:
# jax2onnx traces the free sequence length as a symbol, which the position embedding compares
# with its maximum length; torch.onnx's trace meets the token embedding's weights as a constant.
KERAS_HUB_ONNX_FAILS = {
    "jax": (r"'dim_\w+' <= '8' is inconclusive", "PositionEmbedding"),
    "torch": ("Cannot insert a Tensor that requires grad as a constant", "ReversibleEmbedding"),
}


@pytest.mark.parametrize("format", list(CAN))
def test_a_keras_hub_backbone_with_integer_dict_inputs_and_dict_outputs_exports_or_names_the_layer(
    format, tmp_path
):
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=50,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
    )
    if format == "onnx" and BACKEND in KERAS_HUB_ONNX_FAILS:
        reason, layer = KERAS_HUB_ONNX_FAILS[BACKEND]
        with pytest.raises(ExportError, match=f"Keras cannot export .*{reason}") as error:
            exported(backbone, tmp_path, format)
        assert str(error.value).endswith(f"(in {layer}.call)")
        return
    assert exported(backbone, tmp_path, format).max_abs_diff <= 1e-5


def test_an_artefact_that_computes_otherwise_raises_not_equivalent(tmp_path, monkeypatch):
    needs("onnx")
    run = export_module._RUNNERS["onnx"]

    def off_by_a_little(path, feeds):
        return {name: value + 1e-3 for name, value in run(path, feeds).items()}

    monkeypatch.setitem(export_module._RUNNERS, "onnx", off_by_a_little)
    with pytest.raises(NotEquivalentError, match=r"output 'output_0': largest absolute diff"):
        exported(mlp(), tmp_path, "onnx")


def test_an_artefact_whose_inputs_are_named_otherwise_raises_not_equivalent(tmp_path, monkeypatch):
    needs("onnx")
    run = export_module._RUNNERS["onnx"]

    def renamed(path, feeds):
        return run(
            path, {"renamed" if name == "features" else name: v for name, v in feeds.items()}
        )

    monkeypatch.setitem(export_module._RUNNERS, "onnx", renamed)
    with pytest.raises(NotEquivalentError, match=r"takes inputs named \['features'\]"):
        exported(mlp(), tmp_path, "onnx")


PACKAGE = {"onnxruntime": "onnxruntime", "ai_edge_litert": "ai-edge-litert"}


@pytest.mark.parametrize(
    ("format", "module"),
    [(f, module) for f in CAN for module in dict.fromkeys([*CAN[f], RUNTIME[f]])],
)
def test_a_missing_package_is_an_export_error_naming_it_and_writes_nothing(
    format, module, tmp_path, monkeypatch
):
    checked = [*CAN[format], RUNTIME[format]]  # in this order: the first missing is named
    for earlier in checked[: checked.index(module)]:
        pytest.importorskip(earlier, reason=f"{format} on {BACKEND} needs {earlier}")
    find_spec = export_module.importlib.util.find_spec
    monkeypatch.setattr(
        export_module.importlib.util,
        "find_spec",
        lambda name, *args: None if name == module else find_spec(name, *args),
    )
    package = PACKAGE.get(module, module)
    path = tmp_path / f"mlp{SUFFIX[format]}"
    with pytest.raises(ExportError, match=f"on the {BACKEND} backend needs the package") as error:
        export(mlp(), path, format=format)
    assert f"pip install {package}" in str(error.value)
    assert error.value.package == package and error.value.format == format
    assert not path.exists()


def test_a_mixed_precision_model_is_an_export_error_for_onnx(tmp_path):
    needs("onnx")
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = mlp()
    finally:
        keras.config.set_dtype_policy("float32")
    with pytest.raises(ExportError, match="dtype policy 'mixed_float16'; ONNX export needs"):
        export(model, tmp_path / "mlp.onnx", format="onnx")
    assert not (tmp_path / "mlp.onnx").exists()


@on_tensorflow
def test_tensorflow_ops_that_litert_lacks_are_an_export_error_naming_the_op(tmp_path):
    needs("litert")
    keras.config.set_dtype_policy("mixed_float16")
    try:
        model = mlp()
    finally:
        keras.config.set_dtype_policy("float32")
    with pytest.raises(ExportError, match="needs TensorFlow operation") as error:
        exported(model, tmp_path, "litert")
    assert error.value.operation.startswith("Flex")


def test_a_normalization_layer_is_an_onnx_export_error_naming_it_on_tensorflow_only(tmp_path):
    model = keras.Sequential(
        [keras.Input((4,), name="f"), layers.Normalization(name="norm"), layers.Dense(2)]
    )
    if not TENSORFLOW:  # jax2onnx and torch.onnx keep mean and variance as constants
        assert exported(model, tmp_path, "onnx").max_abs_diff <= 1e-5
        return
    with pytest.raises(ExportError, match="layer 'norm', a Normalization"):
        exported(model, tmp_path, "onnx", verify=False)


def test_an_unknown_format_or_a_litert_name_without_tflite_is_an_export_error(tmp_path):
    with pytest.raises(ExportError, match="unknown format 'tflite'; choose one of"):
        export(mlp(), tmp_path / "m.tflite", format="tflite")
    if "litert" in CAN:
        with pytest.raises(ExportError, match=r"must end in '\.tflite'"):
            export(mlp(), tmp_path / "m.lite", format="litert")


def test_a_subclassed_model_is_an_unsupported_model_error(tmp_path):
    class Twice(keras.Model):
        def call(self, x):
            return x * 2.0

    needs("onnx")
    model = Twice(name="twice")
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(keras_convert.UnsupportedModelError, match="'twice' is a subclassed"):
        export(model, tmp_path / "twice.onnx", format="onnx")


@pytest.mark.skipif(BACKEND != "jax", reason="jax2onnx is JAX's ONNX exporter")
def test_onnx_export_on_jax_imports_jax2onnx_plugins_for_jax_alone_and_leaves_the_rest_to_it(
    tmp_path,
):
    # In a process of its own: a direct Model.export elsewhere would import them all.
    code = (
        "import json, sys, keras, keras_convert\n"
        "from jax2onnx.plugins import plugin_system\n"
        "def trees():\n"
        "    prefix = 'jax2onnx.plugins.'\n"
        "    names = [n[len(prefix):] for n in sys.modules if n.startswith(prefix)]\n"
        "    return sorted({name.split('.')[0] for name in names})\n"
        "model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])\n"
        "keras_convert.export(model, 'm.onnx', format='onnx')\n"
        "after_export = trees()\n"
        "plugin_system.import_all_plugins()  # what jax2onnx does for its next conversion\n"
        "print(json.dumps([after_export, trees()]))"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr
    after_export, after_jax2onnx = json.loads(completed.stdout.strip().splitlines()[-1])
    others = {"flax", "equinox", "dm_pix", "examples"}
    assert "jax" in after_export and not others & set(after_export), after_export
    assert others <= set(after_jax2onnx), after_jax2onnx


def test_export_takes_models_only():
    with pytest.raises(TypeError, match=r"expects a keras\.Model; received a str"):
        export("model.keras", "model.onnx", format="onnx")


def test_the_library_exports_what_this_backend_can_and_nothing_else():
    assert {f for backend, f in export_module._ROUTES if backend == BACKEND} == set(CAN)


@pytest.mark.skipif(not CANNOT, reason="TensorFlow exports every format")
@pytest.mark.parametrize("format", CANNOT)
def test_a_format_this_backend_cannot_export_is_an_export_error_that_says_why(format, tmp_path):
    path = tmp_path / f"m{SUFFIX[format]}"
    expected = {"litert": "Keras 3.15 (cannot|writes it through litert-torch)"}
    expected["tf_saved_model"] = "Keras 3.15 goes through torch_xla"
    with pytest.raises(ExportError, match=f"cannot export {format} on the {BACKEND}") as error:
        export(mlp(), path, format=format)
    assert re.search(expected[format], str(error.value))
    able = {"litert": "on tensorflow: set KERAS_BACKEND to tensorflow"}
    able["tf_saved_model"] = "on tensorflow and jax: set KERAS_BACKEND to one of them"
    assert str(error.value).endswith(able[format])
    assert error.value.format == format and error.value.package is None
    assert not path.exists()


def test_the_report_is_frozen_and_without_verify_measures_nothing(tmp_path):
    report = exported(mlp(), tmp_path, "onnx", verify=False)
    assert (report.max_abs_diff, report.runtime) == (None, None)
    with pytest.raises(AttributeError):
        report.max_abs_diff = 0.0


def test_the_docstring_example_runs():
    needs("onnx")
    assert run_examples(export) == 1
    assert "export" in keras_convert.__all__ and "ExportError" in keras_convert.__all__


# The command line: each run is a subprocess that imports TensorFlow (seconds), so few.
def test_cli_exports_a_keras2_h5_to_onnx_that_matches_tf_keras(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    needs("onnx")
    import onnxruntime

    tf_keras.utils.set_random_seed(0)
    legacy = tf_keras.Sequential(
        [
            tf_keras.layers.Dense(8, activation="relu", input_shape=(4,), name="hidden"),
            tf_keras.layers.BatchNormalization(name="bn"),
            tf_keras.layers.Dense(2, name="head"),
        ],
        name="legacy",
    )
    legacy.save(tmp_path / "legacy.h5")
    code, out, err = run("export", "legacy.h5", "--format", "onnx", "-o", "m.onnx", cwd=tmp_path)
    assert code == 0 and err == "", err
    printed = re.fullmatch(r"wrote m.onnx: .* max difference (\S+)\n", out)
    assert printed and float(printed.group(1)) <= 1e-5, out
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    x = np.random.default_rng(1).standard_normal((3, 4)).astype("float32")
    (onnx_output,) = session.run(None, {session.get_inputs()[0].name: x})
    assert np.max(np.abs(onnx_output - legacy.predict(x, verbose=0))) <= 1e-5

    code, _, err = run("export", "legacy.h5", "--format", "onnx", "-o", "m.onnx", cwd=tmp_path)
    assert code == 4 and err.strip().endswith("'m.onnx' exists; pass --force to overwrite it")


def test_cli_export_of_a_missing_or_broken_input_exits_3_and_a_wrong_name_exits_4(tmp_path):
    code, _, err = run("export", "nothing.h5", "--format", "onnx", "-o", "m.onnx", cwd=tmp_path)
    assert code == 3 and "'nothing.h5' does not exist" in err
    (tmp_path / "broken.keras").write_bytes(b"not a zip")
    code, _, err = run("export", "broken.keras", "--format", "onnx", "-o", "m.onnx", cwd=tmp_path)
    assert code == 3 and "not a zip file" in err
    mlp().save(tmp_path / "mlp.keras")
    code, _, err = run("export", "mlp.keras", "--format", "litert", "-o", "m.onnx", cwd=tmp_path)
    assert code == 4 and "the output must be a .tflite file, not 'm.onnx'" in err
    assert not (tmp_path / "m.onnx").exists()


@pytest.mark.skipif("tf_saved_model" not in CAN, reason=f"{BACKEND} writes no SavedModel")
def test_cli_writes_a_saved_model_folder_exclusively_and_replaces_it_only_with_force(
    tmp_path, capsys
):
    needs("tf_saved_model")
    from keras_convert import cli as command

    mlp().save(tmp_path / "mlp.keras")
    source, output = str(tmp_path / "mlp.keras"), tmp_path / "served"
    arguments = ["export", source, "--format", "saved_model", "-o", str(output)]
    assert command.main(arguments) == 0
    assert (output / "saved_model.pb").is_file()
    assert "max difference" in capsys.readouterr().out
    assert command.main(arguments) == 4
    assert command.main([*arguments, "--force"]) == 0
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    (tmp_path / "folder").mkdir()
    other = ["export", source, "--format", "saved_model", "-o", str(tmp_path / "folder")]
    assert command.main([*other, "--force"]) == 4
    assert "without a SavedModel in it" in capsys.readouterr().err
