"""The embedded default: model servers as local processes behind the mlops router."""
