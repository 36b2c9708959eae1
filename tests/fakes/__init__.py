"""Stand-ins for the servers and operators the tests cannot have here: the
Kubernetes API server (k8s_api.py), the Kubeflow Training Operator that runs a
TFJob's replicas as local processes (tfjob_operator.py) and the Kubeflow Pipelines
REST API (kfp_server.py), on one local HTTP server that records every request
(http_server.py). Kept apart from the tests, so that a reader tells at a
glance what is being tested from what only stands in for a cluster."""
