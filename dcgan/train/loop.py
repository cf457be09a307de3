"""run_training: the epoch loop that turns a run folder into a trained generator.

The CLI (`python -m dcgan train`) and the app's background job both call it. It knows
nothing of its caller: `progress_fn(info)` is told about each step, `abort_fn()` is asked
before each step whether to stop (checkpoint, then return "stopped").
"""

from __future__ import annotations

import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dcgan.config import Config
from dcgan.data.images import image_grid
from dcgan.errors import DcganError
from dcgan.runs.folder import MetricsLog, read_metrics, update_status
from dcgan.train.checkpoints import (
    CheckpointError,
    NonFiniteState,
    ensure_space,
    load_latest,
    save_checkpoint,
)
from dcgan.train.health import run_warnings
from dcgan.workspace import Workspace

ProgressFn = Callable[[dict], None]
AbortFn = Callable[[], bool]
SAMPLE_COUNT = 64
NOT_SCALARS = ("kind", "epoch", "step", "time", "held_out", "eval_images")
DIVERGED_ADVICE = ("lower both learning rates (halve --g-lr and --d-lr), raise label "
                   "smoothing, or try the wgan-gp preset; then start a new run or resume")


def fixed_noise(run_dir: Path, config: Config) -> np.ndarray:
    """The run's fixed (64, latent) noise: made once from the seed, then read from disk."""
    path = run_dir / "fixed_noise.npy"
    if path.is_file():
        return np.load(path)
    noise = np.random.default_rng([config.train.seed, 99]).standard_normal(
        (SAMPLE_COUNT, config.model.latent_dim)).astype(np.float32)
    tmp = run_dir / ".fixed_noise.tmp.npy"
    np.save(tmp, noise)
    os.replace(tmp, path)
    return noise


