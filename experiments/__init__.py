"""The experiment configurations, installed with the library as ``qsa.experiments`` (data only).

Each study folder holds its TOML configs (``tfim/config.toml``, ``tfim/smoke.toml``, ...); they
ship as package data so ``qsa configs`` can list and copy them for a pip install. The runners,
plot scripts and READMEs stay in the repository. Nothing here is imported by the library.
"""
