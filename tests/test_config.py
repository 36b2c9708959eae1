"""The config file: strict keys, one-line errors, paths relative to the file."""
from __future__ import annotations

import re
import typing

import pydantic
import pytest

from components.blessing import policy
from components.config import ConfigError, PipelineConfig, TaskType, load_config, reference
from tests.conftest import REPO

# Every config shipped in pipelines/configs, a new one included without a change here.
SHIPPED = sorted(p.name for p in (REPO / "pipelines" / "configs").glob("*.yaml"))


def _write(tmp_path, text):
  path = tmp_path / "config.yaml"
  path.write_text(text)
  return path


def test_defaults_describe_the_embedded_taxi_task():
  config = load_config()
  assert config.task.type == TaskType.BINARY
  assert config.task.label == "big_tipper"
  assert config.data.dir is None
  assert policy.threshold(config) == (0.6, None)
  assert config.trainer.train_steps // config.trainer.num_checkpoints > 0


def test_unknown_nested_key_is_named(tmp_path):
  path = _write(tmp_path, "trainer:\n  trian_steps: 5\n")
  with pytest.raises(ConfigError) as e:
    load_config(path)
  assert str(e.value) == f"{path}: unknown key 'trainer.trian_steps'"


def test_a_renamed_key_says_where_it_went(tmp_path):
  path = _write(tmp_path, "beam_workers: 2\n")
  with pytest.raises(ConfigError, match=r"config.yaml: beam_workers is now beam.workers"):
    load_config(path)


def test_a_step_view_cannot_come_from_a_config_file(tmp_path):
  with pytest.raises(ConfigError, match="step_view is set by the pipeline"):
    load_config(_write(tmp_path, "step_view: trainer\n"))
  # ... but a null one (what `tpctl config` printed before it left the key out) reads.
  assert load_config(_write(tmp_path, "step_view: null\n")).step_view is None


def test_wrong_type_names_key_and_problem(tmp_path):
  path = _write(tmp_path, "trainer:\n  train_steps: many\n")
  with pytest.raises(ConfigError, match=r"trainer\.train_steps: .*integer"):
    load_config(path)


def test_invalid_yaml_gives_the_line(tmp_path):
  path = _write(tmp_path, "trainer:\n  train_steps: 5\n bad: [\n")
  with pytest.raises(ConfigError, match=r"config\.yaml:\d+: invalid YAML"):
    load_config(path)


def test_missing_config_file(tmp_path):
  with pytest.raises(ConfigError, match="nope.yaml: cannot read config"):
    load_config(tmp_path / "nope.yaml")


def test_paths_are_relative_to_the_config_file(tmp_path):
  (tmp_path / "sub").mkdir()
  path = _write(tmp_path / "sub", "run_dir: out\ndata:\n  dir: ../csv\n")
  config = load_config(path)
  assert config.run_dir == str(tmp_path / "sub" / "out")
  assert config.data.dir == str(tmp_path / "csv")


def test_regression_needs_an_explicit_blessing_threshold(tmp_path):
  path = _write(tmp_path, "task:\n  type: regression\n  label: y\n")
  with pytest.raises(ConfigError, match="evaluator.lower_bound or evaluator.upper_bound"):
    load_config(path)
  path = _write(tmp_path, "task:\n  type: regression\n  label: y\n"
                "evaluator:\n  upper_bound: 4.0\n")
  assert policy.threshold(load_config(path)) == (None, 4.0)


def test_label_cannot_also_be_a_feature(tmp_path):
  path = _write(tmp_path, "task:\n  label: fare\n")
  with pytest.raises(ConfigError, match="label 'fare' is also listed as a feature"):
    load_config(path)


def test_more_checkpoints_than_steps_is_rejected(tmp_path):
  path = _write(tmp_path, "trainer:\n  train_steps: 5\n  num_checkpoints: 10\n")
  with pytest.raises(ConfigError, match="num_checkpoints"):
    load_config(path)


def test_config_survives_the_json_round_trip_used_by_components():
  config = load_config(overrides={"trainer.train_steps": 77})
  assert PipelineConfig.from_json(config.to_json()) == config


def test_training_fingerprint_changes_with_training_settings_only():
  base = load_config()
  assert base.training_fingerprint() == load_config(
      overrides={"evaluator.lower_bound": 0.7}).training_fingerprint()
  assert base.training_fingerprint() != load_config(
      overrides={"trainer.train_steps": 10}).training_fingerprint()


def test_hyperparameters_file_feeds_the_trainer_when_the_tuner_is_off(tmp_path):
  (tmp_path / "hp.json").write_text('{"learning_rate": 0.02, "hidden_units": [16]}')
  path = _write(tmp_path, "tuner:\n  enabled: false\n  hyperparameters_file: hp.json\n")
  hp = load_config(path).trainer.hyperparameters
  assert hp.learning_rate == 0.02 and hp.hidden_units == (16,)


