"""Models: a registry of architectures built by name with :func:`create_model`.

Importing this package registers every shipped family (``unet``, ``vit``, ...).
"""

from terralearn.models import (  # noqa: F401  (register the GNN and U-Net variants)
    gnn,
    unet,
    vit,  # noqa: F401  (registers the ViT variants)
)
from terralearn.models.device import DevicePlan, device_plan, resolve_device
from terralearn.models.registry import (
    create_model,
    is_graph_model,
    list_models,
    model_info,
    receptive_field,
    register_model,
    require_kind,
)

__all__ = [
    "DevicePlan",
    "create_model",
    "device_plan",
    "is_graph_model",
    "list_models",
    "model_info",
    "receptive_field",
    "register_model",
    "require_kind",
    "resolve_device",
]
