"""Training the dynamics model on a thread of its own, while the next real rollout runs.

Lookahead trains its model on the real data, then imagines with it (Algorithm 1, lines 4 and 5),
and the real rollout waits for both. On a machine with a core to spare, the model's training can
run beside the next rollout instead: the imagined update then uses the model as it was trained on
the data up to the previous iteration (one iteration stale), and the iteration no longer waits
for the model unless its training outlasts the rollout. :class:`BackgroundTraining` runs
``ModelTrainer.train_steps`` on a thread between two learner calls, never while the model is read
(the learner waits for it, :meth:`wait`, before it adds data, imagines or saves), draws its
mini-batches from a generator of its own (so the rollout's random numbers are the same whatever
the thread does), and hands an error raised on the thread (a non-finite loss) to the learner when
it waits.
"""

from __future__ import annotations

import threading
import time

import torch

from modules.world_models.model_trainer import ModelTrainer


class BackgroundTraining:
    """``start(n_steps)`` trains ``trainer`` for ``n_steps`` on a thread; ``wait()`` returns its stats
    (with ``time_model_background``, the thread's seconds) and re-raises its error."""

    def __init__(self, trainer: ModelTrainer, seed: int) -> None:
        self.trainer = trainer
        self.generator = torch.Generator(device=trainer.device).manual_seed(seed)
        self._thread: threading.Thread | None = None
        self._result: dict[str, float] = {}
        self._error: BaseException | None = None

    def start(self, n_steps: int) -> None:
        """Train ``n_steps`` on a new thread (the previous run must have been waited for)."""
        if self._thread is not None:
            raise RuntimeError("the model's background training is still running; wait() for it first")
        self._result, self._error = {}, None
        self._thread = threading.Thread(target=self._train, args=(n_steps,), name="model-training", daemon=False)
        self._thread.start()

    def _train(self, n_steps: int) -> None:
        started = time.perf_counter()
        try:
            stats = self.trainer.train_steps(n_steps, generator=self.generator)
            self._result = {**stats, "time_model_background": time.perf_counter() - started}
        except BaseException as error:  # handed to the learner's thread by wait()
            self._error = error

    def wait(self) -> dict[str, float]:
        """Block until the running training (if any) is done; its stats, or its error raised here."""
        if self._thread is None:
            return {}
        self._thread.join()
        self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        return self._result

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
