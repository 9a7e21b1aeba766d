"""Model registry: every architecture is built by name through :func:`create_model`.

A model family lives in one module (``unet.py``, later ``vit.py``, ...) and registers its
variants with :func:`register_model`, timm style. A variant is a function
``fn(in_channels, num_classes, **options) -> nn.Module`` whose keyword defaults are the
variant's configuration; ``create_model`` checks the options a user passes against that
signature so a typo in a config file fails with a one-line :class:`ConfigError`.

Example:
    >>> from terralearn.models import create_model
    >>> model = create_model("unet_small", in_channels=4, num_classes=3, norm="group")
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from torch import nn

from terralearn.errors import ConfigError

ModelFn = TypeVar("ModelFn", bound=Callable[..., nn.Module])

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}
_FAMILY: dict[str, str] = {}  # name -> family given at registration ("graph", ...)
# positional arguments every variant takes; the rest are options
_REQUIRED = ("in_channels", "num_classes")


def register_model(fn: ModelFn | None = None, *, family: str | None = None):
    """Register a model variant under its function name.

    Use as ``@register_model`` or ``@register_model(family="graph")``.

    Args:
        fn: builder ``fn(in_channels, num_classes, **options)``; options need defaults.
        family: the family reported by :func:`model_info` (default: the defining module's
            name). Commands use it to refuse models of the wrong kind (graph vs raster).

    Returns:
        ``fn`` unchanged, so this works as a decorator.

    Raises:
        ValueError: if the name is taken or the signature lacks ``in_channels``/``num_classes``
            (programming errors, not user mistakes).
    """
    if fn is None:
        return lambda f: register_model(f, family=family)
    name = fn.__name__
    if name in _REGISTRY:
        raise ValueError(f"model {name!r} is already registered (by {_REGISTRY[name].__module__})")
    params = inspect.signature(fn).parameters
    missing = [p for p in _REQUIRED if p not in params]
    if missing:
        raise ValueError(f"model builder {name!r} lacks the argument(s) {', '.join(missing)}")
    _REGISTRY[name] = fn
    _FAMILY[name] = family or fn.__module__.rsplit(".", 1)[-1]
    return fn


def list_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)


def _get(name: str) -> Callable[..., nn.Module]:
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}; known models: {', '.join(list_models())}"
        ) from None


def _options(fn: Callable[..., nn.Module]) -> dict[str, Any]:
    """Keyword options of a builder with their defaults (``in_channels``/``num_classes`` excluded)."""
    return {
        p.name: p.default
        for p in inspect.signature(fn).parameters.values()
        if p.name not in _REQUIRED and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def create_model(name: str, in_channels: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a registered model.

    Args:
        name: registered variant, see :func:`list_models`.
        in_channels: number of input bands (>= 1).
        num_classes: 1 for binary segmentation (one logit channel), >= 2 for multi-class.
        **kwargs: options of the variant (see :func:`model_info`), overriding its defaults.

    Returns:
        The model; it maps ``(B, in_channels, H, W)`` to logits ``(B, num_classes, H, W)``.

    Raises:
        ConfigError: unknown name, unknown option, or an invalid value.
    """
    fn = _get(name)
    options = _options(fn)
    unknown = sorted(set(kwargs) - set(options))
    if unknown:
        raise ConfigError(
            f"model {name!r} has no option {unknown[0]!r}; "
            f"valid options: {', '.join(options) or '(none)'}"
        )
    for arg, value in (("in_channels", in_channels), ("num_classes", num_classes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"model {name!r}: {arg} must be a positive integer, got {value!r}")
    return fn(in_channels=in_channels, num_classes=num_classes, **kwargs)


def model_info(name: str) -> dict[str, Any]:
    """Describe a registered model.

    Returns:
        ``{"name", "family", "defaults", "description"}``: the family is the defining module's
        name (``"unet"``), ``defaults`` the variant's options, ``description`` the first line
        of its docstring.
    """
    fn = _get(name)
    doc = inspect.getdoc(fn) or ""
    return {
        "name": name,
        "family": _FAMILY[name],
        "defaults": _options(fn),
        "description": doc.splitlines()[0] if doc else "",
    }


def is_graph_model(name: str) -> bool:
    """Whether model ``name`` is a graph neural network (family ``"graph"``)."""
    return _FAMILY[_get(name).__name__] == "graph"


def require_kind(name: str, kind: Literal["graph", "raster"], command: str) -> None:
    """Raise unless model ``name`` is of ``kind`` (e.g. a GNN given to a raster command).

    Raises:
        ConfigError: naming the models that fit and the command for the model given.
    """
    graph = is_graph_model(name)
    if graph == (kind == "graph"):
        return
    fitting = [m for m in list_models() if is_graph_model(m) == (kind == "graph")]
    other = "terralearn graph train" if graph else "terralearn train"
    raise ConfigError(
        f"model {name!r} is a {'graph' if graph else 'raster'} model but {command} needs a "
        f"{kind} model ({', '.join(fitting)}); use {other} for {name!r}"
    )


def receptive_field(model: nn.Module) -> int:
    """Receptive field of a model in input pixels (side of the square window one output sees).

    Tiled prediction needs an overlap of at least this many pixels for seamless results.

    Raises:
        ConfigError: if the model does not declare a ``receptive_field`` attribute.
    """
    value = getattr(model, "receptive_field", None)
    if not isinstance(value, int):
        raise ConfigError(
            f"model {type(model).__name__} does not declare a receptive_field; "
            "give the tile overlap explicitly"
        )
    return value
