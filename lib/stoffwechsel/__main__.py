from stoffwechsel.cli import app

app(prog_name="stoffwechsel")
