"""The "paper's suggestion" baseline: a minimal Flask app serving the same joblib model.

  gunicorn -w 2 -b 127.0.0.1:PORT flask_app:app    (sync workers; BENCH_MODEL=.../model.joblib)

POST /predict {"records": [...]} -> pd.DataFrame(records) -> predict -> jsonify.
"""

import os

import joblib
import pandas as pd
from flask import Flask, jsonify, request

model = joblib.load(os.environ["BENCH_MODEL"])
app = Flask(__name__)


@app.post("/predict")
def predict():
    records = request.get_json()["records"]
    predictions = model.predict(pd.DataFrame(records))
    return jsonify({"predictions": predictions.tolist()})
