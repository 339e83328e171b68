"""Building the monitoring website: ``quarto render`` when Quarto is installed, else the package's
pure-Python renderer of the same pages.

``_quarto.yml`` (project type ``website``) lists the executed notebooks to publish
(``project.render``) and the navigation bar (``website.navbar``). :func:`build_site` runs
``quarto render`` (:func:`render_with_quarto`) when :func:`choose_renderer` picks Quarto and
otherwise :func:`render_site`, which reads the same ``_quarto.yml`` and the executed notebooks and
writes the same page layout: ``reports/notebooks/pages/overview.ipynb`` becomes
``_site/reports/notebooks/pages/overview.html``, and ``_site/index.html`` redirects to the main page
(the page with ``format: dashboard``, else the first page of the render list).

The Python renderer supports the subset of Quarto that the pipeline's notebooks use (see
``docs/dashboard.md`` for the list; the parts: :mod:`stoffwechsel.site.project` reads the project,
:mod:`stoffwechsel.site.markdown` and :mod:`stoffwechsel.site.render` write the page bodies,
:mod:`stoffwechsel.site.page` the documents around them). Code (cell input) is never shown. Pages
are self-contained (inline CSS, images as data URIs, no scripts, no external resources),
deterministic (same inputs, same bytes) and work from ``file://`` as well as from a static web
server.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from stoffwechsel.site.page import (
    check_self_contained,
    index_redirect_html,
    notebook_links_to_html,
    page_html,
    rewrite_urls,
)
from stoffwechsel.site.project import SiteRenderError, load_config, main_page, read_page
from stoffwechsel.site.render import PageRenderer

__all__ = [
    "render_site",
    "RENDERER_ENV",
    "RENDERERS",
    "find_quarto",
    "choose_renderer",
    "render_with_quarto",
    "build_site",
    "SITE_MANIFEST",
    "site_manifest",
    "inputs_fingerprint",
    "PAGES_STAMP",
    "pages_fingerprint",
    "write_pages_stamp",
    "pages_are_current",
    "write_site_records",
    "site_is_current",
    "add_environment_block",
]


# ------------------------------------------------------------------------------------------------
# The pure-Python renderer
# ------------------------------------------------------------------------------------------------


def render_site(root: Path, output_dir: Path | None = None) -> list[Path]:
    """Render the website of ``root/_quarto.yml`` in pure Python; return the written pages.

    Writes ``<output-dir>/<notebook path>.html`` for every notebook in ``project.render`` and,
    unless the project has an index page, ``<output-dir>/index.html``: a redirect to the main page
    (the first dashboard), as :func:`build_site` writes after ``quarto render``. Removes the
    previous output folder first (as a full ``quarto render`` does). ``output_dir`` overrides
    ``project.output-dir``.
    """
    config = load_config(Path(root))
    pages = {source: read_page(config, source) for source in config.pages}
    main = main_page(config, pages)
    bodies: dict[str, str] = {}
    for source, page in pages.items():
        body = PageRenderer(config, page).body()
        body = rewrite_urls(body, notebook_links_to_html)
        check_self_contained(body, source)
        bodies[source] = body
    documents: dict[str, str] = {}
    for source, page in pages.items():
        documents[page.output] = page_html(config, page, bodies[source], page.output, source, pages)
    if "index.html" not in documents:
        documents["index.html"] = index_redirect_html(config, main)
    out_dir = Path(output_dir).resolve() if output_dir is not None else config.output_dir
    if out_dir.exists():
        shutil.rmtree(out_dir)
    written = []
    for rel, text in sorted(documents.items()):
        target = out_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(text.encode("utf-8"))
        written.append(target)
    return written


# ------------------------------------------------------------------------------------------------
# Quarto, and the choice between the two
# ------------------------------------------------------------------------------------------------

#: environment variable that picks the renderer where ``--renderer`` / ``renderer=`` is not given
RENDERER_ENV = "STOFFWECHSEL_SITE_RENDERER"
#: ``auto``: Quarto when it is on ``PATH``, else the Python renderer
RENDERERS = ("auto", "quarto", "python")


def find_quarto() -> str | None:
    """The ``quarto`` binary on ``PATH``, or None."""
    return shutil.which("quarto")


def choose_renderer(renderer: str | None = None) -> str:
    """``"quarto"`` or ``"python"``: ``renderer`` if given, else ``$STOFFWECHSEL_SITE_RENDERER``,
    else ``"auto"`` (Quarto when it is on ``PATH``). Asking for Quarto without it is an error."""
    choice = renderer or os.environ.get(RENDERER_ENV) or "auto"
    if choice not in RENDERERS:
        source = "renderer" if renderer else RENDERER_ENV
        raise SiteRenderError(f"{source}: must be one of {', '.join(RENDERERS)}, not {choice!r}")
    if choice == "auto":
        return "quarto" if find_quarto() else "python"
    if choice == "quarto" and find_quarto() is None:
        raise SiteRenderError(
            "renderer 'quarto' asked for, but quarto is not on PATH "
            "(install Quarto, or use the Python renderer: --renderer python)"
        )
    return choice


def render_with_quarto(root: Path, output_dir: Path | None = None) -> list[Path]:
    """``quarto render`` of the project (it only reads the executed notebooks). The project's
    ``post-render`` script (``_post_render.py``) makes the output small and offline and writes the
    ``index.html`` redirect; :func:`stoffwechsel.site.postrender.finish_site` runs here again (it is
    idempotent) so a project without the script gets the same site. ``.quarto/`` (Quarto's scratch
    folder) is listed in the project's ``.gitignore``."""
    from stoffwechsel.site.postrender import finish_site

    root = Path(root).resolve()
    config = load_config(root)
    out_dir = Path(output_dir).resolve() if output_dir is not None else config.output_dir
    cmd = [find_quarto() or "quarto", "render"]
    if output_dir is not None:
        cmd += ["--output-dir", str(out_dir)]
    env = {**os.environ}
    env.setdefault("QUARTO_PYTHON", sys.executable)  # the post-render script needs this package's Python
    proc = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SiteRenderError(f"quarto render failed ({proc.returncode}) in {root}:\n{proc.stderr[-4000:]}")
    finish_site(out_dir, root)
    return sorted(out_dir.rglob("*.html"))


