"""An ExampleGen's custom_config as plain values, both ways. TFX carries it as a
CustomConfig proto holding an Any; our ingest executors pack a Struct into it."""
from __future__ import annotations

from typing import Any, Dict

from google.protobuf import json_format, struct_pb2
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs


def pack(values: dict) -> example_gen_pb2.CustomConfig:
  struct = struct_pb2.Struct()
  struct.update(values)
  custom = example_gen_pb2.CustomConfig()
  custom.custom_config.Pack(struct)
  return custom


def unpack(exec_properties: Dict[str, Any]) -> dict:
  """(Struct numbers come back as floats.)"""
  custom = example_gen_pb2.CustomConfig()
  json_format.Parse(exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY], custom)
  struct = struct_pb2.Struct()
  custom.custom_config.Unpack(struct)
  return json_format.MessageToDict(struct)
