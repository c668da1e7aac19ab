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
    "make_estimator",
    "make_primitive",
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


def make_estimator(
    primitive: str, mode: Any, *, shots: int, seed_simulator: int | None = None, tags: Sequence[str] = ()
) -> Any:
    """A runtime V2 estimator on ``mode``: the client-side ``executor_estimator.Estimator`` or the
    server-side ``EstimatorV2`` (``primitive`` ``"executor"`` / ``"sampler"``, as for samplers), ``shots``
    per parameter set and measurement basis."""
    if primitive == "executor":
        from qiskit_ibm_runtime.executor_estimator import Estimator

        estimator = Estimator(mode=mode)
    elif primitive == "sampler":
        from qiskit_ibm_runtime import EstimatorV2

        with warnings.catch_warnings():  # the server-side primitives are deprecated since 0.50
            warnings.simplefilter("ignore", DeprecationWarning)
            estimator = EstimatorV2(mode=mode)
    else:
        raise ValueError(f"primitive must be one of {PRIMITIVES}; got {primitive!r}")
    estimator.options.default_shots = int(shots)
    if seed_simulator is not None:
        estimator.options.simulator.seed_simulator = int(seed_simulator)
    if tags:
        estimator.options.environment.job_tags = list(tags)
    return estimator


def make_primitive(
    primitive: str,
    mode: Any,
    *,
    shots: int,
    estimator: bool = False,
    mitigation: Any = None,
    seed_simulator: int | None = None,
    tags: Sequence[str] = (),
) -> Any:
    """A runtime sampler (or, with ``estimator``, estimator) on ``mode`` with ``mitigation`` applied.

    ``mitigation``: a :class:`qsa.hardware.mitigation.Mitigation`, its ``as_dict()``, or ``None``.
    """
    from qsa.hardware.mitigation import Mitigation

    if isinstance(mitigation, dict):
        mitigation = Mitigation.from_dict(mitigation)
    if estimator:
        out = make_estimator(primitive, mode, shots=shots, seed_simulator=seed_simulator, tags=tags)
    else:
        out = make_sampler(primitive, mode, seed_simulator=seed_simulator, tags=tags)
    return mitigation.apply(out) if mitigation is not None else out


def _run(primitive: Any, pubs: Sequence[tuple[Any, ...]], shots: int) -> Any:
    """Submit ``pubs`` to a sampler (``shots`` per parameter set) or an estimator (its ``default_shots``)."""
    if hasattr(primitive.options, "resilience"):  # an estimator
        return primitive.run(list(pubs))
    return primitive.run(list(pubs), shots=shots)


