"""What the docs site is generated from, so that no page can drift from the code:
the CLI reference from tpctl's argparse parser (cli_reference), the console
samples the pages include from the real CLI (samples), and the MkDocs hook that
puts the generated pages into each build (hooks, named in mkdocs.yml)."""
