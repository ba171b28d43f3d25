from torch_scaffold.cli import app

app(prog_name="scaffold")
