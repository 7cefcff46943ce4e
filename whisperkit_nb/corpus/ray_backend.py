"""``backend="ray"``: a corpus's inputs through Ray Data, on a local Ray or a cluster; the store stays the driver's.

The stages are the local backend's, run where Ray places them:

- **prepare** (CPU tasks): `whisperkit_nb.run.prepare.prepare_input` (decode, VAD, chunk plan);
- **transcribe** (an actor pool, one model per actor, ``num_gpus=1`` per actor when the options ask for
  CUDA): `whisperkit_nb.run.decode.decode_inputs` over each block of prepared inputs, so their chunks share
  batches as in a local run;
- **speakers** (CPU tasks, or GPU ones with CUDA; with ``diarize=True``): the `diarize` node's code and
  `assign_speakers`' code path;
- **store** (the driver): each result written as it arrives, with the same keys a local run uses, so either
  backend resumes the other's store.

Workers read the inputs by path: on a cluster, the paths must be readable on every node (a shared file
system), and every node needs this package with the same extras installed (see README, "Running on a
Ray cluster").
"""

from __future__ import annotations

import os
import pickle
import time
from collections.abc import Iterator
from typing import Any

from whisperkit_nb.errors import MissingDependencyError, OptionsError
from whisperkit_nb.options import TranscribeOptions

INPUTS_PER_ACTOR_CALL = 16  # prepared inputs an actor decodes together (their chunks share its batches)


def ray_results(items: list[tuple[int, str]], opts: TranscribeOptions, transcript_opts: TranscribeOptions, *,
                address: str | None, actors: int | None) -> Iterator[dict[str, Any]]:
    """Run ``(key, path)`` inputs through the Ray stages; yield one dict per input as it finishes:
    ``key``, and either ``error`` (a message) or ``transcript`` and ``speakers`` (DataFrames, ``speakers``
    None without diarization), ``facts`` (the transcript's) and ``speaker_facts``, and ``model``."""
    ray = _import_ray()
    if transcript_opts.chunking == "fixed":
        raise OptionsError("backend='ray' shares batches across inputs, which needs chunking='vad'; "
                           "use chunking='vad' or backend='local'.")
    if not ray.is_initialized():
        # A cluster when given; otherwise a local Ray on this machine, quiet: no dashboard, no usage statistics.
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if address is None:
            start_local_ray(ray)
        else:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
    elif address is not None:
        raise OptionsError(f"ray_address={address!r}, but this process is already connected to a Ray cluster: "
                           "call ray.shutdown() first, or leave ray_address out to use that one.")
    import ray.data

    # GPU actors where the options ask for CUDA, or leave the device to the machine and the cluster has GPUs.
    device = transcript_opts.device
    gpu = device.startswith("cuda") or (device == "auto" and ray.cluster_resources().get("GPU", 0) > 0)
    ds = ray.data.from_items([{"key": key, "path": path} for key, path in items],
                             override_num_blocks=max(1, len(items)))
    ds = ds.map(_prepare, fn_kwargs={"opts": transcript_opts, "in_memory": opts.diarize}, num_cpus=1)
    ds = ds.map_batches(_Transcribe, fn_constructor_kwargs={"opts": transcript_opts, "keep_source": opts.diarize},
                        batch_size=INPUTS_PER_ACTOR_CALL, batch_format="pandas",
                        compute=ray.data.ActorPoolStrategy(size=actors or 1),
                        num_gpus=1 if gpu else 0, num_cpus=0 if gpu else 1)
    if opts.diarize:
        ds = ds.map(_Speakers, fn_constructor_kwargs={"opts": opts}, compute=ray.data.ActorPoolStrategy(size=1),
                    num_gpus=1 if gpu else 0, num_cpus=0 if gpu else 1)
    for row in ds.iter_rows():
        yield pickle.loads(row["result"])


def _prepare(row: dict[str, Any], opts: TranscribeOptions, in_memory: bool) -> dict[str, Any]:
    """The prepare stage: one input decoded, its VAD run and chunks planned (`prepare_input`)."""
    from whisperkit_nb.run.prepare import prepare_input

    _quiet_workers()
    prepared = prepare_input(int(row["key"]), row["path"], opts, in_memory=True if in_memory else None)
    return {"key": int(row["key"]), "prepared": pickle.dumps(prepared)}


