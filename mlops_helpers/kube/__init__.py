"""Kubernetes: the mlops-model Helm chart's values rendered from Jinja templates, and helm itself."""
