"""Regenerate the measured figures in README.md (between the ``figures`` markers); never type them.

Run from the repository root: ``python bench/readme_figures.py``. It runs, one after the other on this
machine, ``quidam-fast grid`` on its default from a cold JIT cache (with its wall time and peak
memory), the engine benchmark, the Eyeriss check and the per-bit energy hierarchy, and writes their output into README.md atomically.
"""

from __future__ import annotations

import datetime
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def run(command: list[str], cwd: Path, env: dict | None = None) -> tuple[str, float]:
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True,
                            env={**os.environ, **(env or {})})
    return (result.stdout + result.stderr).strip(), time.perf_counter() - started


#: The README's figures, drawn from the default grid's result by the command the README shows:
#: (``quidam-fast plot`` arguments after the result file, the committed image).
FIGURES = ((("--kind", "tradeoff"), "bench/figures/tradeoff.png"),
           (("--kind", "accuracy"), "bench/figures/accuracy.png"))
#: Answers timed on the default result (arguments after the result file; outputs go to a temporary folder).
ANSWERS = (("export", "--where", "area_mm2<=10", "--out", "{folder}/designs.parquet"),
           # the README's worked example: the report and a front under constraints (wall times: the
           # report's target is < 3 s on the default result, start-up and reading included)
           ("report", "--where", "bits==8", "--where", "area_mm2<=10", "--where", "throughput_ips>=30"),
           ("pareto", "--objectives", "energy_per_inference_j:min,perf_per_area:max", "--where", "bits==8",
            "--where", "area_mm2<=10", "--out", "{folder}/front.csv"))


def figures(result: Path) -> list[tuple[str, str]]:
    """Draw :data:`FIGURES` from ``result`` (the default grid's) into the repository and time
    :data:`ANSWERS` on it; returns README sections (title, output) with the wall times."""
    sections = []
    for arguments, image in FIGURES:
        (ROOT / image).parent.mkdir(parents=True, exist_ok=True)
        output, seconds = run(["quidam-fast", "plot", str(result), *arguments, "--out", str(ROOT / image)], ROOT)
        sections.append((f"`quidam-fast plot quidam-grid.nc {' '.join(arguments)} --out {Path(image).name}` "
                         f"(wall {seconds:.1f} s; a figure above)", output.replace(str(ROOT / image), Path(image).name)))
    with tempfile.TemporaryDirectory() as folder:
        for command, *arguments in ANSWERS:
            arguments = [a.format(folder=folder) for a in arguments]
            output, seconds = run(["quidam-fast", command, str(result), *arguments], ROOT)
            shown = " ".join(a.replace(f"{folder}/", "") for a in arguments)
            sections.append((f"`quidam-fast {command} quidam-grid.nc {shown}` (wall {seconds:.1f} s)",
                             output.replace(f"{folder}/", "")))
    return sections


def main() -> None:
    sections = []
    # first, so that the children's peak memory is the grid's; an empty numba cache folder makes it a
    # cold start, as on a fresh install (every kernel compiled)
    with tempfile.TemporaryDirectory() as folder:
        grid, seconds = run(["quidam-fast", "grid", "--quiet"], Path(folder), env={"NUMBA_CACHE_DIR": folder})
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # before any other child
        size_mb = (Path(folder) / "quidam-grid.nc").stat().st_size / 1e6
        answers = figures(Path(folder) / "quidam-grid.nc")
        # Pareto fronts of 10 M x 2 and 1 M x 3 points, and open_result / report on the default result
        pareto, _ = run([sys.executable, str(ROOT / "bench/bench_pareto.py"), "--repeats", "3",
                         "--result", "quidam-grid.nc"], Path(folder))
        # where a warm grid's time goes: evaluate, dataset, accuracy, report, writing the file; opening it
        pipeline, _ = run([sys.executable, str(ROOT / "bench/bench_grid_pipeline.py"), "--repeats", "3",
                           "--out", str(Path(folder) / "pipeline.nc")], Path(folder))
        pipeline = pipeline.replace(f"{folder}/", "")
    sections.append((f"`quidam-fast grid` (wall {seconds:.1f} s with JIT compilation from an empty cache; "
                     f"peak memory {peak_mib:.0f} MiB; quidam-grid.nc {size_mb:.1f} MB)", grid))
    sections.extend(answers)
    sections.append(("`python bench/bench_pareto.py --repeats 3 --result quidam-grid.nc` (the default result)", pareto))
    sections.append(("`python bench/bench_grid_pipeline.py --repeats 3 --out pipeline.nc` (the default grid, warm)",
                     pipeline))
    bench, _ = run([sys.executable, "bench/bench_engine.py", "--repeats", "5"], ROOT)
    sections.append(("`python bench/bench_engine.py --repeats 5`", bench))
    eyeriss, _ = run([sys.executable, "bench/eyeriss_check.py"], ROOT)
    sections.append(("`python bench/eyeriss_check.py`", eyeriss))
    sweep, _ = run([sys.executable, "bench/buffer_sweep.py"], ROOT)
    sections.append(("`python bench/buffer_sweep.py`", sweep))
    phases, _ = run([sys.executable, "bench/workload_phases.py"], ROOT)
    sections.append(("`python bench/workload_phases.py` (an ONNX file, GPT-2 prefill and decode: best dataflow)", phases))
    hierarchy, _ = run([sys.executable, "bench/energy_hierarchy.py"], ROOT)
    sections.append(("`python bench/energy_hierarchy.py`", hierarchy))
    stamp = (f"Measured {datetime.date.today().isoformat()} on {platform.machine()} "
             f"({os.cpu_count()} cores, one used), Python {platform.python_version()}.")
    body = "\n\n".join(f"{title}:\n\n```text\n{output}\n```" for title, output in sections)
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"README.md lacks the markers {START} ... {END}")
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    new = f"{head}{START}\n{stamp} Regenerate with `python bench/readme_figures.py`.\n\n{body}\n{END}{tail}"
    temporary = readme.with_suffix(".md.tmp")
    temporary.write_text(new)
    temporary.replace(readme)
    print(f"updated {readme}")


if __name__ == "__main__":
    main()
