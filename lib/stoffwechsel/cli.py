"""The ``stoffwechsel`` command line (Typer)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import typer

# rich_markup_mode=None: plain Click help, which shows flags (--no-drift, --help) without a value type.
app = typer.Typer(
    help="Stoffwechsel recommendation pipeline tools.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code=1)


@app.command()
def simulate(
    out: Path = typer.Option(..., "--out", help="Folder to write the materials into (created)."),
    seed: int = typer.Option(42, help="Random seed; same seed and options give byte-identical files."),
    scale: float = typer.Option(1.0, help="Multiplies every file's row count (10 = ten times the rows)."),
    shift: str | None = typer.Option(
        None, help="Extra drift: COLUMN=VALUE of customers.csv, e.g. segment='Trend Seekers'."
    ),
    shift_start: str | None = typer.Option(None, help="First day of the extra drift, YYYY-MM-DD."),
    shift_effect: float = typer.Option(-0.5, help="Relative change of click and purchase rates, e.g. -0.5."),
    no_drift: bool = typer.Option(False, "--no-drift", help="Turn off the drift built into the materials."),
    style: str = typer.Option(
        "native",
        help="native: our own format; real: the same history the way real exports "
        "look (numeric ids, minute timestamps, other categories, ...).",
    ),
) -> None:
    """Write simulated client materials (products, customers, transactions, production recommendations)."""
    from stoffwechsel.monitoring.shift import parse_shift
    from stoffwechsel.simulation.export_style import STYLES
    from stoffwechsel.simulation.simulate import simulate as run_simulation

    if style not in STYLES:
        _fail(f"--style must be one of {', '.join(STYLES)}, got {style!r}")
    if scale <= 0:
        _fail(f"--scale must be > 0, got {scale}")
    planted = None
    if shift is not None:
        if shift_start is None:
            _fail("--shift needs --shift-start YYYY-MM-DD")
        try:
            date.fromisoformat(shift_start)
            planted = parse_shift(shift, shift_start, shift_effect)
        except ValueError as exc:
            _fail(str(exc))
    try:
        counts = run_simulation(out, seed=seed, scale=scale, shift=planted, drift=not no_drift, style=style)
    except ValueError as exc:
        _fail(str(exc))
    for name, rows in counts.items():
        typer.echo(f"{out / name}: {rows} rows")


@app.command("import-export")
def import_export(
    src: Path = typer.Argument(..., help="The shop's invoice-line export, .csv or .csv.xz."),
    out: Path = typer.Option(
        ..., "--out", help="Folder to write our four files, import-report.json and import-quarantine.csv into."
    ),
    profile: str = typer.Option(
        "online-retail", help="A built-in import profile or a YAML profile file (docs/import.md)."
    ),
) -> None:
    """Turn a shop's invoice export into our four material files, counting every line left out."""
    from stoffwechsel.data.invoice_import import InvoiceImportError, import_invoice_export

    try:
        report = import_invoice_export(src, out, profile)
    except InvoiceImportError as exc:
        _fail(str(exc))
    outcomes = report["outcomes"]
    typer.echo(
        f"{src}: {report['source']['rows_read']} lines read: {outcomes['purchase']} purchases, "
        f"{outcomes['return']} returns, {outcomes['quarantined']} quarantined"
    )
    for rule in report["quarantined_by_rule"].values():
        if rule["rows"]:
            typer.echo(f"  {rule['reason']}: {rule['rows']}")
    for name, rows in report["outputs"].items():
        typer.echo(f"{out / name}: {rows} rows")


