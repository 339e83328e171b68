"""Settings that make this machine compute like another one, for the cross-machine byte tests.

A teammate's computer may have AVX-512, only AVX2, or an older instruction set, and another
number of cores. The numeric libraries choose their kernels from what the CPU offers, and each
kernel sums in its own order, so float results differ in their last bits between machines. Each
library lets an environment variable cap the instruction set it uses; setting them in a child
process stands in for machines we do not have:

- ``ATEN_CPU_CAPABILITY``: torch's own kernels (``default`` = no AVX, ``avx2``, ``avx512``);
- ``MKL_ENABLE_INSTRUCTIONS`` / ``MKL_CBWR``: the MKL inside torch (matrix products);
- ``ONEDNN_MAX_CPU_ISA``: oneDNN inside torch;
- ``NPY_DISABLE_CPU_FEATURES``: numpy's dispatched SIMD loops (``X86_V3`` = AVX2/FMA group);
- ``OPENBLAS_CORETYPE``: the OpenBLAS of numpy and scipy (LAPACK, matrix products);
- thread counts (``OMP_NUM_THREADS`` and the libraries' own).

:data:`OTHER_MACHINES` is the one list of such settings: the encoder test
(tests/test_exact_encoding.py), the model-side stages' test and the benchmark read it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

#: name -> environment. "this machine" adds nothing: the libraries pick the best kernels here.
OTHER_MACHINES: dict[str, dict[str, str]] = {
    "this machine": {},
    "no AVX (x86-64 baseline kernels), 1 thread": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "NPY_DISABLE_CPU_FEATURES": "X86_V3",
        "OPENBLAS_CORETYPE": "Nehalem",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    },
    "AVX without AVX2, MKL's reproducible mode, 2 threads": {
        "ATEN_CPU_CAPABILITY": "default",
        "MKL_ENABLE_INSTRUCTIONS": "AVX",
        "MKL_CBWR": "COMPATIBLE",
        "ONEDNN_MAX_CPU_ISA": "AVX",
        "OPENBLAS_CORETYPE": "Sandybridge",
        "OMP_NUM_THREADS": "2",
    },
}

_SCRIPT = """
import json, sys
import numpy as np
from stoffwechsel.features import embeddings
args = json.load(open(sys.argv[1]))
spec = embeddings.ModelSpec(**args["spec"])
model = embeddings.load_model(spec)
texts = args["texts"]
for method, out in zip(args["methods"], args["outs"]):  # float32 first: the others turn the model to float64
    if method == "exact":
        vectors = embeddings.encode_exact(model, texts, args["batch_size"])
    elif method == "float64":  # the exact encoding before its rounding (flip-rate measurement)
        import torch
        model.to(torch.float64)
        with torch.inference_mode():
            vectors = model.encode(texts, batch_size=args["batch_size"], convert_to_numpy=True, show_progress_bar=False)
    else:  # the plain float32 encode, as a control that the settings change the kernels
        vectors = model.encode(texts, batch_size=args["batch_size"], convert_to_numpy=True, show_progress_bar=False)
    np.save(out, vectors)
"""

#: the order in which one process runs several methods: float32 needs the model as loaded
METHOD_ORDER = ("float32", "exact", "float64")


def encode_elsewhere(
    texts: list[str], spec, setting: str, method: str = "exact", batch_size: int = 64, env: dict | None = None
) -> np.ndarray:
    """``texts`` encoded in a new process under :data:`OTHER_MACHINES` ``[setting]`` (plus
    ``env``): ``method`` "exact" (:func:`stoffwechsel.features.embeddings.encode_exact`), "float64" (the
    same before its rounding) or "float32" (the plain ``model.encode``)."""
    return encode_elsewhere_by_method(texts, spec, setting, (method,), batch_size, env)[method]


def encode_elsewhere_by_method(
    texts: list[str],
    spec,
    setting: str,
    methods: tuple[str, ...],
    batch_size: int = 64,
    env: dict | None = None,
) -> dict[str, np.ndarray]:
    """:func:`encode_elsewhere` for several methods in one process (one model load), run in
    :data:`METHOD_ORDER`: method -> vectors."""
    unknown = set(methods) - set(METHOD_ORDER)
    if unknown:
        raise ValueError(f"unknown encoding method(s) {sorted(unknown)} (have: {METHOD_ORDER})")
    ordered = [m for m in METHOD_ORDER if m in methods]
    with tempfile.TemporaryDirectory(prefix="encode-elsewhere-") as tmp:
        args = Path(tmp) / "args.json"
        outs = [Path(tmp) / f"{m}.npy" for m in ordered]
        args.write_text(
            json.dumps(
                {
                    "spec": {"name": spec.name, "package": spec.package, "sha256": spec.sha256},
                    "texts": list(texts),
                    "methods": ordered,
                    "batch_size": batch_size,
                    "outs": [str(o) for o in outs],
                }
            )
        )
        child_env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        for key in {k for s in OTHER_MACHINES.values() for k in s}:  # a setting of the caller's own must not leak in
            child_env.pop(key, None)
        child_env.update(OTHER_MACHINES[setting])
        child_env.update(env or {})
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(args)], env=child_env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"encoding under {setting!r} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
        return {m: np.load(o) for m, o in zip(ordered, outs)}


def flip_rate(texts: list[str], spec, settings: tuple[str, str], batch_size: int = 64) -> dict:
    """How often the exact encoding's rounding could give another machine other bits: the
    float64 vectors of ``texts`` under two settings, how many values differ and by how much, the
    values whose rounded (grid) value differs, and the expected number of such flips (a value
    whose two float64 results are ``d`` apart lands on different grid points with probability
    ``d / 2**-GRID_BITS``, its position on the grid being uniform)."""
    from stoffwechsel.features.embeddings import GRID_BITS, snap

    a, b = (encode_elsewhere(texts, spec, s, "float64", batch_size) for s in settings)
    d = np.abs(a - b)
    step = 2.0**-GRID_BITS
    return {
        "settings": list(settings),
        "texts": len(texts),
        "values": int(d.size),
        "float64_values_differing": int((d > 0).sum()),
        "largest_float64_difference": float(d.max()),
        "grid_step": step,
        "flips_observed": int((snap(a) != snap(b)).sum()),
        "flips_expected": float(np.minimum(d / step, 1.0).sum()),
        "flips_expected_per_million_values": float(np.minimum(d / step, 1.0).sum() / d.size * 1e6),
    }
