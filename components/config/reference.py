"""The configuration reference, generated from the schema, so that it cannot drift
from what the loader accepts: every key of PipelineConfig (nested sections as
dotted keys, `tuner.search_space.<name>` for a mapping of sections,
`kubeflow.volumes[]` for a list of them) with its type, default and description.

`python -m components.config.reference` prints it as Markdown, one table per
section; the docs take it from `markdown()`.
"""
from __future__ import annotations

import enum
import inspect
import types
import typing
from typing import Any, Iterator, NamedTuple, Optional

import annotated_types
import pydantic
import yaml

from components.config.pipeline import PipelineConfig

_BOUNDS = ((annotated_types.Ge, "ge", ">="), (annotated_types.Gt, "gt", ">"),
           (annotated_types.Le, "le", "<="), (annotated_types.Lt, "lt", "<"))
_REQUIRED = object()  # the default of a key that has none


class Row(NamedTuple):
  key: str
  type: str
  default: str
  description: str


def markdown() -> str:
  """The whole reference: the top-level keys, then a table per section."""
  default = PipelineConfig()
  parts = ["# Configuration reference", "",
           "Every key of the YAML file that `--config` reads (`tpctl config` prints the "
           "effective one). Unknown keys are errors. Relative paths in a config file are "
           "relative to the file. Generated from the schema by "
           "`python -m components.config.reference`.", ""]
  parts += _table(r for r in rows(PipelineConfig, "", default)
                  if "." not in r.key and r.type != "section")
  for name, info in PipelineConfig.model_fields.items():
    section = _section_of(info)
    if section is not None:
      parts += ["", f"## {name}", "", _md(_doc(section) or info.description), ""]
      parts += _table(rows(section, f"{name}.", getattr(default, name)))
  return "\n".join(parts) + "\n"


def rows(model: type[pydantic.BaseModel], prefix: str = "",
         instance: Optional[pydantic.BaseModel] = None) -> Iterator[Row]:
  """A row per key of `model` and of the sections below it, in field order.
  Defaults come from `instance` when given: a section's default may differ from
  its class's (kubeflow.training_resources asks for a GPU, resources does not)."""
  for name, info in model.model_fields.items():
    key = prefix + name
    value = _default_of(info, name, instance)
    section = _section_of(info)
    yield Row(key, _type_of(info.annotation, info.metadata), _yaml(value, info, section),
              info.description or "")
    if section is not None:
      yield from rows(section, f"{key}.",
                      value if isinstance(value, pydantic.BaseModel) else None)
    for item, suffix in ((_item_model(info.annotation, dict), ".<name>."),
                         (_item_model(info.annotation, tuple), "[].")):
      if item is not None:
        yield from rows(item, key + suffix)


def _default_of(info, name: str, instance) -> Any:
  if instance is not None:
    return getattr(instance, name)
  if info.is_required():
    return _REQUIRED
  return info.get_default(call_default_factory=True)


def _section_of(info) -> Optional[type[pydantic.BaseModel]]:
  """The model of a section field (Model or Optional[Model]), else None."""
  for candidate in (info.annotation, *_without_none(info.annotation)):
    if isinstance(candidate, type) and issubclass(candidate, pydantic.BaseModel):
      return candidate
  return None


def _item_model(annotation, container) -> Optional[type[pydantic.BaseModel]]:
  """X of dict[str, X] or tuple[X, ...] (container dict or tuple), if X is a model."""
  if typing.get_origin(annotation) is not container:
    return None
  item = typing.get_args(annotation)[-1 if container is dict else 0]
  return item if isinstance(item, type) and issubclass(item, pydantic.BaseModel) else None


def _without_none(annotation) -> tuple:
  if typing.get_origin(annotation) in (typing.Union, types.UnionType):
    return tuple(a for a in typing.get_args(annotation) if a is not type(None))
  return ()


def _type_of(annotation, metadata=()) -> str:
  """Readable: `int >= 1`, `one of: relu, tanh`, `list of str`, `optional float`."""
  inner = _without_none(annotation)
  if inner and len(inner) < len(typing.get_args(annotation)):
    return "optional " + _type_of(inner[0] if len(inner) == 1 else typing.Union[inner],
                                  metadata)
  origin, args = typing.get_origin(annotation), typing.get_args(annotation)
  if inner:
    names = [_type_of(a) for a in inner]
    return ", ".join(names[:-1]) + " or " + names[-1]
  if origin is typing.Literal:
    return "one of: " + ", ".join(str(a) for a in args)
  if origin is tuple:
    return "list of " + _type_of(args[0])
  if origin is dict:
    return f"mapping of {_type_of(args[0])} to {_type_of(args[1])}"
  if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
    return "one of: " + ", ".join(m.value for m in annotation)
  if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
    return "section"
  return getattr(annotation, "__name__", str(annotation)) + _constraints(metadata)


def _constraints(metadata) -> str:
  found = []
  for item in metadata:
    for kind, attr, symbol in _BOUNDS:
      if isinstance(item, kind):
        found.append(f"{symbol} {getattr(item, attr)}")
    if getattr(item, "pattern", None):
      found.append(f"matching `{item.pattern}`")
  return (" " + ", ".join(found)) if found else ""


def _yaml(value, info, section) -> str:
  """The default as YAML shows it; nothing for a section (its keys have theirs)."""
  if value is _REQUIRED:
    return "required"
  if section is not None and value is not None:
    return ""
  plain = pydantic.TypeAdapter(info.annotation).dump_python(value, mode="json",
                                                            exclude_none=True)
  text = yaml.safe_dump(plain, default_flow_style=True, width=10_000, sort_keys=False)
  return "`" + text.removesuffix("\n").removesuffix("\n...") + "`"


def _doc(model: type[pydantic.BaseModel]) -> str:
  doc = model.__doc__
  return " ".join(inspect.cleandoc(doc).split()) if doc else ""


def _table(table_rows) -> list[str]:
  lines = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
  for row in table_rows:
    lines.append(f"| `{row.key}` | {_md(row.type)} | {row.default.replace('|', '&#124;')} "
                 f"| {_md(row.description)} |")
  return lines


def _md(text: str) -> str:
  """Text for a Markdown table cell: one line, `|` escaped, and `<` outside code
  spans escaped (`<dir>/<span>` would otherwise be read as HTML tags)."""
  pieces = " ".join(text.split()).split("`")
  return "`".join(p if i % 2 else p.replace("<", "&lt;") for i, p in enumerate(pieces)
                  ).replace("|", "\\|")


if __name__ == "__main__":
  print(markdown(), end="")
