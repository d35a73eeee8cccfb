"""Kubernetes: versions as tracks of one Helm release, rollout state in ConfigMaps and Leases."""
