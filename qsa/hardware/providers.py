r"""Where jobs are sent and found again: IBM Quantum (``qiskit_ibm_runtime``) or local testing mode.

A provider resolves a backend by name, submits lists of PUBs as runtime sampler jobs in Batch
(default), Session or job mode, and finds a job again **by id** -- also from another process,
which is what resuming after a crash needs.

* :class:`IBMProvider` wraps ``QiskitRuntimeService``. Credentials come only from the runtime's own
  account mechanisms (a saved account, ``QiskitRuntimeService.save_account``, or the runtime's
  ``QISKIT_IBM_*`` environment variables); nothing here reads, copies or writes them. A job is
  found again with ``service.job(job_id)``.
* :class:`LocalProvider` is the runtime's **local testing mode** (``QiskitRuntimeService(channel=
  "local")``, fake backends from ``qiskit_ibm_runtime.fake_provider``). A local job lives in the
  memory of the process that ran it, so on its own it cannot outlive a crash. This provider plays
  the part of the service: each job runs in a detached worker process
  (:mod:`qsa.hardware.local_worker`) that submits the PUBs to a runtime sampler in local testing
  mode, reports the job id the runtime assigned, and writes the ``PrimitiveResult`` (serialised
  with the runtime's own ``RuntimeEncoder``) into a store directory, where :meth:`LocalProvider.job`
  finds it by id. Killing the submitting process does not stop the job, as on the service.

What local testing mode proves and what it cannot is written down in ``experiments/hardware/README.md``.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from qsa import _validate, runs
from qsa.random import stream_seeds

__all__ = [
    "MissingAccountError",
    "Provider",
    "IBMProvider",
    "LocalProvider",
    "EXECUTIONS",
    "PRIMITIVES",
    "LOCAL_SIMULATORS",
    "make_sampler",
    "provider_from_record",
]

logger = logging.getLogger(__name__)

#: Execution modes: a Batch (default for independent jobs), a Session (opt-in), or plain jobs.
EXECUTIONS = ("batch", "session", "job")
#: Runtime samplers: the client-side ``executor_sampler.Sampler`` (current) or the server-side
#: ``SamplerV2`` (deprecated since qiskit-ibm-runtime 0.50, still the one most services run).
PRIMITIVES = ("executor", "sampler")
#: What a local job simulates: the device's noise on the qubits used (restricted
#: ``AerSimulator.from_backend``), the fake backend itself (the runtime's own local mode; slow on
#: 100+ qubit snapshots), or an ideal simulator.
LOCAL_SIMULATORS = ("noisy", "device", "ideal")


class MissingAccountError(ValueError):
    """No saved IBM Quantum account (or runtime environment variables) could be found."""


def make_sampler(primitive: str, mode: Any, *, seed_simulator: int | None = None, tags: Sequence[str] = ()):
    """A runtime V2 sampler on ``mode`` (a backend, Batch or Session)."""
    if primitive == "executor":
        from qiskit_ibm_runtime.executor_sampler import Sampler

        sampler = Sampler(mode=mode)
    elif primitive == "sampler":
        from qiskit_ibm_runtime import SamplerV2

        with warnings.catch_warnings():  # deprecated in 0.50 in favour of the executor sampler
            warnings.simplefilter("ignore", DeprecationWarning)
            sampler = SamplerV2(mode=mode)
    else:
        raise ValueError(f"primitive must be one of {PRIMITIVES}; got {primitive!r}")
    if seed_simulator is not None:
        sampler.options.simulator.seed_simulator = int(seed_simulator)
    if tags:
        sampler.options.environment.job_tags = list(tags)
    return sampler


def _check_choice(value: Any, name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {options}; got {value!r}")
    return value


class Provider(ABC):
    """Backends by name, job submission, jobs by id."""

    kind: str

    @abstractmethod
    def backend(self, name: str) -> Any:
        """The backend called ``name``; ``ValueError`` naming the available ones if unknown."""

    @abstractmethod
    def submit(
        self,
        backend: Any,
        chunks: Sequence[Sequence[tuple]],
        *,
        shots: int,
        execution: str = "batch",
        primitive: str = "executor",
        seed_simulator: int | None = None,
        tags: Sequence[str] = (),
        on_submitted: Callable[[int, str], None] | None = None,
    ) -> list[str]:
        """Submit one job per chunk of PUBs; ``on_submitted(chunk, job_id)`` runs as soon as each id is known."""

    @abstractmethod
    def job(self, job_id: str) -> Any:
        """A job handle with ``job_id()``, ``status()`` and ``result()``."""

    @abstractmethod
    def record(self) -> dict[str, Any]:
        """How to rebuild this provider in another process (no credentials)."""


class IBMProvider(Provider):
    """IBM Quantum through ``QiskitRuntimeService`` and the user's saved account.

    Args:
        channel, name, filename, instance: passed to ``QiskitRuntimeService`` (``None``: the
            runtime's defaults -- the default saved account in ``~/.qiskit/qiskit-ibm.json``).
        service: an existing ``QiskitRuntimeService`` instead.

    Raises:
        MissingAccountError: if no saved account (or runtime environment variables) exists.
    """

    kind = "ibm"

    def __init__(
        self,
        *,
        channel: str | None = None,
        name: str | None = None,
        filename: str | None = None,
        instance: str | None = None,
        service: Any = None,
    ):
        if service is None:
            from qiskit_ibm_runtime import QiskitRuntimeService
            from qiskit_ibm_runtime.accounts import AccountNotFoundError

            try:
                service = QiskitRuntimeService(channel=channel, name=name, filename=filename, instance=instance)
            except AccountNotFoundError as exc:
                where = filename or "~/.qiskit/qiskit-ibm.json"
                raise MissingAccountError(
                    f"an IBM Quantum account must be saved to submit or look up jobs; got none"
                    f"{f' named {name!r}' if name else ''} in {where} ({exc}). Save one once with "
                    "QiskitRuntimeService.save_account(...) (see the qiskit-ibm-runtime docs), or use "
                    "--channel local for local testing mode."
                ) from None
        self.service = service
        self._record = {"kind": self.kind, "channel": channel, "name": name, "filename": filename, "instance": instance}

    def backend(self, name: str) -> Any:
        from qiskit.providers.exceptions import QiskitBackendNotFoundError

        if not isinstance(name, str) or not name:
            raise ValueError(f"backend must be a backend name; got {name!r}")
        try:
            return self.service.backend(name)
        except QiskitBackendNotFoundError:
            available = sorted(b.name for b in self.service.backends())
            raise ValueError(f"backend must be one of the backends of this account {available}; got {name!r}") from None

    def submit(
        self,
        backend,
        chunks,
        *,
        shots,
        execution="batch",
        primitive="executor",
        seed_simulator=None,
        tags=(),
        on_submitted=None,
    ):
        from qiskit_ibm_runtime import Batch, Session

        _check_choice(execution, "execution", EXECUTIONS)
        _check_choice(primitive, "primitive", PRIMITIVES)
        context = {"batch": Batch, "session": Session}.get(execution)
        if context is None:
            return self._run_chunks(make_sampler(primitive, backend, tags=tags), chunks, shots, on_submitted)
        with context(backend=backend) as mode:
            return self._run_chunks(make_sampler(primitive, mode, tags=tags), chunks, shots, on_submitted)

    @staticmethod
    def _run_chunks(sampler, chunks, shots, on_submitted):
        ids = []
        for c, pubs in enumerate(chunks):
            job = sampler.run(list(pubs), shots=shots)
            job_id = str(job.job_id())
            ids.append(job_id)
            if on_submitted is not None:
                on_submitted(c, job_id)
        return ids

    def job(self, job_id: str) -> Any:
        return self.service.job(job_id)

    def record(self) -> dict[str, Any]:
        return dict(self._record)


class LocalJob:
    """A job of :class:`LocalProvider`, found by id in the store (possibly run by another process)."""

    def __init__(self, path: Path, job_id: str, process: subprocess.Popen | None = None):
        self.path, self._id, self._process = path, job_id, process

    def job_id(self) -> str:
        return self._id

    def status(self) -> str:
        """``QUEUED``, ``RUNNING``, ``DONE`` or ``ERROR`` (the runtime's job status names)."""
        try:
            return json.loads((self.path / "status.json").read_text())["status"]
        except FileNotFoundError:
            return "QUEUED"

    def error_message(self) -> str:
        try:
            return json.loads((self.path / "status.json").read_text()).get("error", "")
        except FileNotFoundError:
            return ""

    def result(self, timeout: float | None = None, poll: float = 0.05) -> Any:
        from qiskit_ibm_runtime import RuntimeDecoder

        start = time.monotonic()
        while True:
            status = self.status()
            if status == "DONE":
                break
            if status == "ERROR":
                raise RuntimeError(f"local job {self._id} failed: {self.error_message()}")
            if self._process is not None and self._process.poll() not in (None, 0):
                raise RuntimeError(
                    f"local job {self._id}: its worker exited with {self._process.returncode}; see the worker log in {self.path.parent}"
                )
            if timeout is not None and time.monotonic() - start > timeout:
                raise TimeoutError(f"local job {self._id} not done after {timeout} s")
            time.sleep(poll)
        if self._process is not None:
            self._process.poll()  # reap the worker if it has finished all its jobs
        return json.loads((self.path / "result.json").read_text(), cls=RuntimeDecoder)


class LocalProvider(Provider):
    """Local testing mode, with jobs that outlive the submitting process (see the module docstring).

    Args:
        store: directory of the local "service": one sub-directory per job id.
        simulator: one of :data:`LOCAL_SIMULATORS`.
        latency: seconds a job waits, queued, before it runs (simulated queue time; 0 by default).
    """

    kind = "local"

    def __init__(self, store: str | os.PathLike, *, simulator: str = "noisy", latency: float = 0.0):
        _check_choice(simulator, "simulator", LOCAL_SIMULATORS)
        _validate.real_number(latency, "latency (seconds)", minimum=0)
        self.store = Path(store)
        self.simulator = simulator
        self.latency = float(latency)
        self._processes: dict[str, subprocess.Popen] = {}

    def backend(self, name: str) -> Any:
        from qsa.hardware.noise import fake_backend

        return fake_backend(name)

    def submit(
        self,
        backend,
        chunks,
        *,
        shots,
        execution="batch",
        primitive="executor",
        seed_simulator=None,
        tags=(),
        on_submitted=None,
    ):
        from qiskit_ibm_runtime import RuntimeEncoder

        _check_choice(execution, "execution", EXECUTIONS)
        _check_choice(primitive, "primitive", PRIMITIVES)
        self.store.mkdir(parents=True, exist_ok=True)
        pending = []
        for c, pubs in enumerate(chunks):
            path = self.store / f"pending-{uuid.uuid4().hex}"
            path.mkdir()
            request = {
                "pubs": [tuple(p) for p in pubs],
                "shots": int(shots),
                "backend": backend.name,
                "execution": execution,
                "primitive": primitive,
                "simulator": self.simulator,
                # every chunk its own stream (qsa.random): seed + c would reuse seed + c + i for experiment i of chunk c
                "seed_simulator": stream_seeds(seed_simulator, 1, (c,))[0],
                "latency": self.latency,
                "tags": list(tags),
            }
            runs.write_bytes(path / "request.json", json.dumps(request, cls=RuntimeEncoder).encode())
            pending.append(path)
        log_path = self.store / f"worker-{uuid.uuid4().hex}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "qsa.hardware.local_worker", str(self.store), *map(str, pending)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        ids = []
        for c in range(len(pending)):
            line = process.stdout.readline().decode().strip()
            if not line.startswith("job "):
                process.stdout.close()
                process.wait()
                raise RuntimeError(
                    f"the local worker did not accept job {c} (exit {process.returncode}):\n{log_path.read_text()[-2000:]}"
                )
            job_id = line.split(None, 1)[1]
            self._processes[job_id] = process
            ids.append(job_id)
            logger.info("local job %s submitted (%s, %s)", job_id, primitive, execution)
            if on_submitted is not None:
                on_submitted(c, job_id)
        process.stdout.close()
        return ids

    def job(self, job_id: str) -> LocalJob:
        path = self.store / job_id
        if not isinstance(job_id, str) or not path.is_dir():
            raise ValueError(f"job_id must name a job in the local store {self.store}; got {job_id!r}")
        return LocalJob(path, job_id, self._processes.get(job_id))

    def record(self) -> dict[str, Any]:
        return {"kind": self.kind, "store": str(self.store), "simulator": self.simulator, "latency": self.latency}


def provider_from_record(record: dict[str, Any], *, base: str | os.PathLike | None = None) -> Provider:
    """Rebuild the provider a journal recorded (``base`` resolves a relative local store)."""
    kind = record.get("kind")
    if kind == "local":
        store = Path(record["store"])
        if base is not None and not store.is_absolute():
            store = Path(base) / store
        return LocalProvider(store, simulator=record.get("simulator", "noisy"), latency=0.0)
    if kind == "ibm":
        return IBMProvider(
            channel=record.get("channel"),
            name=record.get("name"),
            filename=record.get("filename"),
            instance=record.get("instance"),
        )
    raise ValueError(f"provider kind must be 'ibm' or 'local'; got {kind!r}")
