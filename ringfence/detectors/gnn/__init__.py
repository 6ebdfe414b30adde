"""Graph neural network fraud detector (heterogeneous GraphSAGE).

Importing this package imports torch and torch_geometric; the rest of
ringfence never does so at import time.

Examples:
    Train, save, and later score a grown graph without retraining::

        result = train_gnn(snapshot, seed=0, split="time")
        save_model(result.artifact, "models/gnn")
        model = load_model("models/gnn", snapshot=new_snapshot)
        scores = score_accounts(model, new_snapshot)
"""

from .artifact import GnnArtifact, load_model, save_model, score_accounts
from .features import FEATURE_VERSION, FeatureSchema, build_hetero
from .model import RingSage
from .train import TrainResult, train_gnn

__all__ = [
    "FEATURE_VERSION",
    "FeatureSchema",
    "GnnArtifact",
    "RingSage",
    "TrainResult",
    "build_hetero",
    "load_model",
    "save_model",
    "score_accounts",
    "train_gnn",
]
