"""The detached worker of :class:`qsa.hardware.providers.LocalProvider` (local testing mode).

    python -m qsa.hardware.local_worker STORE PENDING_DIR [PENDING_DIR ...]

Reads each ``PENDING_DIR/request.json`` (the PUBs of one job: ISA circuits for a fake backend,
parameter arrays, shots, options; serialised with the runtime's ``RuntimeEncoder``), submits the
jobs to a runtime sampler in local testing mode inside one ``Batch`` (or ``Session``; local mode
accepts and ignores them), moves each directory to ``STORE/<job id>`` (the id the runtime
assigned) and prints ``job <id>`` on stdout; then closes stdout -- the submitting process may now
die -- waits the requested latency (a simulated queue) and writes each job's ``result.json``
(``RuntimeEncoder``) and ``status.json``.

The simulator: ``noisy`` restricts the ISA circuits (and an estimator's observables) to the
physical qubits they use and runs them on ``AerSimulator.from_backend`` of the device restricted to
those qubits (the device's noise on those qubits, fast); ``ideal`` does the same without the noise
model (the device's target and timing stay, which dynamical decoupling needs); ``device`` runs on
the fake backend itself.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from pathlib import Path


def _status(path: Path, status: str, **extra) -> None:
    from qsa.runs import write_json

    write_json(path / "status.json", {"status": status, "time": time.time(), **extra})


def _mode_backend(request: dict, jobs: list[list[tuple]]):
    """The backend local mode runs on, and every job's PUBs as that backend takes them."""
    from qsa.hardware import noise

    if request["simulator"] == "device":
        return noise.fake_backend(request["backend"]), jobs
    device = noise.fake_backend(request["backend"])
    union = sorted(set().union(*(noise.active_qubits(p[0]) for pubs in jobs for p in pubs)))
    if request.get("estimator"):  # (circuit, observables, values): the observables follow the qubits
        restricted = [
            [(noise.restrict_circuit(p[0], union), noise.restrict_observables(p[1], union), *p[2:]) for p in pubs]
            for pubs in jobs
        ]
    else:
        restricted = [[(noise.restrict_circuit(p[0], union), *p[1:]) for p in pubs] for pubs in jobs]
    simulator = noise.noisy_simulator(device, union)
    if request["simulator"] == "ideal":  # the device's qubits, target and timing, without its noise
        simulator.set_options(noise_model=None)
    return simulator, restricted


def _plain(value):
    """Metadata as JSON-able data (the executor's metadata holds model objects RuntimeEncoder refuses)."""
    import dataclasses

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    return str(value)


def _portable(result):
    """The ``PrimitiveResult`` with plain metadata (the data, the counts or expectation values, are untouched)."""
    from qiskit.primitives import PrimitiveResult, PubResult, SamplerPubResult

    pubs = [
        (SamplerPubResult if isinstance(r, SamplerPubResult) else PubResult)(r.data, metadata=_plain(r.metadata))
        for r in result
    ]
    return PrimitiveResult(pubs, metadata=_plain(result.metadata))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    store, pending = Path(argv[0]), [Path(a) for a in argv[1:]]
    paths = list(pending)
    try:
        from qiskit_ibm_runtime import Batch, RuntimeDecoder, RuntimeEncoder, Session

        from qsa.hardware.providers import _run, make_primitive
        from qsa.runs import write_bytes

        requests = [json.loads((p / "request.json").read_text(), cls=RuntimeDecoder) for p in pending]
        first = requests[0]
        backend, jobs = _mode_backend(first, [[tuple(p) for p in r["pubs"]] for r in requests])
        context = {"batch": Batch, "session": Session}.get(first["execution"])
        submitted = []

        def run_all(mode):
            for i, (request, pubs) in enumerate(zip(requests, jobs)):
                primitive = make_primitive(
                    request["primitive"],
                    mode,
                    shots=request["shots"],
                    estimator=request.get("estimator", False),
                    mitigation=request.get("mitigation"),
                    seed_simulator=request["seed_simulator"],
                    tags=request["tags"],
                )
                job = _run(primitive, pubs, request["shots"])
                job_id = str(job.job_id())
                paths[i] = store / job_id
                os.replace(pending[i], paths[i])
                _status(paths[i], "QUEUED", job_id=job_id)
                submitted.append(job)
                sys.stdout.write(f"job {job_id}\n")
                sys.stdout.flush()

        if context is None:
            run_all(backend)
        else:
            with context(backend=backend) as mode:
                run_all(mode)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # close the pipe: the submitter may exit now
        os.close(devnull)
        time.sleep(float(first.get("latency", 0.0)))
        for path, job in zip(paths, submitted):
            _status(path, "RUNNING", job_id=job.job_id())
            result = _portable(job.result())
            write_bytes(path / "result.json", json.dumps(result, cls=RuntimeEncoder).encode())
            _status(path, "DONE", job_id=job.job_id())
        return 0
    except BaseException as exc:  # noqa: BLE001 - the status file is how a job reports failure
        traceback.print_exc()
        for path in paths:
            try:
                if not (path / "result.json").exists():
                    _status(path, "ERROR", error=f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001  # pragma: no cover - best effort while failing
                pass
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
