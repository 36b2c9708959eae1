"""Runs a hyperparameter search as a Katib Experiment.

A pipeline step calls `run(spec)`: it creates the Experiment, reports its
conditions and trial counts, and returns the best trial's parameters, or raises
ExperimentFailed. The Experiment (and with it its trials) is always deleted at the
end; custom_resource.run does the create/watch/delete cycle.

Each trial is a batch Job running the trial command plus `--hp NAME=VALUE` for each
searched name; it ends by printing `eval_<metric>=<value>` lines, which Katib's
StdOut metrics collector reads. No TensorFlow here.
"""
from __future__ import annotations

import dataclasses
import re
import shlex

from kubernetes import client as k8s

from components.config import SearchParameter, StepResources, Toleration, VolumeMount
from components.errors import ConfigError
from components.launchers import custom_resource as cr
from components.launchers.custom_resource import Progress
from components.launchers import pod_templates
from components.launchers.status import condition, why

GROUP, VERSION, PLURAL, KIND = "kubeflow.org", "v1beta1", "experiments", "Experiment"
CONTAINER = "training"  # the trial's primary container: the one whose stdout counts
# Our algorithm names (components.config.TunerConfig) and Katib's tpe -> Katib's.
ALGORITHMS = {"random": "random", "bayesian": "bayesianoptimization", "tpe": "tpe"}
# Katib's defaults for a batch Job, spelled out (its webhook requires both).
_SUCCESS = 'status.conditions.#(type=="Complete")#|#(status=="True")#'
_FAILURE = 'status.conditions.#(type=="Failed")#|#(status=="True")#'
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_METRIC = re.compile(r"^[\w-]+$")  # what the StdOut collector reads as a name
# Katib's hyperband varies a resource parameter (the trial's training steps), which
# a trial would have to take as --hp; job.py reads steps from the config and
# ignores unknown --hp names, so every trial would silently train the full budget.
_NO_HYPERBAND = ("algorithm 'hyperband': Katib's hyperband needs a resource parameter "
                 "(training steps) that components.trainer.job cannot take as --hp; "
                 "use random, bayesian or tpe")


class ExperimentFailed(RuntimeError):
  """The Experiment failed, timed out, found no best trial or could not be run;
  str() is one line. A run failure, not a UserError: a spec the config makes
  invalid (hyperband, a conditional parameter...) is refused as a ConfigError
  before anything is created."""


_KIND = cr.Kind(GROUP, VERSION, PLURAL, KIND, error=ExperimentFailed,
                terminal=("Succeeded", "Failed"))


@dataclasses.dataclass(frozen=True)
class ExperimentSpec:
  """What to search. `name` must be unique per step attempt (see run())."""
  name: str
  namespace: str
  image: str
  # The trial command without hyperparameters: `--hp NAME=VALUE` is appended for
  # each searched name.
  trial_command: list[str]
  search_space: dict[str, SearchParameter]
  algorithm: str = "random"  # random, bayesian or tpe
  objective: str = "loss"  # our metric name: the trial prints eval_<objective>=<v>
  direction: str = "min"  # min or max
  max_trials: int = 4
  parallel_trials: int = 1
  max_failed_trials: int = 1  # Katib fails the Experiment once this many have failed
  resources: StepResources = dataclasses.field(default_factory=StepResources)
  accelerator: str = "nvidia.com/gpu"
  volumes: tuple[VolumeMount, ...] = ()
  node_selector: dict[str, str] = dataclasses.field(default_factory=dict)  # GPU pods only
  tolerations: tuple[Toleration, ...] = ()  # GPU pods only
  service_account: str = "training-patterns"
  # apiVersion/kind/name/uid of an object in the same namespace (e.g. the step's own
  # Pod): deleting it garbage-collects the Experiment even if this process is killed.
  owner: dict[str, str] | None = None
  labels: dict[str, str] = dataclasses.field(default_factory=dict)

  def __post_init__(self):
    if self.algorithm == "hyperband":
      raise ConfigError(_NO_HYPERBAND)
    if self.algorithm not in ALGORITHMS:
      raise ConfigError(f"algorithm {self.algorithm!r}: not one of {', '.join(ALGORITHMS)}")
    _check_name(self)
    if not self.namespace:
      raise ValueError("namespace is required")
    if not self.trial_command:
      raise ValueError("trial_command is empty")
    if self.direction not in ("min", "max"):
      raise ConfigError(f"direction {self.direction!r}: not min or max")
    if not _METRIC.match(self.objective):
      raise ConfigError(f"objective {self.objective!r}: not a metric name")
    if not self.search_space:
      raise ValueError("search_space is empty")
    for name, param in self.search_space.items():
      _parameter(name, param)  # refuses what Katib cannot search
    _check_counts(self)
    pod_templates.check_volumes(self.volumes)
    pod_templates.owner_references(self.owner)

  @property
  def algorithm_name(self) -> str:
    return ALGORITHMS[self.algorithm]