@app.command()
def validate(folder: Path = typer.Argument(..., help="Folder holding the four client CSV files.")) -> None:
    """Check a folder of materials against the data contract (settings: params.yaml `materials`);
    print counts per file, quarantined problems and findings grouped by reason; exit 1 on a
    file-level problem or when a file has too many quarantined rows."""
    from stoffwechsel.config import MATERIAL_FILES, TRANSACTIONS_FILE
    from stoffwechsel.data import timeline
    from stoffwechsel.data.contract import QuarantineLimitError, load_materials
    from stoffwechsel.data.schema import ContractError

    stop = None
    try:
        materials = load_materials(folder)
    except QuarantineLimitError as exc:
        materials, stop = exc.materials, str(exc)
    except (ContractError, ValueError) as exc:
        _fail(str(exc))
    for name in MATERIAL_FILES:
        c = materials.counts[name]
        line = f"{name}: {c['read']} read, {c['accepted']} accepted, {c['quarantined']} quarantined"
        cascaded = materials.cascaded.get(name, 0)
        if cascaded:
            own = c["quarantined"] - cascaded
            line += f" ({own} with a problem of their own, {cascaded} only because a row they refer to was)"
        typer.echo(line + (f" (no rows: {materials.missing[name]})" if name in materials.missing else ""))
    typer.echo("files read as (materials.dialects in params.yaml fixes a wrong guess):")
    for name in MATERIAL_FILES:
        if name in materials.dialects and name not in materials.missing:
            typer.echo(f"  {name}: {materials.dialects[name].describe()}")
    q = materials.quarantine
    if not q.empty:
        typer.echo("quarantined problems by reason:")
        groups = q.groupby(["file", "column", "reason"], sort=True).size()
        for (name, column, reason), n in groups.items():
            typer.echo(f"  {name}: {column}: {reason}: {n}")
    f = materials.findings
    if not f.empty:
        typer.echo("findings (rows kept):")
        for r in f.itertuples(index=False):
            if not r.column:  # about the file as a whole
                typer.echo(f"  {r.file}: {r.finding}")
                continue
            example = f" (e.g. {r.example!r})" if r.example else ""
            typer.echo(f"  {r.file}: {r.column}: {r.finding}: {r.rows} rows{example}")
    recs = materials.recommendations
    export_time = recs["export_time"].max() if materials.has_recommendation_log and len(recs) else None
    _, stray = timeline.stray_events(materials.transactions["event_time"], export_time)
    if stray:
        typer.echo("events left out of the calendar (rows kept; stoffwechsel.data.timeline):")
        for g in stray:
            span = g["first"] if g["first"] == g["last"] else f"{g['first']} to {g['last']}"
            typer.echo(f"  {TRANSACTIONS_FILE}: event_time: {g['rows']} events on {span}: {g['why']}")
    if stop:
        _fail(stop)


@app.command("run-notebook")
def run_notebook(stage: str = typer.Argument(..., help="DVC stage name, e.g. profile.")) -> None:
    """Execute a stage's notebook with Papermill, parameters from params.yaml[STAGE].

    A stage that cannot do its job on this data raises ``StageStop`` (stoffwechsel.errors): its
    one-line reason is printed as ``error: stage 'STAGE' stopped: REASON`` (exit 1), without
    the notebook's traceback."""
    from stoffwechsel.errors import StageStop
    from stoffwechsel.notebooks import import_papermill, restore_tracked_outputs, run_stage_notebook

    import_papermill()
    from papermill.exceptions import PapermillExecutionError

    def fail(message: str) -> None:
        restored = restore_tracked_outputs(stage)  # DVC removed them before the stage ran
        if restored:
            typer.echo(f"restored {len(restored)} committed file(s) of the stage: {', '.join(restored)}", err=True)
        _fail(message)

    try:
        target = run_stage_notebook(stage)
    except KeyError as exc:
        _fail(str(exc.args[0]))
    except StageStop as exc:
        fail(f"stage '{stage}' stopped: {exc}")
    except PapermillExecutionError as exc:
        if exc.ename == StageStop.__name__:
            fail(f"stage '{stage}' stopped: {' '.join(str(exc.evalue).split())}")
        fail(
            f"stage '{stage}' failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
            f"(executed notebook: reports/notebooks/)"
        )
    typer.echo(f"executed {target}")


@app.command("check-reproduction")
def check_reproduction_command() -> None:
    """Verification target 1 (the `reproduce` stage): recompute the features of an earlier commit
    in a temporary clone (no DVC cache, empty embedding cache) and compare their md5s with that
    commit's dvc.lock; evidence in reports/reproduction.json (a difference is evidence, shown as a
    failed target on the Verification page, not a failed stage)."""
    from stoffwechsel import config
    from stoffwechsel.reproduction import EVIDENCE, check_reproduction

    evidence, ran = check_reproduction(config.ROOT)
    if not evidence["checked"]:
        typer.echo(f"target 1 not checked: {evidence['why']}; to check it: {evidence['run']}")
        return
    verdict = "identical" if evidence["identical"] else f"DIFFERENT: {', '.join(evidence['differing'])}"
    done = "recomputed" if ran else f"already checked ({EVIDENCE} holds this key)"
    typer.echo(f"commit {evidence['commit']}: features {done}: {verdict}")


