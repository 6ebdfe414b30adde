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

import warnings

# torch_geometric still calls torch.jit.script at import time; the warning
# it triggers says nothing a ringfence user can act on.
warnings.filterwarnings(
    "ignore", message=r".*torch\.jit\.script.*", category=FutureWarning
)

from .artifact import GnnArtifact, load_model, save_model, score_accounts  # noqa: E402
from .features import FEATURE_VERSION, FeatureSchema, build_hetero  # noqa: E402
from .model import RingSage  # noqa: E402
from .train import TrainResult, train_gnn  # noqa: E402

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