def _check_name(spec: ExperimentSpec) -> None:
  # Katib names the suggestion's Deployment and Service <name>-<algorithm> and each
  # trial (a Job) <name>-<8 characters>: DNS-1035 labels of at most 63 characters.
  longest = max(f"-{spec.algorithm_name}", "-" + "x" * 8, key=len)
  if not _DNS_1035.match(spec.name) or len(spec.name + longest) > 63:
    raise ValueError(f"Experiment name {spec.name!r} must be a DNS-1035 label of at most "
                     f"{63 - len(longest)} characters")


def _check_counts(spec: ExperimentSpec) -> None:
  # Katib's admission webhook rejects these; say so before creating anything.
  if spec.max_trials < 1:
    raise ConfigError(f"max_trials {spec.max_trials}: must be >= 1")
  if not 1 <= spec.parallel_trials <= spec.max_trials:
    raise ConfigError(f"parallel_trials {spec.parallel_trials}: must be 1..max_trials "
                     f"({spec.max_trials})")
  if not 0 <= spec.max_failed_trials <= spec.max_trials:
    raise ConfigError(f"max_failed_trials {spec.max_failed_trials}: must be "
                     f"0..max_trials ({spec.max_trials})")


# --- the manifest --------------------------------------------------------------------
def build_manifest(spec: ExperimentSpec) -> dict:
  """The Experiment body, as sent to the API server."""
  metadata = {"name": spec.name, "namespace": spec.namespace,
              "labels": pod_templates.labels("tuning", spec.labels)}
  if spec.owner:
    metadata["ownerReferences"] = pod_templates.owner_references(spec.owner)
  return {
      "apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "metadata": metadata,
      "spec": {
          "objective": {
              "type": {"min": "minimize", "max": "maximize"}[spec.direction],
              "objectiveMetricName": f"eval_{spec.objective}"},
          "algorithm": {"algorithmName": spec.algorithm_name},
          "parallelTrialCount": spec.parallel_trials,
          "maxTrialCount": spec.max_trials,
          "maxFailedTrialCount": spec.max_failed_trials,
          "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
          "parameters": [_parameter(n, p) for n, p in spec.search_space.items()],
          "trialTemplate": _trial_template(spec),
      }}


def _parameter(name: str, p: SearchParameter) -> dict:
  """A Katib parameter; Katib has no conditional parameters, so `when` is refused."""
  if p.when:
    raise ConfigError(f"search_space.{name}: conditional (when {dict(p.when)}); Katib "
                     f"has no conditional parameters")
  if p.type == "choice":
    values = [str(v) for v in p.values]
    if any("'" in v for v in values):  # the trial command is single-quoted for sh
      raise ConfigError(f"search_space.{name}: a value contains a quote: {values}")
    return {"name": name, "parameterType": "categorical", "feasibleSpace": {"list": values}}
  if p.type == "int":
    space = {"min": _integer(name, p.min), "max": _integer(name, p.max)}
  else:
    space = {"min": repr(float(p.min)), "max": repr(float(p.max))}
  if p.sampling == "log":
    space["distribution"] = "logUniform"
  return {"name": name, "parameterType": "double" if p.type == "float" else "int",
          "feasibleSpace": space}


def _integer(name: str, value: float) -> str:
  if not float(value).is_integer():
    raise ConfigError(f"search_space.{name}: int bound {value} is not a whole number")
  return str(int(value))


def _trial_template(spec: ExperimentSpec) -> dict:
  return {
      "primaryContainerName": CONTAINER,
      "successCondition": _SUCCESS,
      "failureCondition": _FAILURE,
      # Named as the parameters they reference: --hp name=${trialParameters.name}.
      "trialParameters": [{"name": n, "reference": n, "description": _describe(n, p)}
                          for n, p in spec.search_space.items()],
      "trialSpec": {
          "apiVersion": "batch/v1", "kind": "Job",
          # One retry for a lost pod; a trial that fails twice counts as failed.
          "spec": {"backoffLimit": 1, "template": _trial_pod(spec)}},
  }


