"""The training protocol of a model family: a :class:`Task`, registered for the family's name.

A :class:`Task` is what a model family gives the shared trainer (:mod:`dustbench.train`):

* ``modules()`` — every stateful module (``"model"`` is the restoration network that is saved
  and exported; a GAN adds ``"discriminator"``);
* ``build_optimizers(lr)`` — named optimizers (their ``initial_lr`` is scaled by the schedule);
* ``lr_factor(f)`` — the family's learning-rate factor given the trainer's linear decay ``f``
  (1 -> 0 over the run); the default keeps ``f``;
* ``training_step(batch, step) -> {name: float}`` — forward, backward and optimizer steps (a GAN
  does its own D and G updates here), returning the losses to log;
* ``notes()`` — facts about the run to record in its config and every log row (e.g. that the
  perceptual term is off);
* ``file_info(options)`` — what an exported file of the family records about itself (a
  detector says so, with its inference settings); ``{}`` for a plain restorer.

Validation (:mod:`dustbench.train.validate`) runs :meth:`Task.inference` — the network an export
would hold and that file's info — as the Method the exported file becomes, through
:func:`dustbench.methods.apply_method`: no family restores images its own way.

A family registers its task with ``@register_task("name")``; families without one are trained by
:class:`SupervisedTask` (MSE, one Adam optimizer).
"""
from __future__ import annotations

import contextlib
from typing import Callable

import torch
from torch import nn

from ..errors import DustbenchError
from ..registry import Registry, check_keys
from .registry import get_model_factory

_TASKS = Registry("task")  # model family name -> its Task subclass


class Task:
    """Base class of training tasks (see the module docstring). Subclasses set ``default_options``."""

    default_options: dict = {}

    def __init__(self, model_name: str, model: nn.Module, options: dict | None = None,
                 device: torch.device = torch.device("cpu")):
        self.model_name, self.model, self.device = model_name, model, device
        self.options = self.check_options(options or {})
        self._nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}  # set by the trainer
        self.autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    @classmethod
    def check_options(cls, options: dict) -> dict:
        """Defaults filled in; an unknown key is a DustbenchError with a did-you-mean."""
        check_keys(cls.__name__, options, cls.default_options)
        return {**cls.default_options, **options}

    # -- what subclasses provide ---------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def build_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        raise NotImplementedError

    def notes(self) -> dict:
        return {}

    def lr_factor(self, decay: float) -> float:
        """The learning-rate factor at linear decay ``decay`` (1 at the start, 0 at the end)."""
        return decay

    @classmethod
    def file_info(cls, options: dict) -> dict:
        """What an exported file of this family says about itself (``{}``: a restorer)."""
        return {}

    def inference(self) -> tuple[nn.Module, dict]:
        """(network, file info) of what an export of this run would be: the ``"model"`` module (not
        its DDP/compiled view) and :meth:`file_info` of the current options (a detector's threshold,
        dilation, fill...)."""
        return self.model, self.file_info(self.options)

    # -- helpers the trainer uses --------------------------------------------------------------
    def net(self, name: str) -> nn.Module:
        """The module to call in ``training_step``: DDP-wrapped / compiled when the trainer did so."""
        net = self._nets.get(name)  # not `or`: a module's truth value may call its __len__
        return net if net is not None else self.modules()[name]

    def wrap(self, fn: Callable[[nn.Module], nn.Module]) -> None:
        """Replace the training-time view of every module by ``fn(module)`` (DDP, torch.compile)."""
        for name, module in self.modules().items():
            self._nets[name] = fn(self.net(name))

    def train(self, mode: bool = True) -> None:
        for m in self.modules().values():
            m.train(mode)

    def to(self, device: torch.device) -> "Task":
        self.device = device
        for m in self.modules().values():
            m.to(device)
        return self


class SupervisedTask(Task):
    """Plain supervised restoration: ``loss(model(damaged), clean)`` with one Adam optimizer.

    Options: ``loss`` ("mse" or "l1"), ``betas`` (Adam), ``weight_decay``.
    """

    default_options = {"loss": "mse", "betas": [0.9, 0.999], "weight_decay": 0.0}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.options["loss"] not in ("mse", "l1"):
            raise DustbenchError(f"loss must be 'mse' or 'l1', got {self.options['loss']!r}")

    def build_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.model.parameters(), lr=lr, betas=tuple(self.options["betas"]),
                                          weight_decay=float(self.options["weight_decay"]))}

    def training_step(self, batch, step):
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            restored = self.net("model")(batch["damaged"])
        restored = restored.float()
        loss = (torch.nn.functional.mse_loss if self.options["loss"] == "mse"
                else torch.nn.functional.l1_loss)(restored, batch["clean"])
        loss.backward()
        opt.step()
        return {"total": float(loss.detach())}


def register_task(model_name: str) -> Callable[[type["Task"]], type["Task"]]:
    """Class decorator: ``cls`` trains the model family ``model_name``."""
    def decorator(cls: type[Task]) -> type[Task]:
        if not (isinstance(cls, type) and issubclass(cls, Task)):
            raise TypeError(f"register_task({model_name!r}): {cls!r} is not a Task subclass")
        return _TASKS.register(model_name)(cls)
    return decorator


def task_class(model_name: str) -> type[Task]:
    """The Task subclass that trains ``model_name`` (its registered task, else :class:`SupervisedTask`)."""
    get_model_factory(model_name)  # an unknown name fails here, with a did-you-mean
    return _TASKS.get(model_name) if model_name in _TASKS else SupervisedTask
