"""Launchers that create and watch Kubernetes custom resources: tfjob.py (a
distributed training job) and katib.py (a hyperparameter search) each say what
their resource is; custom_resource.py runs one to its end, pod_log.py follows the
log of the pod that reports progress, pod_templates.py builds the locked-down pods
and status.py reads conditions and API errors as one line. local_processes.py runs
the same replicas as processes on this host."""