def trial_script(spec: ExperimentSpec) -> str:
  """The trial's shell command line. Katib's StdOut collector joins the container's
  command with spaces into `sh -c` unquoted, which would split a --config-json
  argument; quoted here, and already `sh -c`, it is kept as one argument."""
  hps = [arg for n in spec.search_space for arg in ("--hp", f"{n}=${{trialParameters.{n}}}")]
  return shlex.join([*spec.trial_command, *hps])


def _trial_pod(spec: ExperimentSpec) -> dict:
  gpus = spec.resources.gpus
  container = pod_templates.container(
      CONTAINER, spec.image, ["sh", "-c", trial_script(spec)], resources=spec.resources,
      gpus=gpus, accelerator=spec.accelerator, volumes=spec.volumes)
  pod = pod_templates.pod_spec(container, service_account=spec.service_account,
                    volumes=spec.volumes, gpus=gpus, node_selector=spec.node_selector,
                    tolerations=spec.tolerations)
  pod["restartPolicy"] = "Never"  # the Job retries, so that Katib sees each attempt
  return pod_templates.pod_template(pod_templates.labels("tuning-trial", spec.labels), pod)


def _describe(name: str, p: SearchParameter) -> str:
  if p.type == "choice":
    return f"{name}: one of {', '.join(map(str, p.values))}"
  return f"{name}: {p.type} in [{p.min:g}, {p.max:g}]" + (", log" if p.sampling == "log" else "")


# --- running -------------------------------------------------------------------------
def run(spec: ExperimentSpec, api_client: k8s.ApiClient | None = None,
        progress: Progress = print, poll_seconds: float = 2.0,
        timeout_seconds: float | None = None) -> dict:
  """Runs the search to its end; returns the best trial as
  {"trial": name, "parameters": {name: value}, "observation": {metric: value}}
  (values are Katib's strings).

  Raises ExperimentFailed when it fails, ends without a best trial or outlasts
  timeout_seconds. The Experiment is deleted however this ends. One of the same
  name that already exists is left from an earlier attempt (a retry): it is
  replaced, since its outcome is not this attempt's.
  """
  experiment = cr.run(_KIND, build_manifest(spec), api_client, progress, poll_seconds,
                      timeout_seconds, detail=_shape(spec), summary=_summary)
  return _best(experiment, f"{KIND} {spec.namespace}/{spec.name}")


def _best(experiment: dict, where: str) -> dict:
  failed = condition(experiment, "Failed")
  if failed:
    raise ExperimentFailed(f"{where} failed: {why(failed) or 'Failed'} "
                           f"({_counts(experiment)})")
  optimal = (experiment.get("status") or {}).get("currentOptimalTrial") or {}
  assignments = optimal.get("parameterAssignments") or []
  if not assignments:
    raise ExperimentFailed(f"{where} succeeded without an optimal trial "
                           f"({_counts(experiment)})")
  metrics = (optimal.get("observation") or {}).get("metrics") or []
  return {"trial": optimal.get("bestTrialName", ""),
          "parameters": {a["name"]: a["value"] for a in assignments},
          "observation": {m["name"]: m.get("latest") for m in metrics}}


def _counts(experiment: dict) -> str:
  status = experiment.get("status") or {}
  return ", ".join(f"{status.get(f'trials{k.capitalize()}', 0)} {k}"
                   for k in ("succeeded", "failed", "running"))


def _summary(experiment: dict) -> str | None:
  """Trial counts and the best so far; None until there is a trial."""
  status = experiment.get("status") or {}
  optimal = status.get("currentOptimalTrial") or {}
  metrics = (optimal.get("observation") or {}).get("metrics") or []
  if not status.get("trials") and not any(
      status.get(f"trials{k}") for k in ("Succeeded", "Failed", "Running")):
    return None
  best = ", ".join(f"{m['name']}={m.get('latest')}" for m in metrics)
  return f"trials: {_counts(experiment)}" + (
      f"; best {optimal.get('bestTrialName')}: {best}" if best else "")


def _shape(spec: ExperimentSpec) -> str:
  parts = [spec.algorithm_name, f"{spec.max_trials} trial(s), {spec.parallel_trials} at once",
           f"{spec.direction} eval_{spec.objective}"]
  if spec.resources.gpus:
    parts.append(f"{spec.resources.gpus} {spec.accelerator} each")
  return ", ".join(parts)