def build_site(root: Path, renderer: str | None = None, output_dir: Path | None = None) -> list[Path]:
    """Build the site with the renderer :func:`choose_renderer` picks (``quarto render`` or
    :func:`render_site`); returns the site's HTML pages."""
    if choose_renderer(renderer) == "quarto":
        return render_with_quarto(root, output_dir)
    return render_site(Path(root).resolve(), output_dir)


# ------------------------------------------------------------------------------------------------
# What dvc.lock records of the site, and whether _site/ is current
# ------------------------------------------------------------------------------------------------

#: the `site` stage's declared output: the pages built and their titles (the same on every machine)
SITE_MANIFEST = "reports/site.json"
#: in the output folder: the fingerprint of the inputs the site was built from
SITE_STAMP = ".built-from.json"


def site_manifest(root: Path) -> dict:
    """The pages of ``_quarto.yml`` (source notebook, page, title) and the main page: what the site
    shows, not how a renderer wrote it, so its bytes do not depend on Quarto or the fallback."""
    config = load_config(Path(root))
    pages = {s: read_page(config, s) for s in config.pages}
    return {
        "main_page": main_page(config, pages).output,
        "pages": [{"source": s, "page": p.output, "title": p.title} for s, p in pages.items()],
        "output_dir": config.output_dir.name,
    }


def _stage_inputs(root: Path, stage: str = "site") -> tuple[list[str], list[str]]:
    """The stage's declared deps and params sections; none for a site rendered outside a DVC
    pipeline (no dvc.yaml: a project folder of pages alone)."""
    import yaml

    if not (root / "dvc.yaml").is_file():
        return [], []
    spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"][stage]
    deps = [d if isinstance(d, str) else next(iter(d)) for d in spec.get("deps", [])]
    params = [p if isinstance(p, str) else next(iter(p)) for p in spec.get("params", [])]
    return deps, params


def inputs_fingerprint(root: Path, leave_out: frozenset[str] = frozenset()) -> str:
    """md5 over the content of every input the `site` stage declares (files, every file of a
    folder) but ``leave_out``, and its params sections: it changes exactly when those inputs do."""
    import hashlib

    from stoffwechsel.data.io import md5_file

    root = Path(root)
    deps, sections = _stage_inputs(root)
    digest = hashlib.md5()
    for dep in sorted(set(deps) - leave_out):
        path = root / dep
        files = sorted(f for f in path.rglob("*") if f.is_file()) if path.is_dir() else [path]
        for f in files:
            if "__pycache__" in f.parts:
                continue
            digest.update(f"{f.relative_to(root).as_posix()}\0{md5_file(f) if f.is_file() else '-'}\n".encode())
    from stoffwechsel.config import load_params

    params = load_params(path=root / "params.yaml") if sections else {}
    digest.update(repr(sorted((s, repr(params.get(s))) for s in sections)).encode())
    return digest.hexdigest()


# ------------------------------------------------------------------------------------------------
# The executed page notebooks: run once per set of inputs
# ------------------------------------------------------------------------------------------------

#: in the executed pages' folder (``reports/notebooks/pages/``): the fingerprint of the inputs
#: the pages were executed from (a dot file: neither renderer publishes it)
PAGES_STAMP = ".executed-from.json"


def _stage_outputs(root: Path, stage: str) -> frozenset[str]:
    import yaml

    if not (root / "dvc.yaml").is_file():
        return frozenset()
    spec = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"].get(stage, {})
    outs = [o for key in ("outs", "metrics") for o in spec.get(key, [])]
    return frozenset(o if isinstance(o, str) else next(iter(o)) for o in outs)


