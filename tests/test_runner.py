"""The notebook runner: kernels over IPC (no "running over TCP without encryption" warning at every
stage start) and one progress line per executed cell (issue 17)."""

from __future__ import annotations

import io

import nbformat

from stoffwechsel import notebooks


def test_runner_prints_one_line_per_code_cell_and_no_tcp_warning(tmp_path, capfd):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# title"),
        nbformat.v4.new_code_cell("# load the data\nx = 1"),
        nbformat.v4.new_code_cell("y = x + 1\nprint(y)"),
    ]
    for i, cell in enumerate(nb.cells):
        cell.id = f"cell-{i:02d}"
    source, target = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    stream = io.StringIO()
    papermill = notebooks.import_papermill()
    from papermill.engines import papermill_engines

    papermill_engines.register("stoffwechsel-test", notebooks.progress_engine("demo", out=stream))
    papermill.execute_notebook(
        str(source),
        str(target),
        kernel_name="python3",
        progress_bar=False,
        engine_name="stoffwechsel-test",
        kernel_manager_class=notebooks.kernel_manager_class(),
    )
    lines = stream.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["[demo] cell 1/2 load the data", "[demo] cell 2/2 y = x + 1"]
    assert nbformat.read(target, as_version=4).cells[2].outputs[0]["text"] == "2\n"
    captured = capfd.readouterr()
    assert "without encryption" not in captured.out + captured.err
    # jupyter_client interrupts a kernel before shutting it down; ours does not (issue 24)
    assert "KeyboardInterrupt" not in captured.out + captured.err and "ERROR" not in captured.err, captured.err


def test_cell_label_prefers_the_first_comment_and_shortens():
    assert notebooks._cell_label("x = 1\ny = 2") == "x = 1"
    assert notebooks._cell_label("x = 1\n# what it does") == "what it does"
    assert notebooks._cell_label("\n# Build the training set\nbuild()") == "Build the training set"
    assert len(notebooks._cell_label("a" * 200)) == 60


def test_kernels_started_side_by_side_do_not_share_sockets(tmp_path):
    """The site's pages run two at a time in one folder: each IPC kernel needs its own sockets, or
    one reads the other's messages ("Invalid Signature")."""
    from concurrent.futures import ThreadPoolExecutor

    papermill = notebooks.import_papermill()

    def run(i: int) -> str:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.cells = [nbformat.v4.new_code_cell(f"print({i} * 11)")]
        nb.cells[0].id = "cell-00"
        source, target = tmp_path / f"in{i}.ipynb", tmp_path / f"out{i}.ipynb"
        nbformat.write(nb, source)
        papermill.execute_notebook(
            str(source),
            str(target),
            kernel_name="python3",
            progress_bar=False,
            cwd=str(tmp_path),
            kernel_manager_class=notebooks.kernel_manager_class(),
        )
        return nbformat.read(target, as_version=4).cells[0].outputs[0]["text"]

    with ThreadPoolExecutor(max_workers=3) as pool:
        assert list(pool.map(run, range(1, 4))) == ["11\n", "22\n", "33\n"]


def test_executed_notebooks_carry_no_run_times(tmp_path):
    """Quarto copies cell metadata into the HTML: Papermill's start/end times and durations made
    the same page differ between two renders of the same data."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["papermill"] = {"duration": 1.5, "start_time": "t0", "end_time": "t1", "parameters": {"a": 1}}
    cell = nbformat.v4.new_code_cell("1")
    cell.id = "cell-00"
    cell.metadata.update(
        papermill={"duration": 0.3, "start_time": "t0"}, execution={"iopub.status.idle": "t"}, tags=["x"]
    )
    nb.cells = [cell]
    path = tmp_path / "run.ipynb"
    nbformat.write(nb, path)
    notebooks.drop_run_metadata(path)
    again = nbformat.read(path, as_version=4)
    assert dict(again.cells[0].metadata) == {"tags": ["x"]}
    assert again.metadata["papermill"]["duration"] == 1.5  # the notebook's own record (make bench reads it)


def test_a_killed_run_leaves_no_kernel_behind(tmp_path):
    """`make test` or a stage killed mid-cell (SIGKILL: no clean-up code runs) must not leave its
    Jupyter kernel running. The runner's kernels watch their parent (JPY_PARENT_PID) and exit
    when it is gone; this kills a runner that is inside a long cell and looks for its kernel."""
    import os
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    pid_file = tmp_path / "kernel.pid"
    nb.cells = [
        nbformat.v4.new_code_cell(
            f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)"
        )
    ]
    nb.cells[0].id = "cell-00"
    nbformat.write(nb, tmp_path / "in.ipynb")
    runner = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
        from pathlib import Path
        from stoffwechsel import notebooks
        notebooks._execute(notebooks.import_papermill(), Path({str(tmp_path / "in.ipynb")!r}),
                           Path({str(tmp_path / "out.ipynb")!r}), "killed", cwd={str(tmp_path)!r})
        """),
        ]
    )
    try:
        deadline = time.monotonic() + 120
        while not pid_file.exists() or not pid_file.read_text():
            assert runner.poll() is None and time.monotonic() < deadline, "the kernel never started"
            time.sleep(0.2)
        kernel = int(pid_file.read_text())
        os.kill(kernel, 0)  # running
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()

    def alive(pid: int) -> bool:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return state != "Z"

    deadline = time.monotonic() + 30
    while alive(kernel) and time.monotonic() < deadline:
        time.sleep(0.2)
    try:
        assert not alive(kernel), f"kernel {kernel} still running after its runner was killed"
    finally:
        if alive(kernel):
            os.kill(kernel, signal.SIGKILL)


def test_a_stopped_stage_puts_back_the_committed_outputs_dvc_removed(tmp_path, monkeypatch):
    """DVC removes a stage's outputs before it runs; when the stage stops, the runner restores the
    git-tracked ones (issue 24), and leaves untracked outputs and other stages' files alone."""
    import subprocess

    from stoffwechsel import config

    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  train:\n"
        "    cmd: stoffwechsel run-notebook train\n"
        "    outs:\n      - data/models\n      - reports/claims.json:\n          cache: false\n"
        "    metrics:\n      - reports/evaluation.json:\n          cache: false\n"
        "  other:\n    cmd: x\n    outs:\n      - reports/other.json\n"
    )
    (tmp_path / "reports").mkdir()
    for name in ("claims.json", "evaluation.json", "other.json"):
        (tmp_path / "reports" / name).write_text(f'{{"{name}": 1}}\n')
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    for name in ("claims.json", "evaluation.json", "other.json"):
        (tmp_path / "reports" / name).unlink()
    monkeypatch.setattr(config, "ROOT", tmp_path)
    assert notebooks.stage_outputs("train") == ["data/models", "reports/claims.json", "reports/evaluation.json"]
    assert notebooks.restore_tracked_outputs("train") == ["reports/claims.json", "reports/evaluation.json"]
    assert (tmp_path / "reports" / "claims.json").read_text() == '{"claims.json": 1}\n'
    assert not (tmp_path / "reports" / "other.json").exists()
    assert notebooks.restore_tracked_outputs("train") == []  # nothing missing: nothing done
