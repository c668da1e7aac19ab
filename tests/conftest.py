"""Fixtures shared by every test module; tolerances and random instances live in support.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def two_job_submission(tmp_path_factory):
    """The hardware smoke config split into two jobs (one parameter set per PUB row), submitted and fetched in
    the runtime's local testing mode on fake_torino with the ideal simulator: ``(plan, backend, run_dir, results)``.

    Built once per session (one local worker process); tests that damage it copy ``run_dir`` first (its
    local job store is inside it).
    """
    from qsa.hardware import submission
    from qsa.hardware.providers import LocalProvider

    root = tmp_path_factory.mktemp("two-job-submission")
    smoke = Path(__file__).resolve().parents[1] / "experiments" / "hardware" / "smoke.toml"
    config = submission.SubmitConfig.from_toml(smoke).replace(max_parameter_sets_per_job=1)
    run = root / "run"
    provider = LocalProvider(run / "local-service", simulator="ideal")
    backend = provider.backend("fake_torino")
    plan = submission.make_plan(config, backend)
    assert len(plan.chunks) == 2
    submission.submit(plan, provider, run, backend=backend)
    return plan, backend, run, submission.fetch(run, provider=provider)
