"""The model server: one model version as a REST/JSON microservice (see app.py)."""
