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
from dcgan.data.cache import CacheReader, cache_settings
from dcgan.errors import DcganError
from dcgan.runs.folder import update_status
from dcgan.train.checkpoints import (
    CheckpointError,
    CheckpointPolicy,
    NonFiniteState,
    ensure_space,
    load_latest,
    state_bytes,
)
from dcgan.train.evaluation import EvalSchedule
from dcgan.train.health import run_warnings
from dcgan.train.progress import StepMeter
from dcgan.train.record import RunRecorder
from dcgan.train.samples import SampleWriter, fixed_noise
from dcgan.workspace import Workspace

ProgressFn = Callable[[dict], None]
AbortFn = Callable[[], bool]
DIVERGED_ADVICE = ("lower both learning rates (halve --g-lr and --d-lr), raise label "
                   "smoothing, or try the wgan-gp preset; then start a new run or resume")


class TrainingLoop:
    """One training session over a run folder, made of parts with one job each: the meter
    (counters, means, images/s), the recorder (status, metrics, TensorBoard), the sample
    writer, the evaluation schedule and the checkpoint policy. This class only runs the
    steps and tells each part when its moment comes."""

    def __init__(self, config: Config, run_dir: Path, progress_fn: ProgressFn | None,
                 abort_fn: AbortFn | None):
        import tensorflow as tf

        from dcgan.train.pipeline import check_enough, open_input
        from dcgan.train.step import CallSize, GanTrainer, configure_threads, setup_device

        configure_threads()
        if config.train.deterministic:
            tf.config.experimental.enable_op_determinism()
        self.config, self.run_dir = config, run_dir
        self.progress_fn, self.abort_fn = progress_fn, abort_fn or (lambda: False)
        t = config.train
        cache = Workspace.from_env().prepared_cache(config.data.dataset)
        reader = CacheReader(cache)
        self.data_crop = cache_settings(cache.parent)
        self.evaluation = EvalSchedule(config, cache, len(reader), run_dir)
        rows = self.evaluation.train_rows
        self.train_images = len(reader) if rows is None else len(rows)
        check_enough(self.train_images, t.batch_size, f"dataset {config.data.dataset!r}")
        config.validate(dataset_size=self.train_images)
        steps_per_epoch = self.train_images // t.batch_size
        if t.steps_per_epoch:
            steps_per_epoch = min(steps_per_epoch, t.steps_per_epoch)
        self.device = setup_device(config)
        self.trainer = GanTrainer(config, self.device)
        restored = load_latest(run_dir)
        settings = dict(batch_size=t.batch_size, steps_per_epoch=steps_per_epoch,
                        epochs=t.epochs, log_every=t.log_every)
        self.meter, self.resumed_from = StepMeter(**settings), None
        if restored:
            state, position, path = restored
            self.trainer.set_state(state)
            self.meter = StepMeter.from_position(position, **settings)
            self.resumed_from = path.name
        is_chief = _is_chief(self.device.strategy)
        if is_chief:
            ensure_space(run_dir, 3 * state_bytes(self.trainer.get_state()) + (50 << 20))
        self.recorder = RunRecorder(run_dir, is_chief, self.meter.step)
        self.samples = SampleWriter(run_dir, t.epochs, fixed_noise(run_dir, config)) \
            if is_chief else None
        self.checkpoints = CheckpointPolicy(run_dir, t.checkpoint_every, t.epochs,
                                            t.keep_checkpoints, t.keep_every) \
            if is_chief else None
        multiworker = isinstance(self.device.strategy, tf.distribute.MultiWorkerMirroredStrategy)
        self.input = open_input(config, cache, reader, rows, self.device.strategy,
                                self.meter.epoch, self.meter.batch_in_epoch, steps_per_epoch)
        # The workers of several machines must make the same calls (their all-reduces pair
        # up call by call), so K is not measured there: --steps-per-call, or 1.
        self.call_size = CallSize(t.steps_per_call or (1 if multiworker else 0))

    def warnings(self) -> list[dict]:
        return run_warnings(self.recorder.history, self.config.train.loss,
                            self.config.data.augment, self.train_images)

    def run(self) -> str:
        """Train to the last epoch: "done", or "stopped" / "diverged" on the way."""
        meter = self.meter
        self.recorder.status(meter, state="running", pid=os.getpid(),
                             device=self.device.description, input=self.input.description,
                             steps_per_call=self.call_size.k,
                             steps_per_call_auto=not self.call_size.fixed,
                             started=time.time(), resumed_from=self.resumed_from, error=None,
                             train_images=self.train_images, data_crop=self.data_crop,
                             warnings=self.warnings())
        meter.start_window(time.perf_counter())
        while not meter.finished:
            while meter.in_epoch:
                if self.abort_fn():
                    return self.stop()
                count = min(self.call_size.k, meter.steps_left_in_epoch())
                started = time.perf_counter()
                results = self.trainer.train_steps(
                    self.input.source, self.input.args(meter.epoch, meter.batch_in_epoch),
                    meter.step, count)
                seconds = time.perf_counter() - started
                self.call_size.observe(len(results), seconds)
                for j, values in enumerate(results):
                    if not all(np.isfinite(v) for v in values.values()):
                        return self.diverged(values)
                    # a call's steps are timed as equal shares of it, for images/s
                    self.after_step(values, started + (j + 1) * seconds / len(results))
            if not self.end_epoch():
                return self.diverged({"weights": float("nan")})
        self.recorder.status(meter, state="done", images_per_s=None, eta_s=None,
                             finished=time.time())
        return "done"

    def after_step(self, values: dict[str, float], now: float) -> None:
        """Count one step finished at perf_counter time `now`; log it when due."""
        meter, t = self.meter, self.config.train
        due = meter.count(values, now)
        if due:
            self.recorder.log({"kind": "step", "epoch": meter.epoch, "step": meter.step,
                               "time": time.time(), **values,
                               "images_per_s": due["images_per_s"],
                               "g_lr": t.g_lr, "d_lr": t.d_lr})
            self.recorder.status(meter, **due, last_metrics=values,
                                 steps_per_call=self.call_size.k)
        if self.progress_fn:
            self.progress_fn({"epoch": meter.epoch, "step": meter.step,
                              "batch": meter.batch_in_epoch,
                              "steps_per_epoch": meter.steps_per_epoch, **values})

    def end_epoch(self) -> bool:
        """Means, grid, evaluation and checkpoint of the epoch just ended; False if the
        weights are no longer finite (nothing saved from them)."""
        meter = self.meter
        means = meter.end_epoch()
        self.recorder.log({"kind": "epoch", "epoch": meter.epoch, "step": meter.step,
                           "time": time.time(), **means})
        if self.samples:
            grid = self.samples.write(self.trainer.sample, meter.epoch)
            if grid is not None:
                self.recorder.image("samples", np.asarray(grid)[None], meter.step)
        if self.evaluation.due(meter.epoch) and self.recorder.is_chief:
            self.recorder.status(meter, evaluating=True)
            record = self.evaluation(self.trainer.sample)
            self.recorder.log({"kind": "eval", "epoch": meter.epoch, "step": meter.step,
                               "time": time.time(), **record})
            self.recorder.status(meter, evaluating=False)
        if self.checkpoints and self.checkpoints.due(meter.epoch):
            try:
                self.checkpoint()
            except NonFiniteState:
                return False
        self.recorder.status(meter, warnings=self.warnings())
        return True

    def checkpoint(self) -> None:
        if self.checkpoints:
            self.checkpoints.save(self.trainer.get_state(), self.meter.position(),
                                  self.trainer.inference_generator,
                                  best_epoch=self.recorder.best_epoch())

    def stop(self) -> str:
        """abort_fn said stop: checkpoint where we are, then "stopped"."""
        try:
            self.checkpoint()
        except NonFiniteState:
            return self.diverged({"weights": float("nan")})
        self.recorder.status(self.meter, state="stopped", images_per_s=None, eta_s=None)
        return "stopped"

    def diverged(self, values: dict) -> str:
        bad = ", ".join(k for k, v in values.items() if not np.isfinite(v))
        meter = self.meter
        self.recorder.status(
            meter, state="diverged", images_per_s=None, eta_s=None,
            error=f"training diverged at epoch {meter.epoch + 1}, step {meter.step + 1} "
                  f"({bad} not finite); no checkpoint was saved from it. "
                  f"Advice: {DIVERGED_ADVICE}")
        return "diverged"


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
        return TrainingLoop(config, run_dir, progress_fn, abort_fn).run()
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
