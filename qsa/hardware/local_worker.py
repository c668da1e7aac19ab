"""The detached worker of :class:`qsa.hardware.providers.LocalProvider` (local testing mode).

    python -m qsa.hardware.local_worker STORE PENDING_DIR [PENDING_DIR ...]

Each ``PENDING_DIR/request.json`` holds the PUBs of one job (ISA circuits for a fake backend,
parameter arrays, shots, options, tags; serialised with the runtime's ``RuntimeEncoder``). The
worker plays the service for a submitting client that sends its jobs one at a time:

1. for each pending job it waits for a line ``submit`` on stdin (the client asking for the next
   job), submits the PUBs to a runtime sampler in local testing mode (inside a ``Batch`` or
   ``Session``; local mode accepts and ignores them), moves the directory to ``STORE/<job id>``
   (the id the runtime assigned, with ``job.json``: id, tags, creation time) and prints
   ``job <id>`` on stdout;
2. if stdin ends first (the client died, or had no more jobs to send) the remaining jobs are never
   submitted and their pending directories are removed -- as on the service, where a job the
   client never sent does not exist;
3. it then runs every submitted job and writes its ``result.json`` (``RuntimeEncoder``) and
   ``status.json`` (``QUEUED``, ``RUNNING``, ``DONE`` or ``ERROR``), after waiting the requested
   latency (a simulated queue).

The worker runs in its own session (no terminal signals reach it) with stderr in a log file. It
survives its client: writing to stdout once nobody reads it is ignored (no broken-pipe error), so
a job that was submitted runs to the end whatever happens to the process that submitted it.

The simulator: ``noisy`` restricts the ISA circuits of a job (and an estimator job's observables)
to the physical qubits they use and runs them on ``AerSimulator.from_backend`` of the device
restricted to those qubits (the device's noise on those qubits, fast); ``ideal`` does the same
without the noise model (the device's target and timing stay, which dynamical decoupling needs);
``device`` runs on the fake backend itself. Estimator jobs (``"estimator": true``, TREX) and the
runtime options of ``request["mitigation"]`` go through :func:`qsa.hardware.providers.make_primitive`. Each job gets its own simulator, from its own PUBs only, so a job gives the same
counts whether it is sent with other jobs or alone (a resubmitted job equals the original).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any


def _status(path: Path, status: str, **extra) -> None:
    from qsa.runs import write_json

    write_json(path / "status.json", {"status": status, "time": time.time(), **extra})


def _mode_backend(request: dict, pubs: list[tuple]):
    """The backend a job runs on in local mode, and its PUBs as that backend takes them."""
    from qsa.hardware import noise

    device = noise.fake_backend(request["backend"])
    if request["simulator"] == "device":
        return device, pubs
    union = sorted(set().union(*(noise.active_qubits(p[0]) for p in pubs)))
    if request.get("estimator"):  # (circuit, observables, values): the observables follow the qubits
        restricted = [
            (noise.restrict_circuit(p[0], union), noise.restrict_observables(p[1], union), *p[2:]) for p in pubs
        ]
    else:
        restricted = [(noise.restrict_circuit(p[0], union), *p[1:]) for p in pubs]
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


class _Client:
    """The submitting process at the other end of stdin/stdout; it may be gone at any moment."""

    def __init__(self) -> None:
        self.gone = False

    def wants_next(self) -> bool:
        """Whether the client asks for the next job (``submit``); ``False`` once stdin has ended."""
        if self.gone:
            return False
        try:
            line = sys.stdin.readline()
        except OSError:
            line = ""
        if line.strip() != "submit":
            self.hang_up()
        return not self.gone

    def tell(self, text: str) -> None:
        """Write a line to the client; a closed pipe means it died, which changes nothing for the jobs."""
        if self.gone:
            return
        try:
            sys.stdout.write(text + "\n")
            sys.stdout.flush()
        except (BrokenPipeError, OSError):
            self.hang_up()

    def hang_up(self) -> None:
        """Stop talking to the client: stdin and stdout go to ``/dev/null`` (no more reads or broken pipes)."""
        self.gone = True
        devnull = os.open(os.devnull, os.O_RDWR)
        for stream in (sys.stdin, sys.stdout):
            try:
                os.dup2(devnull, stream.fileno())
            except (OSError, ValueError):  # pragma: no cover - a stream without a descriptor
                pass
        os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    store, pending = Path(argv[0]), [Path(a) for a in argv[1:]]
    client = _Client()
    submitted: list[tuple[Path, Any]] = []
    try:
        from qiskit_ibm_runtime import Batch, RuntimeDecoder, RuntimeEncoder, Session

        from qsa.hardware.providers import _run, make_primitive
        from qsa.runs import write_bytes, write_json

        latency = 0.0
        for directory in pending:
            if not client.wants_next():
                break
            request = json.loads((directory / "request.json").read_text(), cls=RuntimeDecoder)
            backend, pubs = _mode_backend(request, [tuple(p) for p in request["pubs"]])
            context = {"batch": Batch, "session": Session}.get(request["execution"])
            latency = float(request.get("latency", 0.0))

            def run(mode: Any, request: dict[str, Any] = request, pubs: list[tuple[Any, ...]] = pubs) -> Any:
                primitive = make_primitive(
                    request["primitive"],
                    mode,
                    shots=request["shots"],
                    estimator=request.get("estimator", False),
                    mitigation=request.get("mitigation"),
                    seed_simulator=request["seed_simulator"],
                    tags=request["tags"],
                )
                return _run(primitive, pubs, request["shots"])

            if context is None:
                job = run(backend)
            else:
                with context(backend=backend) as mode:
                    job = run(mode)
            job_id = str(job.job_id())
            path = store / job_id
            os.replace(directory, path)
            write_json(path / "job.json", {"job_id": job_id, "tags": request["tags"], "created": time.time()})
            _status(path, "QUEUED", job_id=job_id)
            submitted.append((path, job))
            client.tell(f"job {job_id}")
        client.hang_up()  # the client may exit now; jobs it never asked for are never sent
        for directory in pending[len(submitted) :]:
            shutil.rmtree(directory, ignore_errors=True)
        time.sleep(latency)
        for path, job in submitted:
            _status(path, "RUNNING", job_id=job.job_id())
            result = _portable(job.result())
            write_bytes(path / "result.json", json.dumps(result, cls=RuntimeEncoder).encode())
            _status(path, "DONE", job_id=job.job_id())
        return 0
    except BaseException as exc:  # noqa: BLE001 - the status file is how a job reports failure
        traceback.print_exc()
        for path, _job in submitted:
            try:
                if not (path / "result.json").exists():
                    _status(path, "ERROR", error=f"{type(exc).__name__}: {exc}")
            except Exception:  # noqa: BLE001  # pragma: no cover - best effort while failing
                pass
        for directory in pending:
            if directory.exists():  # never submitted
                shutil.rmtree(directory, ignore_errors=True)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