@app.command("build-site")
def build_site_command(
    renderer: str | None = typer.Option(
        None,
        help="quarto, python or auto (quarto render if quarto is on PATH, else the Python renderer); "
        "default: $STOFFWECHSEL_SITE_RENDERER, else auto.",
    ),
    pages: bool = typer.Option(
        True,
        help="Execute the page notebooks first, unless they were executed from the same inputs already "
        "(the verify stage does, just before); --no-pages: render them as they are.",
    ),
    if_stale: bool = typer.Option(
        False,
        "--if-stale",
        help="Only when _site is missing or was built from other inputs (after dvc pull or dvc checkout); "
        "make run and make site call this after dvc repro.",
    ),
) -> None:
    """Execute the site's page notebooks (unless the verify stage just did, from the same inputs),
    then render the website into _site/ (the `site` stage); write the site's manifest
    (reports/site.json, what dvc.lock records)."""
    from stoffwechsel import config
    from stoffwechsel.site.build import (
        add_environment_block,
        build_site,
        choose_renderer,
        pages_are_current,
        site_is_current,
        write_site_records,
    )
    from stoffwechsel.site.project import SiteRenderError

    if if_stale and site_is_current(config.ROOT):
        typer.echo(f"{config.ROOT / '_site'} is up to date")
        return
    from papermill.exceptions import PapermillExecutionError  # imported here: the check above is quick

    from stoffwechsel.notebooks import run_page_notebooks

    try:
        chosen = choose_renderer(renderer)  # before the pages run: a bad choice fails fast
        if pages and pages_are_current(config.ROOT):
            typer.echo("page notebooks already executed from these inputs (verify stage): rendered as they are")
        elif pages:
            run_page_notebooks()
        rendered = build_site(config.ROOT, renderer=chosen)
        add_environment_block(config.ROOT)  # this machine's checks, on the Verification page only
        write_site_records(config.ROOT, chosen)
    except PapermillExecutionError as exc:
        _fail(
            f"a site page failed in cell {exc.exec_count}: {exc.ename}: {exc.evalue} "
            "(executed notebooks: reports/notebooks/pages/)"
        )
    except SiteRenderError as exc:
        _fail(str(exc))
    typer.echo(f"rendered {len(rendered)} pages into {config.ROOT / '_site'} with the {chosen} renderer")


@app.command("feature-catalogue")
def feature_catalogue_command(
    out: Path = typer.Option(Path("docs/feature-catalogue.md"), help="Markdown file to write."),
) -> None:
    """Write the feature catalogue (name, version, description, entity, source) from the registries."""
    from stoffwechsel import config
    from stoffwechsel.features import tabular
    from stoffwechsel.features.store import FeatureStore

    stores = [FeatureStore(config.DATA_DIR / "feature_store"), FeatureStore(config.DATA_DIR / "embedding_store")]
    out.write_text(tabular.catalogue_markdown(stores), encoding="utf-8")
    typer.echo(f"wrote {out}")


@app.command()
def bench(
    out: Path = typer.Option(Path("reports/benchmarks.json"), help="Figures as JSON."),
    doc: Path = typer.Option(Path("docs/performance.md"), help="The table, as Markdown."),
    pipeline: bool = typer.Option(
        True, help="Also time the whole pipeline (full repro, and stage by stage per scale) in clean clones."
    ),
    scales: str = typer.Option("1,10,100", help="Simulator scales for the stage-by-stage runs, comma-separated."),
    render_only: bool = typer.Option(False, help="Only rewrite the Markdown from the figures already in --out."),
) -> None:
    """Run the benchmarks (medians, min-max, ratios measured in the same run); not a test."""
    import json

    from stoffwechsel import bench as benchmarks

    if render_only:
        if not out.is_file():
            raise typer.BadParameter(f"{out}: no figures to render; run `stoffwechsel bench` first")
        doc.write_text(benchmarks.performance_markdown(json.loads(out.read_text(encoding="utf-8"))), encoding="utf-8")
        typer.echo(f"wrote {doc} from {out}")
        return

    try:
        chosen = tuple(float(x) for x in scales.split(","))
    except ValueError as err:
        raise typer.BadParameter(f"--scales {scales!r}: expected numbers separated by commas, e.g. 1,10,100") from err
    figures = benchmarks.run_all(out, include_pipeline=pipeline, scales=chosen)
    doc.write_text(benchmarks.performance_markdown(figures), encoding="utf-8")
    typer.echo(f"wrote {out} and {doc}")


