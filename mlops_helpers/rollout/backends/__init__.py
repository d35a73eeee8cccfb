"""Where versions run. A backend starts and stops a version's servers, applies routing and
reads metrics; the engine decides what to do and when (see `Backend` in base.py)."""
