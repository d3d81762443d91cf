"""Pipeline stages. Each module exposes ``run(config, run_dir) -> dict[str, str]`` (artefact -> path)."""