def _pages_dir(root: Path) -> Path:
    from stoffwechsel import config

    return Path(root) / config.EXECUTED_NOTEBOOKS_DIR.relative_to(config.ROOT) / "pages"


def pages_fingerprint(root: Path) -> str:
    """What the page notebooks are executed from: the `site` stage's inputs (:func:`inputs_fingerprint`)
    less the `verify` stage's outputs (the Verification page and record, which no page reads), so it
    is the same when `verify` executes the pages and when `site` comes to render them."""
    return inputs_fingerprint(root, leave_out=_stage_outputs(Path(root), "verify"))


def write_pages_stamp(root: Path, fingerprint: str | None) -> Path:
    """Record (``fingerprint``) or, with None, forget which inputs the executed pages come from:
    :func:`stoffwechsel.notebooks.run_page_notebooks` forgets before it executes and records after
    every page has run, so a half-run folder is never taken for a current one."""
    import json

    stamp = _pages_dir(root) / PAGES_STAMP
    if fingerprint is None:
        stamp.unlink(missing_ok=True)
    else:
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(json.dumps({"inputs": fingerprint}, indent=1) + "\n", encoding="utf-8")
    return stamp


def pages_are_current(root: Path) -> bool:
    """Whether every page notebook has its executed copy and they were executed from the inputs
    that are here now: in a `dvc repro` the `verify` stage has just executed them (to check
    targets 5 and 7 on them), and the `site` stage renders them without running them again."""
    import json

    from stoffwechsel import config

    root = Path(root)
    pages_dir = _pages_dir(root)
    sources = sorted((root / config.NOTEBOOKS_DIR.relative_to(config.ROOT) / "pages").glob("*.ipynb"))
    if not sources or not all((pages_dir / s.name).is_file() for s in sources):
        return False
    try:
        recorded = json.loads((pages_dir / PAGES_STAMP).read_text(encoding="utf-8")).get("inputs")
    except (OSError, ValueError):
        return False
    return recorded == pages_fingerprint(root)


def write_site_records(root: Path, renderer: str, fingerprint: str | None = None) -> Path:
    """After a build: the manifest (``reports/site.json``, tracked) and, in the output folder, the
    fingerprint of the inputs it was built from and the renderer (machine facts, untracked)."""
    import json

    root = Path(root)
    config = load_config(root)
    manifest = root / SITE_MANIFEST
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps(site_manifest(root), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    stamp = {"inputs": fingerprint or inputs_fingerprint(root), "renderer": renderer}
    (config.output_dir / SITE_STAMP).write_text(json.dumps(stamp, indent=1) + "\n", encoding="utf-8")
    return manifest


def site_is_current(root: Path) -> bool:
    """Whether ``_site`` exists and was built from the inputs that are here now (False after a
    ``dvc pull`` into a fresh clone, or a ``dvc checkout`` to other data)."""
    import json

    root = Path(root)
    stamp = load_config(root).output_dir / SITE_STAMP
    if not stamp.is_file() or not (root / SITE_MANIFEST).is_file():
        return False
    try:
        built = json.loads(stamp.read_text(encoding="utf-8")).get("inputs")
    except ValueError:
        return False
    return built == inputs_fingerprint(root)


def add_environment_block(root: Path, page_source: str = "reports/notebooks/07_verify.ipynb") -> Path | None:
    """Show this machine's verification facts (``reports/verification-environment.json``: the
    browser check, the renderer, the test suite's records) on the rendered Verification page, in
    an analysts' block at the end of its content. They are not in the executed notebook, whose
    bytes are in ``dvc.lock`` and the same on every machine; ``_site/`` is not. Returns the page
    written, or None when there is no record or no such page."""
    import json

    from stoffwechsel.config import VERIFICATION_ENVIRONMENT_FILE
    from stoffwechsel.site import pages as page_blocks

    root = Path(root)
    record = root / "reports" / VERIFICATION_ENVIRONMENT_FILE
    config = load_config(root)
    if not record.is_file() or page_source not in config.pages:
        return None
    page = config.output_dir / read_page(config, page_source).output
    if not page.is_file():
        return None
    facts = json.dumps(json.loads(record.read_text(encoding="utf-8")), indent=1, ensure_ascii=False)[:6000]
    block = page_blocks.for_analysts(
        page_blocks.paragraph(
            "Checks that depend on this computer (the browser, the renderer, the test suite's last run); "
            f"they are not part of the verification record: reports/{VERIFICATION_ENVIRONMENT_FILE}"
        )
        + page_blocks.preformatted(facts),
        "For analysts: what this computer checked",
    )
    html_text = page.read_text(encoding="utf-8")
    anchor = "</main>" if "</main>" in html_text else "</body>"
    at = html_text.rindex(anchor)
    page.write_text(html_text[:at] + str(block) + "\n" + html_text[at:], encoding="utf-8")
    return page
