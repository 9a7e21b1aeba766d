"""Batch norm folded into the convolution before it, for inference.

In eval mode a ``BatchNorm2d`` is a fixed affine map per channel, so after a ``Conv2d`` it can be
folded into the convolution's weights and bias (``torch.nn.utils.fusion.fuse_conv_bn_eval``):
one pass over the activations instead of two, and one full-size tensor less alive at a time.
Measured on a 2-core Xeon for ``unet_small`` on 768-1536 px tiles: see ``benchmarks/README.md``
("Prediction near the one-pass limit"). Outputs move in the last float bits, like any change of
summation order.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


def fold_batch_norms(module: nn.Module) -> int:
    """Fold, in place, every ``BatchNorm2d`` that directly follows a ``Conv2d`` in an
    ``nn.Sequential`` (a U-Net's conv blocks) into that convolution; the norm becomes
    ``nn.Identity``. Call on a module in eval mode that is not trained further.

    Returns:
        How many norms were folded.
    """
    folded = 0
    for parent in module.modules():
        if not isinstance(parent, nn.Sequential):
            continue
        names = list(parent._modules)
        for first, second in zip(names, names[1:], strict=False):
            conv, norm = parent._modules[first], parent._modules[second]
            if (
                isinstance(conv, nn.Conv2d)
                and isinstance(norm, nn.BatchNorm2d)
                and norm.track_running_stats
                and conv.out_channels == norm.num_features
            ):
                parent._modules[first] = fuse_conv_bn_eval(conv.eval(), norm.eval())
                parent._modules[second] = nn.Identity()
                folded += 1
    return folded