def test_a_tuner_best_hyperparameters_file_is_accepted(tmp_path):
  (tmp_path / "best.txt").write_text(
      '{"space": [], "values": {"learning_rate": 0.01, "units": 64, "num_layers": 2}}')
  path = _write(tmp_path, "tuner:\n  enabled: false\n  hyperparameters_file: best.txt\n")
  hp = load_config(path).trainer.hyperparameters
  assert hp.learning_rate == 0.01 and hp.hidden_units == (64, 32)


def test_bad_hyperparameters_file_names_the_key(tmp_path):
  (tmp_path / "hp.json").write_text('{"learnin_rate": 0.02}')
  path = _write(tmp_path, "tuner:\n  enabled: false\n  hyperparameters_file: hp.json\n")
  with pytest.raises(ConfigError, match=r"hp.json: unknown key 'learnin_rate'"):
    load_config(path)


@pytest.mark.parametrize("override, same", [
    ({"trainer.keep_checkpoints": 3}, True),
    ({"trainer.early_stopping.enabled": True}, True),
    ({"trainer.eval_examples": 100}, True),
    ({"trainer.strategy": "mirrored"}, True),
    ({"data.min_split_rows": 10}, True),
    ({"trainer.num_checkpoints": 5}, False),
    ({"trainer.lr_schedule": "cosine"}, False),
    ({"trainer.seed": 7}, False),
    ({"trainer.hyperparameters.dropout": 0.1}, False),
    ({"task.positive_class": "0"}, False),
    ({"features.numeric": ["fare"]}, False),
    ({"transform.vocab_size": 50}, False),
])
def test_the_checkpoint_key_follows_what_changes_the_trajectory(override, same):
  """A rerun resumes only if nothing that changes the training trajectory changed."""
  base = load_config().training_fingerprint()
  changed = load_config(overrides=override).training_fingerprint()
  assert (changed == base) == same
  assert len(base) == 12 and int(base, 16) >= 0


def test_every_path_in_a_config_file_is_relative_to_it(tmp_path):
  (tmp_path / "conf").mkdir()
  (tmp_path / "schema.pbtxt").write_text("")
  (tmp_path / "hp.json").write_text('{"learning_rate": 0.5}')
  path = _write(tmp_path / "conf", "run_dir: r\nserving_dir: s\ncheckpoint_dir: c\n"
                "data:\n  dir: ../d\n  schema_file: ../schema.pbtxt\n"
                "tuner:\n  enabled: false\n  hyperparameters_file: ../hp.json\n")
  config = load_config(path)
  conf = tmp_path / "conf"
  assert (config.run_dir, config.serving_dir, config.checkpoint_dir) == (
      str(conf / "r"), str(conf / "s"), str(conf / "c"))
  assert config.data.dir == str(tmp_path / "d")
  assert config.data.schema_file == str(tmp_path / "schema.pbtxt")
  assert config.trainer.hyperparameters.learning_rate == 0.5
  # Without a file, relative paths stay as given (the CLI makes --run-dir absolute).
  assert load_config(overrides={"run_dir": "x"}).run_dir == "x"


def test_dotted_overrides_reach_nested_keys_and_beat_the_file(tmp_path):
  path = _write(tmp_path, "trainer:\n  train_steps: 40\n  num_checkpoints: 4\n")
  config = load_config(path, {"trainer.train_steps": 80,
                              "trainer.hyperparameters.learning_rate": 0.1})
  assert config.trainer.train_steps == 80 and config.trainer.num_checkpoints == 4
  assert config.trainer.hyperparameters.learning_rate == 0.1


@pytest.mark.parametrize("text, message", [
    ("- a\n- b\n", "expected a mapping of keys at the top level"),
    ("trainer:\n  train_steps: 0\n", "trainer.train_steps: Input should be greater than"),
    ("features:\n  numeric: [a, a]\n", "feature listed twice: 'a'"),
    ("features:\n  numeric: []\n  categorical: []\n  coordinates: []\n",
     "no features configured"),
])
def test_config_errors_are_one_line_naming_the_file(tmp_path, text, message):
  path = _write(tmp_path, text)
  with pytest.raises(ConfigError) as e:
    load_config(path)
  assert str(e.value).startswith(f"{path}: ") and message in str(e.value)
  assert "\n" not in str(e.value)


def test_a_hyperparameters_file_is_ignored_while_the_tuner_runs(tmp_path):
  (tmp_path / "hp.json").write_text('{"learning_rate": 0.5}')
  path = _write(tmp_path, "tuner:\n  hyperparameters_file: hp.json\n")
  assert load_config(path).trainer.hyperparameters.learning_rate == 0.003


@pytest.mark.parametrize("content, message", [
    (None, "hp.json: cannot read hyperparameters file"),
    ("{\n  not json", "hp.json:2: invalid JSON"),
])
def test_unreadable_hyperparameters_file(tmp_path, content, message):
  if content is not None:
    (tmp_path / "hp.json").write_text(content)
  path = _write(tmp_path, "tuner:\n  enabled: false\n  hyperparameters_file: hp.json\n")
  with pytest.raises(ConfigError, match=message):
    load_config(path)