class _Loop:
    """State of one training session over a run folder (counters, logs, writers)."""

    def __init__(self, config: Config, run_dir: Path, progress_fn: ProgressFn | None,
                 abort_fn: AbortFn | None):
        import tensorflow as tf

        from dcgan.data.cache import CacheReader
        from dcgan.quality.evaluator import Evaluator
        from dcgan.train.pipeline import check_enough, input_spec
        from dcgan.train.step import CallSize, GanTrainer, configure_threads, setup_device

        configure_threads()
        if config.train.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.tf = tf
        self.config, self.run_dir = config, run_dir
        self.progress_fn, self.abort_fn = progress_fn, abort_fn or (lambda: False)
        ws = Workspace.from_env()
        cache = ws.prepared_cache(config.data.dataset)
        reader = CacheReader(cache)
        t = config.train
        self.evaluator = Evaluator(cache, t.eval_images, t.seed, run_dir / "eval_baseline.json") \
            if t.eval_every and len(reader) >= 4 else None
        train_rows = self.evaluator.split.train_rows if self.evaluator else None
        train_count = len(reader) if train_rows is None else len(train_rows)
        check_enough(train_count, t.batch_size, f"dataset {config.data.dataset!r}")
        config.validate(dataset_size=train_count)
        self.train_images = train_count
        self.steps_per_epoch = train_count // t.batch_size
        if t.steps_per_epoch:
            self.steps_per_epoch = min(self.steps_per_epoch, t.steps_per_epoch)
        self.device = setup_device(config)
        self.trainer = GanTrainer(config, self.device)
        self.is_chief = _is_chief(self.device.strategy)
        self.epoch, self.step, self.batch_in_epoch = 0, 0, 0
        restored = load_latest(run_dir)
        if restored:
            state, meta, _path = restored
            self.trainer.set_state(state)
            self.epoch, self.step = int(meta["epoch"]), int(meta["step"])
            self.batch_in_epoch = int(meta["batch_in_epoch"])
        self.resumed_from = restored[2].name if restored else None
        self.metrics = MetricsLog(run_dir)
        if self.is_chief:
            self.metrics.truncate_after(self.step)
            ensure_space(run_dir, 3 * sum(a.nbytes for v in self.trainer.get_state().values()
                                          for a in v) + (50 << 20))
        self.history = [r for r in read_metrics(run_dir) if r.get("kind") in ("epoch", "eval")]
        self.noise = fixed_noise(run_dir, config)
        self.multiworker = isinstance(self.device.strategy,
                                      tf.distribute.MultiWorkerMirroredStrategy)
        self._open_input(cache, reader, input_spec(config), train_rows)
        # The workers of several machines must make the same calls (their all-reduces pair
        # up call by call), so K is not measured there: --steps-per-call, or 1.
        self.call_size = CallSize(t.steps_per_call or (1 if self.multiworker else 0))
        self.writer = tf.summary.create_file_writer(str(run_dir / "tensorboard")) \
            if self.is_chief else None
        # Per-key sums and counts: some values come only from some steps (r1: lazy R1 steps).
        self.epoch_sums: dict[str, float] = {}
        self.epoch_counts: dict[str, int] = {}

    def _open_input(self, cache: Path, reader, spec, train_rows) -> None:
        """Hold the training rows in memory when they fit (or are asked to), else stream."""
        from dcgan.train.pipeline import CacheRows, ResidentImages, make_dataset, resident_fits
        from dcgan.train.step import STREAMED

        mode = self.config.data.resident_data
        nbytes = self.train_images * reader.row_bytes
        if mode == "on" and self.multiworker:
            raise DcganError("resident_data: 'on' is not available with several machines "
                             "(multiworker); use 'auto' or 'off'")
        if not self.multiworker and (mode == "on" or
                                     (mode == "auto" and resident_fits(nbytes))):
            rows = np.arange(len(reader)) if train_rows is None else train_rows
            self.data = ResidentImages(CacheRows(reader, rows), spec)
            self.source, self.input = self.data, f"in memory ({nbytes / 2**20:.1f} MB)"
            return
        dataset = make_dataset(cache, spec, start_epoch=self.epoch,
                               start_batch=self.batch_in_epoch,
                               steps_per_epoch=self.steps_per_epoch, rows=train_rows)
        self.data = None
        self.batches = iter(self.device.strategy.experimental_distribute_dataset(dataset))
        self.source, self.input = STREAMED, "streamed from disk"

    # --- bookkeeping -----------------------------------------------------------------------
    def status(self, **fields) -> None:
        if self.is_chief:
            update_status(self.run_dir, heartbeat=time.time(), epoch=self.epoch,
                          step=self.step, epochs=self.config.train.epochs,
                          steps_per_epoch=self.steps_per_epoch, **fields)

    def checkpoint(self) -> None:
        if not self.is_chief:
            return
        meta = {"epoch": self.epoch, "step": self.step, "batch_in_epoch": self.batch_in_epoch,
                "time": time.time()}
        t = self.config.train
        evals = [r for r in self.history if r.get("kind") == "eval" and "swd" in r]
        best = min(evals, key=lambda r: r["swd"])["epoch"] if evals else None
        save_checkpoint(self.run_dir, self.trainer.get_state(), meta,
                        keep=t.keep_checkpoints, keep_every=t.keep_every, best_epoch=best)
        tmp = self.run_dir / "generator.tmp.keras"
        self.trainer.inference_generator.save(tmp)
        os.replace(tmp, self.run_dir / "generator.keras")

    def log(self, record: dict) -> None:
        if not self.is_chief:
            return
        self.metrics.append(record)
        if record["kind"] in ("epoch", "eval"):
            self.history.append(record)
        with self.writer.as_default(step=self.step):
            for key, value in record.items():
                if key not in NOT_SCALARS:
                    self.tf.summary.scalar(f"{record['kind']}/{key}", value)

    def samples(self) -> None:
        if not self.is_chief:
            return
        grid = image_grid(self.trainer.sample(self.noise), columns=8)
        folder = self.run_dir / "samples"
        path = folder / f"epoch_{self.epoch:04d}.png"
        tmp = path.with_name(f".{path.name}.tmp")
        grid.save(tmp, format="PNG", compress_level=1)
        os.replace(tmp, path)
        epochs = self.config.train.epochs
        if not grid_kept(self.epoch - 1, epochs):  # it was shown while newest; now it goes
            (folder / f"epoch_{self.epoch - 1:04d}.png").unlink(missing_ok=True)
        if grid_kept(self.epoch, epochs):
            with self.writer.as_default(step=self.step):
                self.tf.summary.image("samples", np.asarray(grid)[None], max_outputs=1)

    # --- the loop --------------------------------------------------------------------------
    def run(self) -> str:
        t = self.config.train
        self.status(state="running", pid=os.getpid(), device=self.device.description,
                    input=self.input, steps_per_call=self.call_size.k,
                    steps_per_call_auto=not self.call_size.fixed,
                    started=time.time(), resumed_from=self.resumed_from, error=None,
                    train_images=self.train_images,
                    warnings=run_warnings(self.history, t.loss, self.config.data.augment,
                                          self.train_images))
        self.window = time.perf_counter(), 0
        while self.epoch < t.epochs:
            while self.batch_in_epoch < self.steps_per_epoch:
                if self.abort_fn():
                    self.checkpoint()
                    self.status(state="stopped", images_per_s=None, eta_s=None)
                    return "stopped"
                count = min(self.call_size.k, self.steps_per_epoch - self.batch_in_epoch)
                args = self.data.args(self.epoch, self.batch_in_epoch) if self.data \
                    else self.batches
                started = time.perf_counter()
                results = self.trainer.train_steps(self.source, args, self.step, count)
                seconds = time.perf_counter() - started
                self.call_size.observe(len(results), seconds)
                for j, values in enumerate(results):
                    if not all(np.isfinite(v) for v in values.values()):
                        return self.diverged(values)
                    # a call's steps are timed as equal shares of it, for images/s
                    self.after_step(values, started + (j + 1) * seconds / len(results))
            self.end_epoch()
        self.status(state="done", images_per_s=None, eta_s=None, finished=time.time())
        return "done"

    def after_step(self, values: dict[str, float], now: float) -> None:
        """Count one step, finished at perf_counter time `now`: epoch means, the step log
        and status (images/s over the steps since the last log), progress_fn."""
        t = self.config.train
        self.step += 1
        self.batch_in_epoch += 1
        window_start, window_images = self.window[0], self.window[1] + t.batch_size
        self.window = window_start, window_images
        for key, value in values.items():
            self.epoch_sums[key] = self.epoch_sums.get(key, 0.0) + value
            self.epoch_counts[key] = self.epoch_counts.get(key, 0) + 1
        if self.step % t.log_every == 0 or self.batch_in_epoch == self.steps_per_epoch:
            elapsed = now - window_start
            rate = window_images / elapsed if elapsed > 0 else 0.0
            self.window = now, 0
            self.log({"kind": "step", "epoch": self.epoch, "step": self.step,
                      "time": time.time(), **values, "images_per_s": rate,
                      "g_lr": t.g_lr, "d_lr": t.d_lr})
            left = (t.epochs - self.epoch) * self.steps_per_epoch - self.batch_in_epoch
            eta = left * t.batch_size / rate if rate else None
            self.status(images_per_s=rate, eta_s=eta, last_metrics=values,
                        steps_per_call=self.call_size.k)
        if self.progress_fn:
            self.progress_fn({"epoch": self.epoch, "step": self.step,
                              "batch": self.batch_in_epoch,
                              "steps_per_epoch": self.steps_per_epoch, **values})

    def end_epoch(self) -> None:
        t = self.config.train
        self.epoch += 1
        self.batch_in_epoch = 0
        means = {k: v / self.epoch_counts[k] for k, v in self.epoch_sums.items()}
        self.epoch_sums, self.epoch_counts = {}, {}
        self.log({"kind": "epoch", "epoch": self.epoch, "step": self.step,
                  "time": time.time(), **means})
        self.samples()
        if self.evaluator and (self.epoch % t.eval_every == 0 or self.epoch == t.epochs):
            self.evaluate()
        if self.epoch % t.checkpoint_every == 0 or self.epoch == t.epochs:
            state = self.trainer.get_state()
            if not all(np.all(np.isfinite(a)) for v in state.values() for a in v
                       if a.dtype.kind == "f"):
                self.diverged({"weights": float("nan")})
                raise NonFiniteState("weights hold NaN or Inf")
            self.checkpoint()
        self.status(warnings=run_warnings(self.history, t.loss, self.config.data.augment,
                                          self.train_images))

    def evaluate(self) -> None:
        """SWD and MS-SSIM of the generator now vs the held-out sample, into metrics.jsonl."""
        if not self.is_chief:
            return
        self.status(evaluating=True)
        record = self.evaluator(self.trainer.sample, self.config.model.latent_dim)
        self.log({"kind": "eval", "epoch": self.epoch, "step": self.step, "time": time.time(),
                  **record})
        self.status(evaluating=False)

    def diverged(self, values: dict) -> str:
        bad = ", ".join(k for k, v in values.items() if not np.isfinite(v))
        self.status(state="diverged", images_per_s=None, eta_s=None,
                    error=f"training diverged at epoch {self.epoch + 1}, step {self.step + 1} "
                          f"({bad} not finite); no checkpoint was saved from it. "
                          f"Advice: {DIVERGED_ADVICE}")
        return "diverged"