@app.command("bench-embeddings")
def bench_embeddings(
    out: Path = typer.Option(Path("reports/benchmarks/embeddings.json"), help="Where to write the figures (JSON)."),
    repeats: int = typer.Option(3, help="Runs per figure; medians and min-max are reported."),
) -> None:
    """Embedding stage throughput vs bare SentenceTransformer.encode, and re-run cost."""
    import tempfile

    from stoffwechsel import config
    from stoffwechsel.data import io
    from stoffwechsel.data.contract import load_materials
    from stoffwechsel.features import embeddings

    params = config.load_params("embeddings")
    products = load_materials(config.ROOT / config.load_params("materials")["materials_dir"]).products
    with tempfile.TemporaryDirectory() as work:
        figures = embeddings.benchmark(
            products["description"], embeddings.ModelSpec.from_params(params), Path(work), repeats, params["batch_size"]
        )
    io.write_json(figures, out)
    typer.echo(
        f"{out}: plain float32 {figures['plain_texts_per_s']} texts/s, exact {figures['exact_texts_per_s']} "
        f"texts/s ({figures['exact_over_plain']}x the time), stage {figures['stage_texts_per_s']} texts/s "
        f"(stage/exact {figures['stage_over_exact']}); re-run with {figures['rerun_changed_texts']} changed "
        f"{figures['rerun_changed']['median_s']} s"
    )


@app.command("encoding-flip-rate")
def encoding_flip_rate(
    texts_csv: list[Path] = typer.Argument(..., help="CSV files whose description column is encoded."),
    out: Path = typer.Option(Path("reports/benchmarks/flip_rate.json"), help="Where to write the figures (JSON)."),
) -> None:
    """How often the exact encoding's rounding could differ between two machines (stand-in settings)."""
    import pandas as pd

    from stoffwechsel import config
    from stoffwechsel.data import io
    from stoffwechsel.features import embeddings
    from stoffwechsel.studies.machine_settings import OTHER_MACHINES, flip_rate

    texts: set[str] = set()
    for path in texts_csv:
        frame = pd.read_csv(path, dtype=str)
        column = next(c for c in frame.columns if c.lower() == "description")
        texts |= {embeddings.normalise_text(t) for t in frame[column].dropna()}
    spec = embeddings.ModelSpec.from_params(config.load_params("embeddings"))
    settings = tuple(OTHER_MACHINES)[:2]
    figures = flip_rate(sorted(texts), spec, settings)
    io.write_json(figures, out)
    typer.echo(
        f"{out}: {figures['texts']} texts, {figures['float64_values_differing']} of {figures['values']} float64 "
        f"values differ (largest {figures['largest_float64_difference']:.2e}); grid flips observed "
        f"{figures['flips_observed']}, expected {figures['flips_expected']:.3g}"
    )


@app.command("claim-stability")
def claim_stability(
    out: Path = typer.Option(Path("reports/metrics/stability.json"), help="The sensitivity table as JSON."),
    doc: Path | None = typer.Option(
        Path("docs/evaluation.md"),
        help="Markdown file whose claim-stability block is rewritten (between its two markers); --no-doc: none.",
    ),
    no_doc: bool = typer.Option(False, "--no-doc", help="Do not touch the Markdown file."),
    extra_seeds: int = typer.Option(2, help="Seeds tried besides the committed one (seed + 1, seed + 2, ...)."),
    render_only: bool = typer.Option(
        False, "--render-only", help="Only re-summarise the variants already in --out and rewrite the Markdown."
    ),
) -> None:
    """Re-train and re-evaluate both rankers for a few seeds and the README's example parameter
    changes (needs the stores of `dvc repro`; about 7 minutes on two cores) and report whether
    combined beats tabular-only in each."""
    import json
    import time

    from stoffwechsel import config
    from stoffwechsel.data import io, timeline
    from stoffwechsel.model import stability

    started = time.perf_counter()
    if render_only:
        if not out.is_file():
            raise typer.BadParameter(f"{out}: no variants to render; run `stoffwechsel claim-stability` first")
        rows = json.loads(out.read_text(encoding="utf-8"))["variants"]
        result = {"variants": rows, "summary": stability.summarise(rows)}
    else:
        base = stability.train_params(timeline.read_calendar(config.ROOT), config.load_params("train"))
        result = stability.run(config.ROOT, stability.variants(base, extra_seeds=extra_seeds), log=typer.echo)
    io.write_json(result, out)
    block = stability.markdown(result)
    if doc is not None and not no_doc:
        doc.write_text(stability.update_docs(doc.read_text(encoding="utf-8"), block), encoding="utf-8")
    typer.echo(block)
    typer.echo(f"wrote {out}{'' if no_doc or doc is None else f' and {doc}'} in {time.perf_counter() - started:.0f} s")


