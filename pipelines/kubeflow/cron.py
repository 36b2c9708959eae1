"""The cron expressions KFP's recurring runs accept, checked before any request.

KFP's scheduler parses crons with github.com/robfig/cron v1: six fields, seconds
first (croniter and Kubernetes CronJobs use other layouts, hence this checker).
"""
from __future__ import annotations

from components.errors import ConfigError

# robfig/cron would also read five fields, as seconds..month: "0 3 * * *" would run
# every hour at minute 3, not at 03:00. So exactly six fields are accepted here.
CRON_LAYOUT = "second minute hour day-of-month month day-of-week"
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
           "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_CRON_FIELDS = (  # name, minimum, maximum, names for the values from the minimum on
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day-of-month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day-of-week", 0, 6, _DAYS),
)


def validate_cron(expr: str) -> str:
  """The cron as KFP expects it, single-spaced; ConfigError naming the problem."""
  fields = expr.split()
  prefix = f"--cron {expr!r}"
  if expr.strip().startswith("@"):
    raise ConfigError(f"{prefix}: descriptors like @daily are not accepted; give 6 "
                      f"fields ({CRON_LAYOUT}), e.g. '0 0 3 * * *' for 03:00 every day")
  if len(fields) == 5:
    raise ConfigError(
        f"{prefix}: expected 6 fields ({CRON_LAYOUT}), got 5; this looks like a "
        f"Kubernetes/Unix cron: prepend the seconds field: '0 {' '.join(fields)}'")
  if len(fields) != 6:
    raise ConfigError(f"{prefix}: expected 6 space-separated fields ({CRON_LAYOUT}), "
                      f"got {len(fields)}")
  for text, (name, lo, hi, names) in zip(fields, _CRON_FIELDS):
    problem = _cron_field_problem(text, name, lo, hi, names)
    if problem:
      allowed = f"{lo}-{hi}" + (f" or {names[0].upper()}-{names[-1].upper()}"
                                if names else "")
      question = ", '?'" if name in ("day-of-month", "day-of-week") else ""
      raise ConfigError(
          f"{prefix}: {name} field {text!r}: {problem}; expected values {allowed}, "
          f"'*'{question}, ranges a-b, lists a,b and steps */n or a-b/n")
  return " ".join(fields)


def _cron_field_problem(text: str, name: str, lo: int, hi: int,
                        names: tuple[str, ...]) -> str | None:
  def value(token: str) -> int:
    if token.isdigit():
      v = int(token)
    elif token.lower() in names:
      v = lo + names.index(token.lower())
    else:
      raise ValueError(f"{token!r} is not a {'value or name' if names else 'number'}")
    if not lo <= v <= hi:
      raise ValueError(f"{v} is out of range")
    return v

  for element in text.split(","):
    try:
      if not element:
        raise ValueError("empty list element")
      if element == "?":
        if name not in ("day-of-month", "day-of-week"):
          raise ValueError("'?' is only for day-of-month and day-of-week")
        continue
      base, *step = element.split("/")
      if len(step) > 1:
        raise ValueError(f"{element!r} has more than one '/'")
      if step and not (step[0].isdigit() and int(step[0]) >= 1):
        raise ValueError(f"step {step[0]!r} is not a positive number")
      if base == "*":
        continue
      first, *rest = base.split("-")
      if len(rest) > 1:
        raise ValueError(f"{base!r} has more than one '-'")
      start = value(first)
      if rest and start > value(rest[0]):
        raise ValueError(f"range {base!r} runs backwards")
    except ValueError as e:
      return str(e)
  return None
