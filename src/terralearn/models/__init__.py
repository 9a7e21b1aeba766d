"""Models: a registry of architectures built by name with :func:`create_model`.

Importing this package registers every shipped family (``unet``, ...).
"""

from terralearn.models import unet  # noqa: F401  (registers the U-Net variants)
from terralearn.models.registry import (
    create_model,
    list_models,
    model_info,
    receptive_field,
    register_model,
)

__all__ = ["create_model", "list_models", "model_info", "receptive_field", "register_model"]
