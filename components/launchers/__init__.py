"""Launchers that create and watch Kubernetes custom resources."""
