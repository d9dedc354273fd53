"""Kernel start-up file for bench_notebooks.py: where a chapter's time goes, on any backend.

IPython kernels run the file named by PYTHONSTARTUP when they start. This one counts, without
printing anything into the notebook: the seconds spent inside `fit`, `evaluate` and `predict`
(the outermost call only: `fit` runs `evaluate` for validation), on JAX the number of XLA
compilations and the seconds spent tracing, lowering and compiling (jax.monitoring's events),
and the kernel's CPU time (all its threads), in all and cell by cell with each cell's
compilations: on a shared machine, CPU time drifts less than wall time.
Keras is patched before the first cell that runs after the notebook imported it, so the import
stays the notebook's own. The benchmark runs `_bench_probe_report()` after the last cell.
"""


def _install_probe():
    import functools
    import json
    import sys
    import time

    totals = {"keras_seconds": 0.0, "compiles": None, "compile_seconds": None}
    cells = []  # [CPU seconds, compilations] of each cell, in the order they ran
    cell_start = [0.0, 0]
    depth = [0]
    compile_events = {
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    }

    def timed(method):
        @functools.wraps(method)
        def outermost_timed(*args, **kwargs):
            depth[0] += 1
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                depth[0] -= 1
                if not depth[0]:
                    totals["keras_seconds"] += time.perf_counter() - start

        outermost_timed.probed = True
        return outermost_timed

    def on_compile_event(event, duration, **_):
        if event in compile_events:
            totals["compile_seconds"] += duration
        if event == "/jax/core/compile/backend_compile_duration":
            totals["compiles"] += 1

    def install(*_):
        keras = sys.modules.get("keras")
        if keras is not None and not getattr(keras.Model.fit, "probed", False):
            for name in ("fit", "evaluate", "predict"):
                setattr(keras.Model, name, timed(getattr(keras.Model, name)))
        if "jax" in sys.modules and totals["compiles"] is None:
            from jax import monitoring

            totals.update(compiles=0, compile_seconds=0.0)
            monitoring.register_event_duration_secs_listener(on_compile_event)

    def start_cell(*_):
        install()
        cell_start[:] = [time.process_time(), totals["compiles"] or 0]

    def end_cell(*_):
        install()
        cpu, compiles = cell_start
        cells.append([time.process_time() - cpu, (totals["compiles"] or 0) - compiles])

    def report():
        print(json.dumps(dict(totals, cpu_seconds=time.process_time(), cells=cells)))

    get_ipython().events.register("pre_run_cell", start_cell)  # noqa: F821
    get_ipython().events.register("post_run_cell", end_cell)  # noqa: F821
    return report


_bench_probe_report = _install_probe()
del _install_probe
