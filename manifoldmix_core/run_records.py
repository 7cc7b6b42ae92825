"""The schemas of status.json and results.json (pydantic), shared by their writers (runs.StatusWriter, runner) and every
reader (runs.read_status / read_results: the app's run list, Run, Results and Experiments pages, sweeps, resume), so a
damaged or forged file is refused in one place with a message naming the file and the key, never half-read by a page."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WrittenState = Literal["queued", "running", "finished", "failed", "cancelled"]  # what the engine writes
State = WrittenState | Literal["interrupted", "damaged", "missing"]  # and what readers report: a dead worker, an unreadable
#                                                                     status.json, a sweep member whose folder is gone


class _Record(BaseModel):
    """A record read back from JSON: strict JSON types (a float may be written as an integer), keys from older or newer
    versions ignored, so users' existing run directories keep reading."""

    model_config = ConfigDict(strict=True, extra="ignore")


class LogRecord(_Record):
    """What status.json and results.json keep of events.jsonl (chain.record): its number of lines and its head."""

    events: int = Field(ge=0)
    head: str


class SetPlace(_Record):
    """Where an evaluation set lives during a run and its bytes there (data.SetMemory, see data.place)."""

    where: Literal["device", "disk", "host", "streamed"]
    device_bytes: int = Field(0, ge=0)
    host_bytes: int = Field(0, ge=0)


class Status(_Record):
    """status.json: the run's state, progress in [0, 1], ETA, message, the writer's pid, times, where each set lives and
    the log record; written by the engine only (lifecycle, runner, runs.StatusWriter)."""

    state: State = "queued"
    progress: float = Field(0.0, ge=0.0, le=1.0)
    message: str = ""
    pid: int | None = None
    created_at: float | None = None
    started_at: float | None = None
    updated_at: float | None = None
    finished_at: float | None = None
    eta_s: float | None = None
    evals: int | None = None
    datasets: dict[str, SetPlace] = {}
    log: LogRecord | None = None
    traceback: str | None = None
    queue_ahead: int | None = None  # runs ahead of this one in the run queue, while it waits (run_queue.py)


class PartitionRecord(_Record):
    """The run's partition: number of components, their names, and those that hold parameters the mix changes."""

    n: int = Field(ge=1)
    components: list[str]
    live: list[str] = []


class IngredientRecord(_Record):
    """An ingredient's accuracy per dataset, its ValAcc, whether it was tested beyond the held-out set, its file."""

    accuracy: dict[str, float]
    valacc: float | None = None
    tested: bool = True
    hparams: dict | None = None
    path: str | None = None


class MethodRecord(_Record):
    """A method's model (or ensemble): accuracy per dataset, its ingredients in order, ValAcc, λ per accepted candidate;
    method-specific results (ManifoldMixMS's beta, WiSE-FT's alpha) ride along as extra keys."""

    model_config = ConfigDict(strict=True, extra="allow")

    accuracy: dict[str, float]
    ingredients: list[str] = []
    valacc: float | None = None
    lambdas: list[list[float]] | None = None


class FusedRecord(_Record):
    """Which method's model fused.safetensors holds."""

    method: str
    file: str


class Results(_Record):
    """results.json: final accuracies per model and dataset for every method run, dataset sizes (for Table 1's intervals;
    absent in runs from before they were recorded), the ingredients' order and accuracies, the partition, the log record."""

    name: str = ""
    val_dataset: str
    datasets: list[str]
    dataset_sizes: dict[str, int] = {}
    ood_datasets: list[str] = []
    device: str = ""
    partition: PartitionRecord | None = None
    order: list[str] = []
    ingredient_tests: str | dict = "all"
    ingredients: dict[str, IngredientRecord] = {}
    methods: dict[str, MethodRecord] = {}
    evaluations: int | None = None
    log: LogRecord | None = None
    fused: FusedRecord | None = None