@app.command("power-study")
def power_study_command(
    size: str = typer.Option(
        "small",
        help="Grid of params.yaml power_study: small (CI, about a minute) or full "
        "(docs/monitoring.md, about an hour with --jobs 2).",
    ),
    jobs: int = typer.Option(2, help="Scenarios simulated and monitored side by side."),
    out: Path = typer.Option(Path("reports/monitoring/power_study.json"), help="Per-cell results as JSON."),
    doc: Path | None = typer.Option(
        None,
        help="Markdown file whose power-study block is rewritten (between its two markers), e.g. docs/monitoring.md.",
    ),
) -> None:
    """The monitoring against an oracle (issue 16): planted shifts in every customer column, our
    detection rate next to the best possible detector's, false alarms on no-drift seeds."""
    import json
    import time

    from stoffwechsel import config
    from stoffwechsel.data import io
    from stoffwechsel.studies import power_study

    started = time.perf_counter()
    settings = config.load_params("power_study")
    if size not in settings or size in ("groups", "goals", "segments"):
        raise typer.BadParameter(f"params.yaml power_study has no grid '{size}'")
    rows = power_study.run_study(
        settings, config.load_params("monitor"), size, jobs=jobs, progress=power_study.progress_printer()
    )
    summary = power_study.summarise(rows, settings["goals"])
    io.write_json({"size": size, **summary, "runs": json.loads(rows.to_json(orient="records"))}, out)
    table = power_study.markdown_table(summary)
    if doc is not None:
        doc.write_text(power_study.update_docs(doc.read_text(encoding="utf-8"), table, size), encoding="utf-8")
    typer.echo(table)
    typer.echo(f"wrote {out}{'' if doc is None else f' and {doc}'} in {time.perf_counter() - started:.0f} s")


@app.command("ranker-study")
def ranker_study_command(
    out: Path = typer.Option(Path("reports/metrics/ranker_study.json"), help="The study's figures as JSON."),
) -> None:
    """Which ranker ranks best on the validation window (the weeks before the cutoff; never the
    test window): the committed gradient boosting, its one-leaf neighbour, its sizes halved and
    doubled, LightGBM with log loss and with lambdarank (issue 25). Reads a project whose
    pipeline has run."""
    import time

    from stoffwechsel.data import io
    from stoffwechsel.studies import ranker_study

    started = time.perf_counter()
    study = ranker_study.run_study(*ranker_study.study_inputs())
    io.write_json(study, out)
    window = study["validation_window"]
    typer.echo(
        f"validation window {window['start']} to {window['end']}: {study['customers']} customers, "
        f"trained on {study['training_rows']:,} rows ({study['training_positives']:,} bought)"
    )
    typer.echo(ranker_study.study_table(study).to_markdown(index=False))
    better = ", ".join(study["better_than_committed"]) or "none"
    typer.echo(
        f"better than the committed model on {study['chosen_by']} (range above 0 and a difference above the "
        f"one-leaf neighbour's {study['neighbour_spread']:.3f}): {better}"
    )
    typer.echo(f"wrote {out} in {time.perf_counter() - started:.0f} s")


@app.command("nb-clean")
def nb_clean(notebooks: list[Path] = typer.Argument(..., help="Source notebooks to clean in place.")) -> None:
    """Strip outputs and volatile metadata from source notebooks (nbstripout, cell ids kept) and
    set the committed notebook metadata (kernelspec "Python 3", language_info name only)."""
    from stoffwechsel import notebook_hygiene

    changed = notebook_hygiene.clean(notebooks)
    typer.echo(f"cleaned {len(notebooks)} notebooks, {len(changed)} changed" + "".join(f"\n  {p}" for p in changed))


@app.command("nb-git-config")
def nb_git_config(repo: Path = typer.Option(Path("."), help="The git repository to configure.")) -> None:
    """Configure git's notebook diff and merge drivers (nbdime) with absolute paths to this venv,
    so `git diff` works without activating it; diffs ignore outputs, metadata and execution counts."""
    from stoffwechsel import notebook_hygiene

    for key, value in notebook_hygiene.configure_git(repo).items():
        typer.echo(f"git config {key} {value!r}")


if __name__ == "__main__":
    app()
