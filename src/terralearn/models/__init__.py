"""Models: a registry of architectures built by name with :func:`create_model`.

Importing this package registers every shipped family (``unet``, ...).
"""

from terralearn.models.registry import (
    create_model,
    list_models,
    model_info,
    receptive_field,
    register_model,
)

# import the families for their registration side effect (after the registry exists)
from terralearn.models import unet  # noqa: E402, F401, I001

__all__ = ["create_model", "list_models", "model_info", "receptive_field", "register_model"]
