"""Running the stage notebooks with Papermill, parameters from ``params.yaml``.

Each DVC stage is one notebook in ``notebooks/``; its parameters are the stage's section of
``params.yaml``. The executed copy goes to ``reports/notebooks/`` and is a terminal output:
executed notebooks are never byte-identical, so no later stage depends on them (the contract
between stages is the deterministic data files each notebook writes).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import yaml

from stoffwechsel import config


def notebook_path(stage: str) -> Path:
    """The stage's notebook, by convention ``notebooks/NN_<stage>.ipynb``."""
    found = sorted(config.NOTEBOOKS_DIR.glob(f"[0-9][0-9]_{stage}.ipynb"))
    if len(found) != 1:
        have = ", ".join(p.stem.split("_", 1)[1] for p in sorted(config.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb")))
        raise KeyError(f"no single notebook notebooks/NN_{stage}.ipynb for stage '{stage}' (stages: {have})")
    return found[0]


def stage_sections(stage: str) -> list[str]:
    """The params.yaml sections a stage declares in dvc.yaml (its own, plus shared ones such as
    ``split``, the one global time cutoff)."""
    with open(config.ROOT / "dvc.yaml", encoding="utf-8") as fh:
        stages = yaml.safe_load(fh)["stages"]
    if stage not in stages:
        raise KeyError(f"dvc.yaml: no stage '{stage}' (have: {', '.join(stages)})")
    return [p for p in stages[stage].get("params", []) if isinstance(p, str)]


def stage_parameters(stage: str, params_file: Path | None = None) -> dict:
    """Papermill parameters of a stage: the union of its declared params.yaml sections, less the
    data contract's settings in ``materials`` (``load_materials`` reads those itself, so the
    notebooks' parameters cells do not repeat them and Papermill need not pass them)."""
    import dataclasses

    from stoffwechsel.data.schema import ContractSettings

    contract = {f.name for f in dataclasses.fields(ContractSettings)}
    merged: dict = {}
    for section in stage_sections(stage):
        values = config.load_params(section, params_file)
        if section == "materials":
            values = {k: v for k, v in values.items() if k not in contract}
        clash = set(merged) & set(values)
        if clash:
            raise KeyError(f"params.yaml: sections of stage '{stage}' repeat the keys {sorted(clash)}")
        merged.update(values)
    return merged


def stage_outputs(stage: str) -> list[str]:
    """The paths a stage declares in dvc.yaml (``outs``, ``metrics``, ``plots``)."""
    with open(config.ROOT / "dvc.yaml", encoding="utf-8") as fh:
        spec = yaml.safe_load(fh)["stages"].get(stage, {})
    paths = []
    for kind in ("outs", "metrics", "plots"):
        for entry in spec.get(kind, []) or []:
            paths += [entry] if isinstance(entry, str) else list(entry)
    return [p for p in paths if "${" not in p]


def restore_tracked_outputs(stage: str) -> list[str]:
    """Put back the stage's git-tracked outputs that are missing, from git's index, and return
    their paths.

    DVC removes a stage's outputs before it runs its command. When the stage then stops (too
    little history, no recommendation log, ...) or fails, the committed reports it would have
    rewritten (``reports/metrics/*.json``, ...) would be gone from the user's working copy: the
    runner restores them, so a stage that does not finish deletes no tracked file. Outputs
    DVC caches (``data/...``) are not in git; ``dvc checkout`` restores those. Outside a git
    checkout (or without git) nothing is done."""
    import subprocess

    paths = stage_outputs(stage)
    if not paths:
        return []
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--", *paths], cwd=config.ROOT, capture_output=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    missing = [p for p in listed.decode().split("\0") if p and not (config.ROOT / p).exists()]
    if missing:
        subprocess.run(["git", "checkout", "--", *missing], cwd=config.ROOT, capture_output=True, check=True)
    return missing


def _kernel_environment() -> None:
    """Environment the notebook kernels inherit."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # figures must reach the executed notebook as images (Agg would swallow them)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in executed notebooks
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ["STOFFWECHSEL_ROOT"] = str(config.ROOT)
    # The kernel imports this checkout's lib/ (not whatever copy is installed), so that an older
    # commit checked out elsewhere recomputes with its own code; and it runs this interpreter.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(config.ROOT / "lib"), os.environ.get("PYTHONPATH", "")]).rstrip(
        os.pathsep
    )
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def import_papermill():
    """Papermill (which imports nbformat), imported as
    :func:`stoffwechsel.site.project.import_nbformat` imports nbformat."""
    from stoffwechsel.site.project import import_nbformat

    import_nbformat()
    import papermill

    return papermill


def kernel_manager_class():
    """The kernel manager the runner uses: Jupyter's, over IPC sockets instead of TCP.

    A kernel on TCP warns "Kernel is running over TCP without encryption" at every start (six
    times in ``verify``) and listens on loopback ports; over IPC each kernel talks through sockets
    of its own in the temp folder, so there is nothing to warn about and nothing listens.

    It also does not interrupt a kernel it is shutting down: jupyter_client sends SIGINT before
    every shutdown request, and the kernel, busy with that request, logs ``[IPKernelApp] ERROR |
    KeyboardInterrupt caught in kernel.`` into a successful stage's log. nbclient shuts the kernel
    down only after the last cell (or after its own timeout interrupt), so there is nothing left
    to interrupt; an interrupt asked for while the kernel runs is sent as before."""
    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.transport = "ipc"
            # A socket path of its own: the default ("kernel-ipc-N" in the working folder) is shared
            # by kernels started side by side (the site's pages), which then read each other's messages.
            self.ip = os.path.join(tempfile.gettempdir(), f"stoffwechsel-kernel-{uuid.uuid4().hex[:12]}")

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

    return IPCKernelManager


def _cell_label(source: str, width: int = 60) -> str:
    """A cell's first comment or first line, shortened: what a progress line names."""
    lines = [line.strip() for line in source.splitlines() if line.strip()]
    comments = [line.lstrip("# ").strip() for line in lines if line.startswith("#") and not line.startswith("#|")]
    text = comments[0] if comments else (lines[0] if lines else "(empty)")
    return text if len(text) <= width else text[: width - 1] + "…"


def progress_engine(label: str, out=None):
    """A Papermill engine that prints one line per executed code cell (its number, what it does,
    its time, the stage's elapsed time) to stderr, so a long stage shows where it is."""
    from papermill.engines import NBClientEngine

    stream = out or sys.stderr

    class ProgressEngine(NBClientEngine):
        @classmethod
        def execute_managed_notebook(cls, nb_man, kernel_name, **kwargs):
            code = [i for i, c in enumerate(nb_man.nb.cells) if c.cell_type == "code"]
            started, complete = time.monotonic(), nb_man.cell_complete

            def cell_complete(cell, cell_index=None, **kw):
                complete(cell, cell_index=cell_index, **kw)
                if cell_index in code:
                    took = cell.metadata.get("papermill", {}).get("duration") or 0.0
                    print(
                        f"[{label}] cell {code.index(cell_index) + 1}/{len(code)} {_cell_label(cell.source)}: "
                        f"{took:.1f} s (elapsed {time.monotonic() - started:.0f} s)",
                        file=stream,
                        flush=True,
                    )

            nb_man.cell_complete = cell_complete
            return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)

    return ProgressEngine


def _execute(papermill, source: Path, target: Path, label: str, run_record: bool = True, **kwargs) -> None:
    """Papermill with the runner's settings: IPC kernel, progress lines, no output logging."""
    from papermill.engines import papermill_engines

    engine = f"stoffwechsel-{label}"
    papermill_engines.register(engine, progress_engine(label))
    papermill.execute_notebook(
        str(source),
        str(target),
        kernel_name="python3",
        progress_bar=False,
        log_output=False,
        engine_name=engine,
        kernel_manager_class=kernel_manager_class(),
        **kwargs,
    )
    drop_run_metadata(target, run_record)


#: Per-run metadata Papermill and Jupyter write into an executed notebook (times, durations).
RUN_METADATA = ("papermill", "execution")


#: The notebook-level part of Papermill's run record that describes the run, not the result.
RUN_RECORD = ("start_time", "end_time", "duration", "input_path", "output_path", "environment_variables")


def drop_run_metadata(path: Path, run_record: bool = True) -> None:
    """Remove the per-run times and durations from an executed notebook's cells: Quarto copies
    cell metadata into the page's HTML, so without this the same data rendered twice gives different
    pages (and DVC, which caches the executed 06 and 07 notebooks, sees a change every run).
    The notebook-level run record stays (`make bench` reads its duration) unless ``run_record`` is
    False: an executed notebook that dvc.yaml declares as an output (its md5 is in dvc.lock) keeps
    no times nor absolute paths nor its stderr (progress lines with times, kernel logs), and its
    injected parameters cell a fixed id, so the same run on another machine gives the same bytes."""
    from stoffwechsel.site.project import import_nbformat

    nbformat = import_nbformat()

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for key in RUN_METADATA:
            cell.metadata.pop(key, None)
    if not run_record:
        for key in RUN_RECORD:
            nb.metadata.get("papermill", {}).pop(key, None)
        language = nb.metadata.get("language_info", {})
        nb.metadata["language_info"] = {"name": language.get("name", "python")}  # not the patch version
        for cell in nb.cells:  # progress lines and kernel logs (times) are not the page
            if "outputs" in cell:
                cell.outputs = [o for o in cell.outputs if not (o.output_type == "stream" and o.name == "stderr")]
            if "injected-parameters" in cell.metadata.get("tags", []):
                cell.id = "injected-parameters"  # Papermill gives the cell it adds a random id
    nbformat.write(nb, path)


def declared_output(target: Path) -> bool:
    """Whether dvc.yaml declares ``target`` (an executed notebook) as a stage output."""
    dvc_yaml = config.ROOT / "dvc.yaml"
    if not dvc_yaml.is_file():
        return False
    stages = (yaml.safe_load(dvc_yaml.read_text(encoding="utf-8")) or {}).get("stages", {})
    rel = target.resolve().relative_to(config.ROOT.resolve()).as_posix()
    return any(rel == (o if isinstance(o, str) else next(iter(o))) for s in stages.values() for o in s.get("outs", []))


def run_stage_notebook(stage: str, params_file: Path | None = None) -> Path:
    """Execute the stage's notebook headless with its params.yaml section; return the output path."""
    papermill = import_papermill()  # imported here: the CLI's other commands should start fast

    parameters = stage_parameters(stage, params_file)
    source = notebook_path(stage)
    target = config.EXECUTED_NOTEBOOKS_DIR / source.name
    target.parent.mkdir(parents=True, exist_ok=True)  # papermill does not create folders
    _kernel_environment()
    _execute(
        papermill,
        source,
        target,
        stage,
        run_record=not declared_output(target),
        parameters=parameters,
        cwd=str(config.NOTEBOOKS_DIR),
    )
    return target


def run_page_notebooks(jobs: int | None = None) -> list[Path]:
    """Execute the website's page notebooks (``notebooks/pages/*.ipynb``, no parameters) into
    ``reports/notebooks/pages/``; they read only the pipeline's aggregated outputs.

    Without a recommendation log the monitoring pages are not executed: the page each shows says
    monitoring starts once a log is supplied (:func:`stoffwechsel.site.pages.waiting_page`).

    Each runs in its own kernel, ``jobs`` at a time (default: one per core): most of a page's
    time is its kernel starting and importing, which overlaps well. Afterwards the folder records
    the inputs they ran from (:func:`stoffwechsel.site.build.pages_are_current`), so the `site`
    stage, right after `verify` ran them, renders them without executing them again."""
    from concurrent.futures import ThreadPoolExecutor

    from stoffwechsel.site import pages
    from stoffwechsel.site.build import pages_fingerprint, write_pages_stamp
    from stoffwechsel.site.project import import_nbformat

    papermill = import_papermill()
    nbformat = import_nbformat()
    _kernel_environment()
    sources = sorted((config.NOTEBOOKS_DIR / "pages").glob("*.ipynb"))
    (config.EXECUTED_NOTEBOOKS_DIR / "pages").mkdir(parents=True, exist_ok=True)  # papermill does not create folders

    waiting = pages.monitoring_waits()  # no recommendation log: the monitoring pages say so instead
    inputs = pages_fingerprint(config.ROOT)  # before they run: the stamp says what they were run from
    write_pages_stamp(config.ROOT, None)

    def run(source: Path) -> Path:
        target = config.EXECUTED_NOTEBOOKS_DIR / "pages" / source.name
        if waiting and source.stem in pages.MONITORING_PAGES:
            nbformat.write(pages.waiting_page(source), target)
            return target
        _execute(papermill, source, target, f"page {source.stem}", cwd=str(source.parent))
        return target

    with ThreadPoolExecutor(max_workers=max(1, jobs or os.cpu_count() or 1)) as pool:
        executed = list(pool.map(run, sources))
    write_pages_stamp(config.ROOT, inputs)  # every page ran: the site stage need not run them again
    return executed
