"""What the Kubernetes API says, as one line each: an object's conditions (the
status the launchers watch) and an API error; and the deadline every API call
gets, so that a hung connection cannot outlast the caller's timeout."""
from __future__ import annotations

import json

from kubernetes.client.exceptions import ApiException

REQUEST_TIMEOUT = 60  # seconds, on every API call


def conditions(obj: dict) -> list[dict]:
  return (obj.get("status") or {}).get("conditions") or []


def condition(obj: dict, kind: str) -> dict | None:
  """The condition of that type when it is True, else None."""
  return next((c for c in conditions(obj)
               if c.get("type") == kind and c.get("status") == "True"), None)


def last_condition(obj: dict) -> str | None:
  true = [c.get("type") for c in conditions(obj) if c.get("status") == "True"]
  return true[-1] if true else None


def why(cond: dict, template: str = "%s") -> str:
  """`reason: message` on one line ("" when the condition has neither)."""
  text = ": ".join(p for p in (cond.get("reason"), cond.get("message")) if p)
  return template % one_line(text) if text else ""


def one_line(text: str) -> str:
  return " ".join(str(text).split())


def api_error(error: Exception) -> str:
  """An API error as one line: its status and the Status object's message."""
  if not isinstance(error, ApiException):
    return one_line(str(error))
  try:
    message = json.loads(error.body or b"{}").get("message")
  except (ValueError, AttributeError):
    message = None
  return one_line(f"{error.status} {message or error.reason or ''}")