class _Transcribe:
    """The transcribe stage: an actor holding one model; each call decodes a block of prepared inputs in
    batches that span them (`decode_inputs`)."""

    def __init__(self, opts: TranscribeOptions, keep_source: bool) -> None:
        from whisperkit_nb.engines.registry import load_model
        from whisperkit_nb.run.stream import check_model_options

        _quiet_workers()
        self.opts, self.keep_source = opts, keep_source
        self.engine = load_model(opts)
        self.language = check_model_options(opts, self.engine)
        self.model = {"engine": self.engine.name, "dtype": self.engine.dtype_name}

    def __call__(self, batch: Any) -> Any:
        import pandas as pd

        from whisperkit_nb.output.dataframe import segments_to_dataframe
        from whisperkit_nb.run.batch import BatchFit
        from whisperkit_nb.run.decode import finished_inputs

        prepared = [pickle.loads(blob) for blob in batch["prepared"]]
        out = []
        for run, found in finished_inputs(prepared, self.opts, self.engine, self.language, fit=BatchFit()):
            if run.error is not None:
                result = {"key": run.prepared.key, "error": _reason(run.error)}
            else:
                run.report.seconds = round(time.perf_counter() - run.started, 3)
                frame = segments_to_dataframe(found, words=self.opts.timestamps == "word")
                result = {"key": run.prepared.key, "transcript": frame, "facts": run.report.as_dict(),
                          "model": self.model, "speakers": None}
                if self.keep_source:  # the speakers stage diarizes the samples decoded here
                    result["source"] = run.prepared.source
            out.append({"key": run.prepared.key, "result": pickle.dumps(result)})
        return pd.DataFrame(out, columns=["key", "result"])


class _Speakers:
    """The speakers stage: the `diarize` node's code on the input's samples, then `assign_speakers`' path."""

    def __init__(self, opts: TranscribeOptions) -> None:
        from whisperkit_nb.speakers.diarize import load_pipeline

        _quiet_workers()
        self.opts = opts
        load_pipeline(opts)

    def __call__(self, row: dict[str, Any]) -> dict[str, Any]:
        from whisperkit_nb.run.nodes import label_speakers, speaker_facts
        from whisperkit_nb.speakers.diarize import diarize

        result = pickle.loads(row["result"])
        if "error" not in result:
            started = time.perf_counter()
            try:
                turns = diarize(result["source"], self.opts)
                result["speakers"] = label_speakers(result["transcript"], turns, self.opts)
                result["speaker_facts"] = {**speaker_facts(turns),
                                           "seconds": round(result["facts"].get("seconds", 0.0)
                                                            + time.perf_counter() - started, 3)}
            except Exception as err:  # noqa: BLE001 - this input fails; its transcript is still stored
                result["speaker_error"] = _reason(err)
        result.pop("source", None)
        return {"key": row["key"], "result": pickle.dumps(result)}


PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "no_proxy", "NO_PROXY")
NOWHERE = "http://127.0.0.1:9"  # the discard port: a request sent there is refused at once, on this machine


def start_local_ray(ray: Any, **init_kwargs: Any) -> None:
    """Start a local Ray whose head processes send nothing off the machine.

    Ray's head (its dashboard process, even with the dashboard off and usage statistics disabled) asks the
    cloud metadata addresses (169.254.169.254, metadata.google.internal) which cloud it runs on when it
    starts. Those processes are started with HTTP(S) proxies pointing at a closed local port, so the
    questions end on this machine; the workers get the proxy settings of this process back (their
    ``runtime_env``), so a model download a worker makes goes where the user's settings say.
    """
    # A Ray on one machine needs no outward address (finding one opens a socket towards a public address).
    init_kwargs.setdefault("_node_ip_address", "127.0.0.1")
    saved = {name: os.environ.get(name) for name in PROXY_VARIABLES}
    workers_env = {name: value or "" for name, value in saved.items()}
    try:
        os.environ.update({"http_proxy": NOWHERE, "HTTP_PROXY": NOWHERE, "https_proxy": NOWHERE,
                           "HTTPS_PROXY": NOWHERE, "no_proxy": "localhost,127.0.0.1,::1",
                           "NO_PROXY": "localhost,127.0.0.1,::1"})
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False,
                 runtime_env={"env_vars": workers_env}, **init_kwargs)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _reason(err: BaseException) -> str:
    from whisperkit_nb.run.transcribe import failure_reason

    return failure_reason(err)


def _quiet_workers() -> None:
    """Worker processes: no pyannote telemetry, whatever their environment says."""
    os.environ["PYANNOTE_METRICS_ENABLED"] = "0"


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as err:
        raise MissingDependencyError("ray", "ray", "backend='ray' (Ray Data)") from err
    return ray
