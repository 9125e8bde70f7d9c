"""How a training run stops on SIGINT/SIGTERM (Ctrl-C, a batch scheduler): at once, with a checkpoint.

One signal drops the step in progress when it can be dropped, and the run ends with a checkpoint of
the last completed step: before any optimizer of the step has started to update its weights, the
step has changed nothing but its modules' buffers (BatchNorm statistics) and the RNG, which are put
back from a copy taken when the step began. Once an optimizer step has begun (an optimizer
``step_pre_hook`` says so) the step is finished first, as under DistributedDataParallel, where one
rank cannot leave a collective the others are in. A second signal stops at once, keeping the last
checkpoint written. (A step gives Python the signal between operations: during a backward pass,
when it returns.)
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

import torch

from . import state as ckpt_io


class StepDropped(BaseException):
    """Raised by the signal handler inside a step that can be dropped (not an ``Exception``: task
    code that catches errors must not swallow it)."""


class SignalStop:
    """The signal state of one run: ``signal`` (its name once one arrived), ``in_step``, and
    whether the step in progress has begun to update weights."""

    def __init__(self, task, device: torch.device, can_drop: bool):
        self.task, self.device, self.can_drop = task, device, can_drop
        self.signal: str | None = None
        self.in_step = False
        self._committing = False
        self._saved = None

    @contextlib.contextmanager
    def installed(self):
        """The handlers for SIGINT and SIGTERM, and the optimizers' step hooks, for the run's duration."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        hooks = [opt.register_step_pre_hook(self._commit) for opt in self.task.optimizers.values()]
        previous = {s: signal.signal(s, self._handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
            for hook in hooks:
                hook.remove()

    def _commit(self, *_) -> None:
        self._committing = True

    def _handler(self, signum, frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signal.Signals(signum).name
        if self.in_step and self.can_drop and not self._committing:
            print(f"\n{self.signal}: dropping this step, saving a checkpoint of the last one (send it again to "
                  "stop at once)", file=sys.stderr)
            raise StepDropped
        when = "before the next step" if self.can_drop and not self.in_step else "after this step"
        print(f"\n{self.signal}: stopping {when}, then saving a checkpoint (send it again to stop at once)",
              file=sys.stderr)

    def run_step(self, step):
        """``step()`` unless a signal drops it: ``(its result, False)`` or ``(None, True)``. A second
        signal (KeyboardInterrupt) leaves ``in_step`` set: the state is then not consistent, and the
        trainer keeps its last checkpoint instead of saving this one. A signal that came between
        steps (while the batch was loading) stops before this one begins."""
        if self.can_drop and self.signal is not None:
            return None, True
        if self.can_drop:
            self._saved = ([(b, b.detach().clone()) for m in self.task.modules().values() for b in m.buffers()],
                           ckpt_io.rng_state(self.device))
        try:
            self.in_step, self._committing = True, False  # inside the try: a drop from here on is caught
            result = step()
        except StepDropped:
            self._undo()
            self.in_step = False
            return None, True
        self.in_step = False
        return result, False

    def _undo(self) -> None:
        """The modules' buffers and the RNG as they were when the step began; no gradients left."""
        buffers, rng = self._saved
        with torch.no_grad():
            for live, saved in buffers:
                live.copy_(saved)
        ckpt_io.set_rng_state(rng, self.device)
        for opt in self.task.optimizers.values():
            opt.zero_grad(set_to_none=True)
