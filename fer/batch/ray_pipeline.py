"""The Ray side: attach to or start Ray, and run the work units through a pool of actors with Ray Data.

Ray is imported inside these functions only, so ``import fer.batch`` never loads it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Iterator

from fer.batch.analyse import Analyzer
from fer.batch.provenance import ModelChoice

# A block whose worker dies (a crash, out of memory) is tried this many times more, then given up:
# Ray Data's default for actors is to retry without end, and one file that kills its worker would
# stall the run for good. What a given-up block held is accounted for by fer.batch.parquet_parts.
TASK_RETRIES = 2


def start_ray(address: str | None = None, num_cpus: int | None = None, quiet: bool = True) -> bool:
    """Attach to ``address`` (or ``RAY_ADDRESS``) or start a local Ray; True when this call started
    it (so the caller shuts it down), False when Ray was already running in this process."""
    import ray

    if ray.is_initialized():
        return False
    options = {"log_to_driver": not quiet, "logging_level": logging.WARNING}
    # the workers' native start-up messages too, as `python -m fer --verbose` shows them; not inside
    # a `ray job submit`, whose own runtime env Ray refuses to merge with another
    if not quiet and "RAY_JOB_CONFIG_JSON_ENV_VAR" not in os.environ:
        options["runtime_env"] = {"env_vars": {"FER_VERBOSE": "1"}}
    if address or os.environ.get("RAY_ADDRESS"):
        ray.init(address=address, **options)  # a cluster's size is the cluster's, not ours to set
    else:
        ray.init(num_cpus=num_cpus, include_dashboard=False, **options)
    return True


@contextlib.contextmanager
def ray_data_settings() -> Iterator[None]:
    """Ray Data as one run of ours needs it, the caller's settings restored afterwards (they belong to
    the process: a library user's later Ray Data jobs must not inherit them).

    Our own progress bar and summary replace Ray Data's per-operator bars and statistics; and a block
    that failed past its retries is dropped instead of ending the run (Ray Data's default): its
    inputs get error rows once the stream ends (:func:`fer.batch.parquet_parts.stream_to_parts`).
    """
    import ray.data

    context = ray.data.DataContext.get_current()
    ours = {"enable_progress_bars": False, "print_on_execution_start": False, "enable_auto_log_stats": False,
            "max_errored_blocks": -1}
    # "progress bars disabled" is logged at WARNING by the progress module
    levels = {"ray.data": logging.WARNING, "ray.data._internal.progress": logging.ERROR}
    saved = {key: getattr(context, key) for key in ours}
    saved_levels = {name: logging.getLogger(name).level for name in levels}
    for key, value in ours.items():
        setattr(context, key, value)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for key, value in saved.items():
            setattr(context, key, value)
        for name, level in saved_levels.items():
            logging.getLogger(name).setLevel(level)


def raw_dataset(units: list[dict], workers: int, model: ModelChoice, every: int = 1):
    """Units -> a Ray Dataset of raw rows (chunk-local track ids, internal columns).

    Work is dispatched to the actors block by block: each video chunk gets a block of its own (it
    is seconds of work), images are grouped a few to a block so that a million photos do not make
    a million blocks, yet there are several blocks per worker to balance the load.
    """
    import ray.data

    videos = [u for u in units if u["kind"] == "video"]
    others = [u for u in units if u["kind"] != "video"]
    parts = []
    if videos:
        parts.append(ray.data.from_items(videos, override_num_blocks=len(videos)))
    if others:
        per_block = min(32, max(1, math.ceil(len(others) / (4 * workers))))
        parts.append(ray.data.from_items(others, override_num_blocks=math.ceil(len(others) / per_block)))
    units_ds = parts[0].union(*parts[1:]) if len(parts) > 1 else parts[0]
    return units_ds.map_batches(
        Analyzer,
        fn_constructor_kwargs={"model": model, "every": every},
        batch_size=1,  # one unit a call: rows stream back as each file or chunk is done
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=workers),
        num_cpus=1,
        # an actor option: Ray 2.60 takes it only among **ray_remote_args, which it warns are deprecated
        # (removal planned for 2.64) and offers no named parameter for yet
        max_task_retries=TASK_RETRIES,
    )
