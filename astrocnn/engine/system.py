"""``astrocnn info --system``: what this machine gives the networks.

One ``name: value`` line per field: versions, the CPU and its vector
instructions, TensorFlow's devices, oneDNN, thread pools, the mixed-precision
policy and XLA.  What each means for speed is measured in the README's
performance section; this says which case a machine is in.
"""

from __future__ import annotations

import os
import platform

# instruction sets that decide the CPU kernels' speed (bfloat16 needs the last three)
_CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16")


def system_report() -> list[tuple[str, str]]:
    """``(field, value)`` pairs describing the software and hardware in use.

    Imports TensorFlow (configured as every astrocnn command configures it)
    and probes XLA once (a one-number program).
    """
    from astrocnn import __version__
    from astrocnn._tf import import_keras, import_tensorflow

    tf = import_tensorflow()
    keras = import_keras()
    return [
        ("astrocnn", __version__),
        ("Python", platform.python_version()),
        ("TensorFlow", f"{tf.__version__} ({_build(tf)})"),
        ("Keras", f"{keras.__version__} (backend {keras.backend.backend()})"),
        ("CPU", _cpu()),
        ("devices", _devices(tf)),
        ("oneDNN", _onednn()),
        ("threads", _threads(tf)),
        ("mixed precision", _precision(keras)),
        ("XLA", _xla()),
    ]


def format_system_report(report) -> str:
    """The report as ``field: value`` lines, aligned."""
    width = max(len(name) for name, _ in report)
    return "\n".join(f"{name + ':':<{width + 1}} {value}" for name, value in report)


def _build(tf) -> str:
    info = tf.sysconfig.get_build_info()
    if info.get("is_cuda_build"):
        cuda, cudnn = info.get("cuda_version", "?"), info.get("cudnn_version", "?")
        return f"built for CUDA {cuda}, cuDNN {cudnn}"
    if info.get("is_rocm_build"):
        return "built for ROCm"
    return "CPU only"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _cpu() -> str:
    """Model name, cores usable by this process, and the speed-relevant instruction sets."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:  # not Linux
        pass
    found = [f for f in _CPU_FLAGS if f in flags] if flags else ["unknown"]
    return f"{model}, {_cores()} cores; {' '.join(found) or 'no AVX2'}"


def _devices(tf) -> str:
    parts = []
    for device in tf.config.list_physical_devices():
        name = device.name.replace("/physical_device:", "")
        if device.device_type == "GPU":
            details = tf.config.experimental.get_device_details(device)
            capability = details.get("compute_capability")
            label = details.get("device_name", "GPU")
            if capability:
                label += f", compute capability {capability[0]}.{capability[1]}"
            name += f" ({label})"
        parts.append(name)
    if not any(d.device_type == "GPU" for d in tf.config.list_physical_devices()):
        parts.append("no GPU")
    return ", ".join(parts)


def _onednn() -> str:
    """Whether TensorFlow runs its oneDNN kernels, and the variable that decides it."""
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset")
    try:
        from tensorflow.python.util import _pywrap_util_port

        state = "on" if _pywrap_util_port.IsMklEnabled() else "off"
    except (ImportError, AttributeError):  # a TensorFlow without the query
        state = "unknown"
    return f"{state} (TF_ENABLE_ONEDNN_OPTS={setting})"


def _threads(tf) -> str:
    cores = _cores()
    intra = tf.config.threading.get_intra_op_parallelism_threads()
    inter = tf.config.threading.get_inter_op_parallelism_threads()

    def pool(n):
        return f"{n}" if n else f"{cores} (default: one per core)"

    return f"intra-op {pool(intra)}, inter-op {pool(inter)}"


def _precision(keras) -> str:
    from astrocnn.engine.precision import mixed_policy_name

    policy = keras.mixed_precision.global_policy().name
    return f"global policy {policy}; --precision mixed uses {mixed_policy_name()} here"


def _xla() -> str:
    from astrocnn._tf import xla_available

    if xla_available():
        return "available (the stretch and augmentation use it; --jit compiles whole graphs)"
    return "not available (the stretch and augmentation run as plain TensorFlow ops)"
