"""Kubernetes: the mlops-model Helm chart's values rendered from Jinja templates (values.py), and helm itself (helm.py)."""