def _labels(
    chunks: Sequence[Any], chunk_tags: Sequence[Sequence[str]] | None, chunk_ids: Sequence[int] | None
) -> list[tuple[int, list[str]]]:
    """``(chunk number, extra tags)`` of each chunk (see :meth:`Provider.submit`)."""
    ids = list(range(len(chunks))) if chunk_ids is None else [int(c) for c in chunk_ids]
    extra = [[] for _ in chunks] if chunk_tags is None else [list(t) for t in chunk_tags]
    if len(ids) != len(chunks) or len(extra) != len(chunks):
        raise ValueError(
            f"chunk_ids and chunk_tags must have one entry per chunk ({len(chunks)}); got {len(ids)} and {len(extra)}"
        )
    return list(zip(ids, extra))


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
        chunk_tags: Sequence[Sequence[str]] | None = None,
        chunk_ids: Sequence[int] | None = None,
        on_submitted: Callable[[int, str], object] | None = None,
        estimator: bool = False,
        mitigation: Any = None,
    ) -> list[str]:
        """Submit one job per chunk of PUBs, one after another; ``on_submitted(chunk, job_id)`` runs as soon
        as each id is known, before the next job is sent.

        ``tags`` go on every job, ``chunk_tags[i]`` on job ``i`` too; ``chunk_ids[i]`` is the chunk
        number passed to ``on_submitted`` (default ``i``: resubmitting chunks 1 and 3 passes ``[1, 3]``).
        ``estimator``: the PUBs are estimator PUBs (circuit, observables, values); ``mitigation``: a
        :class:`qsa.hardware.mitigation.Mitigation` (or its ``as_dict()``) set on the primitive.
        """
        _check_choice(execution, "execution", EXECUTIONS)
        _check_choice(primitive, "primitive", PRIMITIVES)
        labels = _labels(chunks, chunk_tags, chunk_ids)
        return self._submit(
            backend,
            chunks,
            labels,
            shots=shots,
            execution=execution,
            primitive=primitive,
            seed_simulator=seed_simulator,
            tags=tags,
            on_submitted=on_submitted,
            estimator=estimator,
            mitigation=mitigation,
        )

    @abstractmethod
    def _submit(
        self,
        backend: Any,
        chunks: Sequence[Sequence[tuple[Any, ...]]],
        labels: list[tuple[int, list[str]]],
        *,
        shots: int,
        execution: str,
        primitive: str,
        seed_simulator: int | None,
        tags: Sequence[str],
        on_submitted: Callable[[int, str], object] | None,
        estimator: bool,
        mitigation: Any,
    ) -> list[str]:
        """:meth:`submit` after its checks; ``labels[i]`` is chunk ``i``'s ``(chunk number, extra tags)``."""

    @abstractmethod
    def job(self, job_id: str) -> Any:
        """A job handle with ``job_id()``, ``status()`` and ``result()``."""

    def find_jobs(self, tags: Sequence[str]) -> list[dict[str, Any]]:
        """Jobs carrying every tag of ``tags``, oldest first: ``{"job_id", "tags", "created"}`` each.

        How a job submitted in the instant before its id could be journaled is found again.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot look jobs up by tag")

    def job_tags(self, job_id: str) -> list[str]:
        """The tags of job ``job_id``."""
        raise NotImplementedError(f"{type(self).__name__} cannot read the tags of a job")

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

    def _submit(
        self,
        backend: Any,
        chunks: Sequence[Sequence[tuple[Any, ...]]],
        labels: list[tuple[int, list[str]]],
        *,
        shots: int,
        execution: str,
        primitive: str,
        seed_simulator: int | None,
        tags: Sequence[str],
        on_submitted: Callable[[int, str], object] | None,
        estimator: bool,
        mitigation: Any,
    ) -> list[str]:
        from qiskit_ibm_runtime import Batch, Session

        context = {"batch": Batch, "session": Session}.get(execution)

        def make(mode: Any) -> Any:
            return make_primitive(primitive, mode, shots=shots, estimator=estimator, mitigation=mitigation)

        if context is None:
            return self._run_chunks(make(backend), chunks, shots, tags, labels, on_submitted)
        with context(backend=backend) as mode:
            return self._run_chunks(make(mode), chunks, shots, tags, labels, on_submitted)

    @staticmethod
    def _run_chunks(
        sampler: Any,
        chunks: Sequence[Sequence[tuple[Any, ...]]],
        shots: int,
        tags: Sequence[str],
        labels: list[tuple[int, list[str]]],
        on_submitted: Callable[[int, str], object] | None,
    ) -> list[str]:
        ids = []
        for pubs, (chunk, extra) in zip(chunks, labels):
            sampler.options.environment.job_tags = [*tags, *extra]
            job = _run(sampler, pubs, shots)
            job_id = str(job.job_id())
            ids.append(job_id)
            if on_submitted is not None:
                on_submitted(chunk, job_id)
        return ids

    def job(self, job_id: str) -> Any:
        return self.service.job(job_id)

    def find_jobs(self, tags: Sequence[str]) -> list[dict[str, Any]]:
        jobs = self.service.jobs(job_tags=list(tags), limit=100, descending=False)
        return [
            {"job_id": str(j.job_id()), "tags": list(j.tags or []), "created": str(getattr(j, "creation_date", ""))}
            for j in jobs
        ]

    def job_tags(self, job_id: str) -> list[str]:
        return list(self.service.job(job_id).tags or [])

    def record(self) -> dict[str, Any]:
        return dict(self._record)


class LocalJob:
    """A job of :class:`LocalProvider`, found by id in the store (possibly run by another process)."""

    def __init__(self, path: Path, job_id: str, process: subprocess.Popen | None = None):
        self.path, self._id, self._process = path, job_id, process

    def job_id(self) -> str:
        return self._id

    def _record(self) -> dict[str, Any]:
        try:
            record = json.loads((self.path / "status.json").read_bytes().decode("utf-8"))
        except FileNotFoundError:
            return {"status": "QUEUED"}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            return {"status": "ERROR", "error": f"status.json of the local job is damaged ({exc})"}
        return record if isinstance(record, dict) else {"status": "ERROR", "error": "status.json is not a record"}

    def status(self) -> str:
        """``QUEUED``, ``RUNNING``, ``DONE`` or ``ERROR`` (the runtime's job status names)."""
        return str(self._record().get("status", "ERROR"))

    def error_message(self) -> str:
        return str(self._record().get("error", ""))

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
        try:
            return json.loads((self.path / "result.json").read_bytes().decode("utf-8"), cls=RuntimeDecoder)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RuntimeError(
                f"local job {self._id}: its result.json must be the runtime's JSON; got a damaged file ({exc})"
            ) from None


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

    def _submit(
        self,
        backend: Any,
        chunks: Sequence[Sequence[tuple[Any, ...]]],
        labels: list[tuple[int, list[str]]],
        *,
        shots: int,
        execution: str,
        primitive: str,
        seed_simulator: int | None,
        tags: Sequence[str],
        on_submitted: Callable[[int, str], object] | None,
        estimator: bool,
        mitigation: Any,
    ) -> list[str]:
        from qiskit_ibm_runtime import RuntimeEncoder

        from qsa.hardware.mitigation import Mitigation

        self.store.mkdir(parents=True, exist_ok=True)
        pending = []
        for pubs, (chunk, extra) in zip(chunks, labels):
            path = self.store / f"pending-{uuid.uuid4().hex}"
            path.mkdir()
            request = {
                "pubs": [tuple(p) for p in pubs],
                "shots": int(shots),
                "backend": backend.name,
                "execution": execution,
                "primitive": primitive,
                "simulator": self.simulator,
                # every chunk its own stream (qsa.random): seed + chunk would reuse seed + chunk + i for
                # experiment i of the chunk
                "seed_simulator": stream_seeds(seed_simulator, 1, (chunk,))[0],
                "latency": self.latency,
                "tags": [*tags, *extra],
                "estimator": bool(estimator),
                "mitigation": (
                    mitigation.as_dict()
                    if isinstance(mitigation, Mitigation)
                    else (mitigation or Mitigation().as_dict())
                ),
            }
            runs.write_bytes(path / "request.json", json.dumps(request, cls=RuntimeEncoder).encode())
            pending.append(path)
        log_path = self.store / f"worker-{uuid.uuid4().hex}.log"
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "qsa.hardware.local_worker", str(self.store), *map(str, pending)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,  # no terminal signal of ours reaches it: it outlives this process
                close_fds=True,
            )
        ids = []
        requests, replies = process.stdin, process.stdout
        assert requests is not None and replies is not None  # both are pipes (PIPE above)
        try:
            for chunk, _extra in labels:  # one job at a time, as a client of the service sends them
                requests.write(b"submit\n")
                requests.flush()
                line = replies.readline().decode().strip()
                if not line.startswith("job "):
                    requests.close()
                    process.wait()
                    raise RuntimeError(
                        f"the local worker did not accept chunk {chunk} (exit {process.returncode}):\n"
                        f"{log_path.read_text()[-2000:]}"
                    )
                job_id = line.split(None, 1)[1]
                self._processes[job_id] = process
                ids.append(job_id)
                logger.info("local job %s submitted (%s, %s)", job_id, primitive, execution)
                if on_submitted is not None:
                    on_submitted(chunk, job_id)
        finally:
            for stream in (requests, replies):
                if not stream.closed:
                    stream.close()  # the worker runs the jobs it has; nothing more will be sent
        return ids

    def job(self, job_id: str) -> LocalJob:
        path = (
            self.store / job_id
            if isinstance(job_id, str) and "/" not in job_id and job_id not in ("", ".", "..")
            else None
        )
        if path is None or not path.is_dir() or job_id.startswith("pending-"):
            raise ValueError(f"job_id must name a job in the local store {self.store}; got {job_id!r}")
        return LocalJob(path, job_id, self._processes.get(job_id))

    def find_jobs(self, tags: Sequence[str]) -> list[dict[str, Any]]:
        found = []
        for record in sorted(self.store.glob("*/job.json")):
            try:
                info = json.loads(record.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                continue  # a job directory being written, or damaged: not findable by tag
            if set(tags) <= set(info.get("tags", [])):
                found.append({"job_id": info["job_id"], "tags": info["tags"], "created": info.get("created")})
        return sorted(found, key=lambda j: j["created"] or 0)

    def job_tags(self, job_id: str) -> list[str]:
        job = self.job(job_id)
        try:
            return list(json.loads((job.path / "job.json").read_text()).get("tags", []))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return []

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
