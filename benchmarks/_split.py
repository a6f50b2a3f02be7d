"""Where the time of one ``cnnpipe run`` goes: its phases run in-process, one at a time.

Each phase calls the functions ``cnnpipe run`` calls, in the same order, on one
thread, and is timed by the CPU time it uses (``time.process_time``), which a
busy machine disturbs much less than wall time. The run itself overlaps
phases in threads (encoding beside mapping, the next detector's maps beside
the current one's writes), so its wall time is below the sum; the sum is the
work, and the largest phase the next bottleneck. Start-up is the wall time of
a fresh interpreter importing what a run imports (median of ``repeat``).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# What `cnnpipe run` imports before it reads its first input.
RUN_IMPORTS = ("import cnnpipe.cli, cnnpipe.cli.run, cnnpipe.batch.runner, cnnpipe.batch.work,"
               " cnnpipe.outputs, cnnpipe.io, cnnpipe.pictures.sheet, cnnpipe.render")

PHASES = ("start-up", "decode", "compute", "mapping", "encode", "overview", "write")


def startup_ms(repeat: int, env: dict) -> float:
    def once():
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", RUN_IMPORTS], check=True, env=env)
        return time.perf_counter() - start
    once()
    return 1000 * statistics.median(once() for _ in range(repeat))


class _Clock:
    def __init__(self):
        self.cpu = dict.fromkeys(PHASES[1:], 0.0)

    def __call__(self, phase, fn, *args, **kwargs):
        start = time.process_time()
        result = fn(*args, **kwargs)
        self.cpu[phase] += time.process_time() - start
        return result


def run_phases(photo: Path, kernel_names) -> dict:
    """CPU seconds of each phase of one run of ``photo`` with ``kernel_names`` (one thread)."""
    from cnnpipe import io
    from cnnpipe.kernels import BUILTIN
    from cnnpipe.layer import Params, iter_detectors
    from cnnpipe.outputs import maps
    from cnnpipe.pictures import mapping
    from cnnpipe.pictures.ranges import summarize
    from cnnpipe.pictures.sheet import OverviewSheet

    clock = _Clock()
    kernels = [BUILTIN[name] for name in kernel_names]
    loaded = clock("decode", io.load_image, str(photo))
    image = loaded.array
    blobs = []
    inp = clock("mapping", mapping.choose_mapping, image, stage="input")
    pixels, palette = clock("mapping", mapping.to_png_pixels, image, inp)
    blobs.append(clock("encode", io.encode_png, pixels, text=mapping.png_text(inp)))
    sheet = clock("overview", OverviewSheet, "photo", mapping.palette_to_rgb(pixels, palette),
                  "photo", input_mapping=inp)
    detectors = clock("compute", list, iter_detectors(image, kernels, Params(), threads=1))
    for det in detectors:  # as cnnpipe.outputs.maps._prepare and _write_map do
        items = det.items()
        summaries = [clock("mapping", summarize, array) for _, array in items]
        chosen = clock("mapping", mapping.detector_mappings, items,
                       bounds=[s.bounds for s in summaries])
        for (stage, array), m, summary in zip(items, chosen, summaries, strict=True):
            entry = clock("mapping", maps.stats, array, summary=summary)
            pixels, palette = clock("mapping", mapping.to_png_pixels, array, m)
            blobs.append(clock("encode", io.encode_png, pixels, text=mapping.png_text(m),
                               palette=palette))
            clock("overview", sheet.add, det.kernel.name, stage, array, m, pixels=pixels,
                  palette=palette, weights=det.kernel.weights,
                  value_range=(entry["min"], entry["max"]))
    blobs.append(clock("overview", sheet.to_png_bytes))
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(blobs):
            clock("write", io.atomic_write, Path(tmp) / f"{i}.png", data, fsync_folder=False)
        clock("write", io.sync_folder, Path(tmp))
    return clock.cpu


def split(photo: Path, kernel_names, repeat: int, env: dict) -> dict:
    """Milliseconds per phase: start-up wall time, then the median CPU time of the others."""
    runs = [run_phases(photo, kernel_names) for _ in range(repeat)]
    out = {"start-up": startup_ms(repeat, env)}
    for phase in PHASES[1:]:
        out[phase] = 1000 * statistics.median(r[phase] for r in runs)
    return out
