"""The local traffic router: a separate process (`python -m mlops_helpers.router`) in front of the
local backend's model servers. It imports nothing from mlops_helpers.rollout; the local backend
starts it and talks to its admin port.

proxy.py (routing, forwarding, mirror, feedback, the admin port, the process), http.py (the
HTTP/1.1 server side), upstream.py (the keep-alive client side), table.py (the route table and
its file), metrics.py (the Prometheus exposition).
"""
