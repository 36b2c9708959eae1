"""The Pusher step: a blessed candidate into the model registry (registry/store.py)."""