def grid_kept(epoch: int, epochs: int, first: int = 100, later: int = 100) -> bool:
    """Whether epoch `epoch`'s sample grid (and its TensorBoard image) is kept for good.

    Every one of the first `first` epochs, then every k-th with k chosen so that at most
    `later` more are kept, and the last epoch: at most first + later + 1 grids (about 0.45 MB
    each) however long the run. The newest grid is always on disk while it is the newest.
    """
    if epoch <= first or epoch == epochs:
        return epoch >= 1
    k = max(1, -(-(epochs - first) // later))
    return (epoch - first) % k == 0


def _is_chief(strategy) -> bool:
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    return resolver.task_type in ("chief", None) or (
        resolver.task_type == "worker" and resolver.task_id == 0)


def run_training(config: Config, run_dir: Path, progress_fn: ProgressFn | None = None,
                 abort_fn: AbortFn | None = None) -> str:
    """Train (or continue) the run in `run_dir`; returns the final state.

    States: "done", "stopped" (abort_fn said so; checkpointed), "diverged" (NaN/Inf; no
    checkpoint saved from it), "failed" (error written to status.json, then re-raised).
    """
    try:
        loop = _Loop(config, run_dir, progress_fn, abort_fn)
        return loop.run()
    except NonFiniteState:
        return "diverged"
    except Exception as exc:
        message = _explain(exc, config)
        update_status(run_dir, state="failed", error=message, heartbeat=time.time(),
                      images_per_s=None, eta_s=None)
        (run_dir / "train.log").open("a").write(traceback.format_exc())
        if isinstance(exc, DcganError):
            raise
        raise DcganError(message) from exc


def _explain(exc: Exception, config: Config) -> str:
    """A message for people: what went wrong and what to do."""
    import tensorflow as tf

    if isinstance(exc, tf.errors.ResourceExhaustedError):
        return (f"out of memory at batch size {config.train.batch_size}: reduce the batch "
                "size (e.g. halve it) and resume")
    if isinstance(exc, CheckpointError | DcganError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