@pytest.mark.parametrize("shipped", [None, *SHIPPED])
def test_tpctl_config_output_reads_back_as_the_same_config(tmp_path, shipped):
  """`tpctl config > my.yaml`, then `--config my.yaml`: the same configuration,
  printed the same, wherever my.yaml is kept."""
  import os
  import subprocess
  import sys
  cli = [sys.executable, "-m", "pipelines.cli", "config"]
  source = ["--config", str(REPO / "pipelines" / "configs" / shipped)] if shipped else []
  printed = subprocess.run(cli + source, cwd=tmp_path, capture_output=True, text=True,
                           check=True).stdout
  (tmp_path / "elsewhere").mkdir()
  mine = tmp_path / "elsewhere" / "my.yaml"
  mine.write_text(printed)
  again = subprocess.run(cli + ["--config", str(mine)], cwd=REPO, capture_output=True,
                         text=True)
  assert again.returncode == 0, again.stderr
  assert again.stdout == printed
  original = load_config(source[1] if shipped else None)
  if not os.path.isabs(original.run_dir):  # the default: relative to where it ran
    original = original.model_copy(update={"run_dir": str(tmp_path / original.run_dir)})
  assert load_config(mine) == original


def _models_under(model, seen=None):
  """Every config model reachable from `model`: its sections, and the models in
  its mappings and lists (a search space's parameters, a toleration)."""
  seen = seen if seen is not None else []
  if model not in seen:
    seen.append(model)
    for info in model.model_fields.values():
      pending = [info.annotation]
      while pending:
        annotation = pending.pop()
        pending += typing.get_args(annotation)
        if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
          _models_under(annotation, seen)
  return seen


def test_every_key_of_the_config_has_a_description():
  models = _models_under(PipelineConfig)
  assert len(models) > 20  # the walk reaches the nested sections and their items
  undescribed = [f"{m.__name__}.{name}" for m in models
                 for name, info in m.model_fields.items()
                 if not (info.description or "").strip()]
  assert not undescribed, f"fields without a description: {undescribed}"


def _printed_keys(value, is_scalar_mapping, prefix=""):
  """Dotted keys of a dumped config, as `tpctl config` prints it: list items as [],
  and a mapping of plain values (a node selector) as one key, its keys being data."""
  if isinstance(value, dict) and not (prefix and is_scalar_mapping(prefix)):
    for key, inner in value.items():
      yield from _printed_keys(inner, is_scalar_mapping, f"{prefix}.{key}" if prefix else key)
  elif isinstance(value, list) and value and isinstance(value[0], dict):
    for item in value:
      yield from _printed_keys(item, is_scalar_mapping, prefix + "[]")
  else:
    yield prefix


@pytest.mark.parametrize("shipped", [None, *SHIPPED])
def test_the_reference_documents_every_key_tpctl_config_prints(shipped):
  documented = {re.compile(re.escape(key).replace("<name>", "[^.]+")): kind for key, kind in
                re.findall(r"^\| `([^`]+)` \| ([^|]+) \|", reference.markdown(), re.M)}
  def documented_as(key):
    return next((kind for p, kind in documented.items() if p.fullmatch(key)), None)
  def is_scalar_mapping(key):
    kind = documented_as(key) or ""
    return kind.startswith("mapping of") and not kind.endswith("section")
  config = load_config(REPO / "pipelines" / "configs" / shipped if shipped else None)
  printed = config.model_dump(mode="json", exclude={"step_view"})  # as pipelines/cli prints it
  keys = list(_printed_keys(printed, is_scalar_mapping))
  assert "trainer.early_stopping.patience" in keys
  missing = [k for k in keys if documented_as(k) is None]
  assert not missing, f"keys missing from the reference: {missing}"


def test_the_reference_reads_types_and_defaults_as_a_user_writes_them():
  text = reference.markdown()
  row = {m.group(1): m.group(0) for m in re.finditer(r"^\| `([^`]+)` \|.*$", text, re.M)}
  assert "| int >= 1 | `3` |" in row["trainer.early_stopping.patience"]
  assert "| one of: relu, tanh, silu, gelu | `relu` |" in row["trainer.hyperparameters.activation"]
  assert "| list of str |" in row["features.numeric"]
  assert "| optional float |" in row["evaluator.lower_bound"]
  assert "`'4'`" in row["kubeflow.training_resources.cpu"]  # the section's own default
  assert "| float > 0 | required |" in row["data.simulator.axes.<name>.step"]
  assert "| list of section |" in row["kubeflow.volumes"]
  assert "## trainer" in text


def test_python_m_prints_the_reference():
  import subprocess
  import sys
  from tests.conftest import REPO
  printed = subprocess.run([sys.executable, "-m", "components.config.reference"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout
  assert printed == reference.markdown()
