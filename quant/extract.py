"""Layer tables from torch modules: bring any ``nn.Module`` into the engine's workload library.

:func:`layers_from_torch` runs one forward pass on zeros with forward hooks on every leaf module and
records each ``nn.Conv2d`` (grouped and depthwise included) and ``nn.Linear`` call, in call order, as a
:class:`quidam_fast.workloads.Layer` with the shapes it actually saw.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import numbers
import os
import sys
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn

from quidam_fast.errors import QuidamInputError
from quidam_fast.workloads import MAX_DIMENSION, Layer, Network

#: The largest input (elements) of a forward pass on real zeros, the fallback for models whose forward
#: cannot run on shape-only tensors: 2^24 float32 zeros are 64 MiB, and an ImageNet batch of 64
#: (9.6 M elements) fits; beyond it a model's activations could exhaust memory (an input of 65536 x
#: 65536 is 16 GiB before the first layer).
MAX_CPU_PASS_ELEMENTS = 2**24

# Leaf modules that do no multiply-accumulates with weights (or whose work a PE array's requantization
# and pooling stages do): skipped.
_SKIPPED = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
    nn.Hardsigmoid, nn.Hardtanh, nn.Softmax, nn.LogSoftmax, nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout,
    nn.Dropout2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.BatchNorm1d,
    nn.BatchNorm2d, nn.LayerNorm, nn.GroupNorm, nn.ZeroPad2d, nn.ConstantPad2d, nn.Upsample,
)  # fmt: skip


def _pair(value, what: str, module_name: str) -> int:
    a, b = (value, value) if isinstance(value, int) else tuple(value)
    if a != b:
        raise QuidamInputError(f"layer {module_name!r}: {what} {a} x {b} differs between height and width; a layer table has one {what}")
    return int(a)


def _conv_layer(name: str, module: nn.Conv2d, x: torch.Tensor) -> Layer:
    if x.dim() != 4:
        raise QuidamInputError(f"layer {name!r}: Conv2d input of shape {tuple(x.shape)}; expected (N, C, H, W)")
    if _pair(module.dilation, "dilation", name) != 1:
        raise QuidamInputError(f"layer {name!r}: dilated convolutions are not supported (dilation {module.dilation})")
    R, S = module.kernel_size
    if isinstance(module.padding, str):  # 'valid' or 'same' (stride 1, odd kernels for symmetric padding)
        if module.padding == "valid":
            padding = 0
        elif R % 2 and S % 2 and R == S:
            padding = R // 2
        else:
            raise QuidamInputError(f"layer {name!r}: padding='same' with an even or non-square kernel pads asymmetrically; not supported")
    else:
        padding = _pair(module.padding, "padding", name)
    N, C, H, W = x.shape
    return Layer(
        name, H=int(H), W=int(W), C=int(C), K=module.out_channels, R=int(R), S=int(S),
        stride=_pair(module.stride, "stride", name), padding=padding, groups=module.groups, N=int(N),
    )  # fmt: skip


def _linear_layer(name: str, module: nn.Linear, x: torch.Tensor) -> Layer:
    # A linear layer on (N, *, C) is a 1 x 1 convolution over the * positions; on (N, C) an FC layer.
    positions = math.prod(x.shape[1:-1]) if x.dim() > 2 else 1
    N = int(x.shape[0]) if x.dim() > 1 else 1
    return Layer(name, H=int(positions), W=1, C=module.in_features, K=module.out_features, N=N)


def layers_from_torch(module: nn.Module, input_shape: Sequence[int], name: str) -> Network:
    """The layer table of ``module`` for inputs of ``input_shape`` (batch first, e.g. ``(1, 1, 28, 28)``).

    Parameters
    ----------
    module
        Any ``nn.Module``. Every call of an ``nn.Conv2d`` (including grouped and depthwise) or
        ``nn.Linear`` leaf (subclasses included) becomes one layer, named by the module's qualified
        name (``features.0``); a module called more than once gets ``#2``, ``#3`` ... suffixes.
        Parameter-free leaves (activations, pooling, flatten, dropout) and normalization layers are
        skipped.
    input_shape
        Shape of the input tensor, batch dimension first; the batch size becomes ``N``.
    name
        Name of the returned network.

    Returns
    -------
    quidam_fast.workloads.Network

    Raises
    ------
    QuidamInputError
        A leaf module of a type that does multiply-accumulates but is not supported (``Conv1d``,
        ``Conv3d``, transposed convolutions, recurrent or attention layers, any unknown leaf that
        holds parameters), a dilated or anisotropic convolution, or a model without any layer.

    Notes
    -----
    Hooks see modules, not functional calls: a ``torch.nn.functional.conv2d`` written inside a
    ``forward`` is invisible; wrap it in a module. Leaves are checked before the forward pass runs.

    Examples
    --------
    >>> import torch.nn as nn
    >>> net = layers_from_torch(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Flatten(), nn.Linear(8 * 4 * 4, 10)), (1, 3, 4, 4), "tiny")
    >>> [(layer.name, layer.kind, layer.macs) for layer in net.layers]
    [('0', 'conv', 3456), ('2', 'fc', 1280)]
    """
    if not isinstance(module, nn.Module):
        raise QuidamInputError(f"{module!r} is not a torch.nn.Module")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError, OverflowError):
        raise QuidamInputError(f"input shape {input_shape!r} must be a sequence of integers") from None
    if len(shape) < 2 or min(shape) < 1 or max(shape) > MAX_DIMENSION:
        raise QuidamInputError(f"input shape {shape} must have a batch dimension and sizes from 1 to {MAX_DIMENSION}, "
                               "e.g. (1, 3, 32, 32)")
    names = {}
    for qualified, leaf in module.named_modules():
        if next(leaf.children(), None) is not None:
            continue
        if isinstance(leaf, (nn.Conv2d, nn.Linear)):
            names[leaf] = qualified or type(leaf).__name__
        elif isinstance(leaf, _SKIPPED):
            continue
        elif any(True for _ in leaf.parameters(recurse=False)) or isinstance(leaf, (nn.modules.conv._ConvNd, nn.RNNBase, nn.MultiheadAttention)):
            raise QuidamInputError(
                f"layer {qualified!r} is a {type(leaf).__name__}, which is not supported; supported layers with weights: "
                "Conv2d (incl. grouped/depthwise) and Linear"
            )
    if not names:
        raise QuidamInputError(f"{type(module).__name__} has no Conv2d or Linear layer")

    layers: list[Layer] = []
    calls: dict[str, int] = {}
    errors: list[QuidamInputError] = []

    def hook(leaf, inputs, output):
        if errors:
            return
        base = names[leaf]
        calls[base] = calls.get(base, 0) + 1
        layer_name = base if calls[base] == 1 else f"{base}#{calls[base]}"
        try:
            make = _conv_layer if isinstance(leaf, nn.Conv2d) else _linear_layer
            layers.append(make(layer_name, leaf, inputs[0]))
        except QuidamInputError as error:
            errors.append(error)

    handles = [leaf.register_forward_hook(hook) for leaf in names]
    was_training = module.training
    try:
        module.eval()
        try:
            _forward_on_meta(module, shape)
        except KeyboardInterrupt:
            raise
        except BaseException as meta_error:  # noqa: BLE001 -- the model's own code: anything may come out
            if errors:
                raise errors[0] from None
            elements = math.prod(shape)
            if elements > MAX_CPU_PASS_ELEMENTS:
                raise QuidamInputError(
                    f"forward pass of {type(module).__name__} on shape-only tensors of shape {shape} failed "
                    f"({_one_line(meta_error)}), and that input ({elements:,} elements) is too large for a pass on real "
                    f"zeros (at most {MAX_CPU_PASS_ELEMENTS:,}): give a smaller input shape"
                ) from None
            layers.clear()
            calls.clear()
            with torch.no_grad():
                module(torch.zeros(shape))
    except QuidamInputError:
        raise
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 -- a shape mismatch, a SystemExit in forward: name the input shape
        raise QuidamInputError(f"forward pass of {type(module).__name__} on an input of shape {shape} failed: "
                               f"{_one_line(error)}") from None
    finally:
        for handle in handles:
            handle.remove()
        module.train(was_training)
    if errors:
        raise errors[0]
    return Network(name, tuple(layers))


def _forward_on_meta(module: nn.Module, shape: tuple[int, ...]) -> None:
    """``module``'s forward on a shape-only input, its parameters and buffers swapped for shape-only
    copies for the call (the module itself is not changed): shapes flow, nothing is allocated."""
    from torch.func import functional_call

    tensors = {name: torch.empty_like(tensor, device="meta")
               for name, tensor in [*module.named_parameters(), *module.named_buffers()]}
    with torch.no_grad():
        functional_call(module, tensors, (torch.empty(shape, device="meta"),))


def _one_line(error: BaseException, limit: int = 300) -> str:
    if isinstance(error, SystemExit):
        return f"it calls sys.exit({error.code!r})"
    text = " ".join(str(error).split())
    text = f"{type(error).__name__}: {text}" if text else type(error).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def resolve(spec: str) -> tuple[nn.Module, tuple[int, ...] | None, str]:
    """``"package.module:attr"`` or ``"path/to/file.py:attr"`` -> (module instance, its ``input_shape``
    if it declares one, default name).

    ``attr`` is an ``nn.Module`` instance or a callable that returns one without arguments. A dotted
    module name is imported with the current working directory searched first (as ``python -m`` does;
    the ``quidam-fast`` console script does not put it on ``sys.path``); a ``.py`` path is loaded as a
    file, with its folder searched first for the imports it makes.
    """
    module_name, sep, attr = spec.rpartition(":")  # the last colon: a Windows path has one of its own
    if not sep or not module_name or not attr:
        raise QuidamInputError(
            f"--from-torch {spec!r} must be written package.module:attribute or path/to/file.py:attribute"
        )
    if module_name.endswith(".py") or "/" in module_name or "\\" in module_name:
        target = _import_file(module_name)
    else:
        target = _import_module(module_name)
    obj = target
    for part in attr.split("."):
        missing = object()
        found = _attribute(obj, part, missing, spec)
        if found is missing:
            raise QuidamInputError(f"{module_name!r} has no attribute {attr!r}")
        obj = found
    input_shape = _attribute(obj, "input_shape", None, spec)
    default_name = _attribute(obj, "network_name", attr.split(".")[-1], spec)
    model = obj
    if not isinstance(obj, nn.Module) and callable(obj):
        try:
            model = obj()
        except KeyboardInterrupt:
            raise
        except BaseException as error:  # noqa: BLE001 -- e.g. a class that needs constructor arguments, a sys.exit
            raise QuidamInputError(f"{spec} is callable but calling it without arguments failed ({_one_line(error)}); "
                                   "it must be an nn.Module or return one") from None
    if not isinstance(model, nn.Module):
        raise QuidamInputError(f"{spec} is not an nn.Module nor a callable returning one")
    input_shape = _attribute(model, "input_shape", input_shape, spec)
    default_name = _attribute(model, "network_name", default_name, spec)
    if not isinstance(default_name, str) or not default_name.strip() or not default_name.isprintable():
        raise QuidamInputError(f"{spec}: network_name = {_short(default_name)} must be a non-empty string of printable characters")
    if input_shape is None:
        return model, None, default_name
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(size, numbers.Integral) and not isinstance(size, bool) and 0 < size <= MAX_DIMENSION
                       for size in input_shape)):
        raise QuidamInputError(
            f"{spec}: input_shape = {_short(input_shape)} must be a tuple of positive integers (at most {MAX_DIMENSION}), "
            "batch first (e.g. (1, 1, 28, 28)); or leave it out and give --input-shape"
        )
    return model, tuple(int(size) for size in input_shape), default_name


def _attribute(obj, name: str, default, spec: str):
    """``getattr(obj, name, default)``, where a property or ``__getattr__`` of the user's code that raises
    anything but AttributeError is one line naming it."""
    try:
        return getattr(obj, name, default)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 -- the user's code
        raise QuidamInputError(f"{spec}: reading its attribute {name!r} failed ({_one_line(error)})") from None


def _short(value, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _import_module(module_name: str):
    """Import ``module_name`` with the current working directory searched first."""
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    importlib.invalidate_caches()  # a file written after the folder was last listed must still be found
    try:
        return importlib.import_module(module_name)
    except ImportError as error:
        raise QuidamInputError(f"cannot import {module_name!r} (searched the current folder {cwd!r} first): {_one_line(error)}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 -- the module itself fails while importing (a sys.exit too): one line
        raise QuidamInputError(f"importing {module_name!r} failed: {_one_line(error)}") from None
    finally:
        if added and cwd in sys.path:
            sys.path.remove(cwd)


def _import_file(file_name: str):
    """Load a ``.py`` file as a module (registered under a private name), its folder searched first."""
    path = Path(file_name).expanduser()
    if path.suffix != ".py":
        raise QuidamInputError(f"--from-torch: {file_name!r} is not a .py file; write path/to/file.py:attribute or package.module:attribute")
    if not path.is_file():
        raise QuidamInputError(f"--from-torch: model file {file_name!r} does not exist")
    path = path.resolve()
    # A private, path-derived name: two files called model.py never collide, and no installed module is shadowed.
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
    module_name = f"_quidam_fast_model_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise QuidamInputError(f"--from-torch: cannot load {file_name!r} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent)
    added = folder not in sys.path
    if added:
        sys.path.insert(0, folder)
    sys.modules[module_name] = module  # before exec: dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except KeyboardInterrupt:
        del sys.modules[module_name]
        raise
    except BaseException as error:  # noqa: BLE001 -- a syntax error, a failed import, a sys.exit: the file's own
        del sys.modules[module_name]
        raise QuidamInputError(f"loading {file_name!r} failed: {_one_line(error)}") from None
    finally:
        if added and folder in sys.path:
            sys.path.remove(folder)
    return module
