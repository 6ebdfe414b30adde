"""ringfence: graph-based detection of synthetic-identity fraud rings.

The root package stays small and cheap to import; heavy dependencies
(torch, torch_geometric, neo4j) are imported by the modules that use them.
"""

from ringfence.errors import (
    ConfigError,
    InputError,
    RingfenceError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "InputError",
    "RingfenceError",
    "StoreError",
    "__version__",
]
