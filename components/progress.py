"""One way for a step to speak: a progress line is "[<step>] <message>".

A step prints its progress on stdout with `speaker(step)`. Whoever runs the step
(the local runner, a TFJob or tuning-worker launcher, a Kubeflow pod's log
follower) finds the lines that are progress with `message_of`, among TensorFlow's
and Beam's log noise, and relays them with `relay`. One format, written and read
here, instead of a prefix per step parsed back by hand.
"""
from __future__ import annotations

import re
from typing import Callable, Optional

Say = Callable[[str], None]

_LINE = re.compile(r"^\[([a-z][a-z0-9_ -]*)\] (.*)$")


def line(step: str, message: str) -> str:
  return f"[{step}] {message}"


def speaker(step: str) -> Say:
  """Prints `step`'s progress, flushed at once (a launcher follows the log live)."""
  def say(message: str) -> None:
    print(line(step, message), flush=True)
  return say


def message_of(text: str, step: Optional[str] = None) -> Optional[str]:
  """The message of a progress line (of `step`, when given); None for any other line."""
  match = _LINE.match(text.rstrip("\n"))
  if not match or (step is not None and match.group(1) != step):
    return None
  return match.group(2)


def relay(step: str, say: Say, *, starting: str = "") -> Say:
  """Forwards `step`'s progress messages (those that start with `starting`) to
  `say`, without the prefix; every other line is dropped (it stays in the log file)."""
  def forward(text: str) -> None:
    message = message_of(text, step)
    if message is not None and message.startswith(starting):
      say(message)
  return forward
