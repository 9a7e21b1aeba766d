"""Optional dependencies (the ``ee``, ``tf`` and ``onnx`` extras), imported through one helper.

Every import of earthengine-api/xee, TensorFlow/Keras and onnx/onnxruntime/onnxscript goes through
:func:`require`, so a missing extra is one line naming what to install, never a traceback.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from terralearn.errors import MissingExtraError

# extra -> what it provides (for the message) and the modules it installs
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ee": ("Earth Engine support", ("ee", "xee")),
    "tf": ("TensorFlow/Keras support", ("tensorflow", "keras")),
    "onnx": ("ONNX export", ("onnx", "onnxruntime", "onnxscript")),
}
PIP_NAMES = {"ee": "earthengine-api"}  # modules whose pip package has another name


def require(module: str, extra: str) -> ModuleType:
    """Import the optional ``module`` of ``extra``, or raise one line naming the extra.

    Args:
        module: dotted module name, e.g. ``"xee"`` or ``"onnxruntime"``.
        extra: the terralearn extra that installs it: ``"ee"``, ``"tf"`` or ``"onnx"``.

    Raises:
        MissingExtraError: the module (or a module it needs) cannot be imported.
    """
    what, modules = EXTRAS[extra]
    if module.split(".")[0] not in modules:
        raise ValueError(f"{module!r} is not part of the {extra!r} extra ({', '.join(modules)})")
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = (exc.name or module).split(".")[0]
        raise MissingExtraError(
            f"{what} needs the '{extra}' extra ({PIP_NAMES.get(missing, missing)} is not "
            f"installed); install it with "
            f"`pip install 'terralearn[{extra}]'`"
        ) from None
