"""A stand-in for the Kubeflow Pipelines API server (REST, /apis/v2beta1) that
records every request `kfp.Client` makes and answers with minimal valid JSON.

It keeps experiments, runs and recurring runs in memory, so that lookups see what
earlier calls created. Only the endpoints and filters tpctl uses are implemented;
anything else is answered 404 (or 400 for an unknown filter), so a new kind of
request fails a test instead of passing unnoticed.
"""
from __future__ import annotations

import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler

from tests.fakes.http_server import LocalServer, Request, read_request, respond

API = "/apis/v2beta1"
CREATED_AT = "2026-01-01T00:00:00Z"


class _HttpError(Exception):
  def __init__(self, status: int, message: str):
    super().__init__(message)
    self.status = status


class FakeKfp(LocalServer):
  """with FakeKfp() as kfp: ... kfp.url, kfp.requests, kfp.experiments, ..."""

  def __init__(self):
    super().__init__()
    self.experiments: dict[str, dict] = {}
    self.runs: dict[str, dict] = {}
    self.recurring_runs: dict[str, dict] = {}
    # (method, path) -> (HTTP status, message): answer that request with an error.
    self.failures: dict[tuple[str, str], tuple[int, str]] = {}
    # Answer list requests as if there were no filter (a server that ignores it).
    self.ignore_filters = False
    self._ids = itertools.count(1)
    self._lock = threading.Lock()

  # --- state set up by tests ---------------------------------------------------------
  def add_experiment(self, name: str, namespace: str = "") -> str:
    experiment_id = f"exp-{next(self._ids)}"
    self.experiments[experiment_id] = {
        "experiment_id": experiment_id, "display_name": name, "namespace": namespace,
        "created_at": CREATED_AT, "storage_state": "AVAILABLE"}
    return experiment_id

  def add_recurring_run(self, name: str, experiment_id: str) -> str:
    rr_id = f"rr-{next(self._ids)}"
    self.recurring_runs[rr_id] = {
        "recurring_run_id": rr_id, "display_name": name, "experiment_id": experiment_id,
        "mode": "ENABLE", "status": "ENABLED", "max_concurrency": "1",
        "trigger": {"cron_schedule": {"cron": "0 0 1 * * *"}}, "created_at": CREATED_AT}
    return rr_id

  # --- serving -------------------------------------------------------------------------
  def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
    request = read_request(handler, method)
    with self._lock:
      self.requests.append(request)
      try:
        if (method, request.path) in self.failures:
          raise _HttpError(*self.failures[(method, request.path)])
        status, answer = 200, self._answer(request)
      except _HttpError as e:
        # grpc-gateway's error body, as the real API server sends it.
        status, answer = e.status, {"error": str(e), "code": 3 if e.status == 400 else 5,
                                    "message": str(e), "details": []}
    respond(handler, status, answer)

  def _answer(self, r: Request) -> dict:
    m, p = r.method, r.path
    if (m, p) == ("GET", f"{API}/healthz"):
      return {"multi_user": False, "pipeline_store": "database"}
    if (m, p) == ("GET", f"{API}/experiments"):
      name = None if self.ignore_filters else _filtered_name(r.query)
      namespace = r.query.get("namespace", "")
      found = [e for e in self.experiments.values()
               if (name is None or e["display_name"] == name)
               and (not namespace or e["namespace"] == namespace)]
      # Like the real server (protojson), empty fields are left out.
      return {"experiments": found, "total_size": len(found)} if found else {}
    if (m, p) == ("POST", f"{API}/experiments"):
      experiment_id = self.add_experiment(r.body["display_name"],
                                          r.body.get("namespace") or "")
      return self.experiments[experiment_id]
    if (m, p) == ("POST", f"{API}/runs"):
      run_id = f"run-{next(self._ids)}"
      self.runs[run_id] = {**r.body, "run_id": run_id, "state": "PENDING",
                           "created_at": CREATED_AT}
      return self.runs[run_id]
    if (m, p) == ("GET", f"{API}/recurringruns"):
      return self._list_recurring_runs(r.query)
    if (m, p) == ("POST", f"{API}/recurringruns"):
      rr_id = f"rr-{next(self._ids)}"
      self.recurring_runs[rr_id] = {**r.body, "recurring_run_id": rr_id,
                                    "status": "ENABLED", "created_at": CREATED_AT}
      return self.recurring_runs[rr_id]
    if m == "DELETE" and p.startswith(f"{API}/recurringruns/"):
      rr_id = p.rsplit("/", 1)[1]
      if self.recurring_runs.pop(rr_id, None) is None:
        raise _HttpError(404, f"recurring run {rr_id} not found")
      return {}
    raise _HttpError(404, f"no route for {m} {p}")

  def _list_recurring_runs(self, query: dict[str, str]) -> dict:
    name = None if self.ignore_filters else _filtered_name(query)
    found = [rr for rr in self.recurring_runs.values()
             if (name is None or rr["display_name"] == name)
             and rr["experiment_id"] == query.get("experiment_id", rr["experiment_id"])]
    size = int(query.get("page_size") or 0) or len(found) or 1
    start = int(query.get("page_token") or 0)
    page = found[start:start + size]
    answer: dict = {"total_size": len(found)}
    if page:
      answer["recurringRuns"] = page  # grpc-gateway's JSON name for this field
    if start + size < len(found):
      answer["next_page_token"] = str(start + size)
    return answer


def _filtered_name(query: dict[str, str]) -> str | None:
  """The display name an `EQUALS display_name` filter asks for (None: no filter)."""
  if not query.get("filter"):
    return None
  predicates = json.loads(query["filter"]).get("predicates", [])
  if (len(predicates) != 1 or predicates[0].get("key") != "display_name"
      or predicates[0].get("operation") not in ("EQUALS", 1)):
    raise _HttpError(400, f"filter not supported by the fake server: {query['filter']}")
  return predicates[0]["stringValue"]
