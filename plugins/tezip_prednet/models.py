"""Model files <-> networks: loading, choosing the model an archive needs, the generic model."""

from __future__ import annotations

import threading
from importlib import resources
from typing import TYPE_CHECKING, Any

from tezip.errors import ModelError
from tezip_prednet.architecture import Architecture
from tezip_prednet.limits import check_architecture
from tezip_prednet.modelfile import ModelFile, fingerprint
from tezip_prednet.normalise import SCHEME
from tezip_prednet.torchenv import require_torch

if TYPE_CHECKING:
    from tezip_prednet.network import PredNet

GENERIC = "generic.tezm"
_cache: dict[tuple[str, str], PredNet] = {}
_lock = threading.Lock()


def generic_model() -> bytes:
    """The small model shipped in the package, used when no ``--model`` is given."""
    try:
        return (resources.files("tezip_prednet") / "data" / GENERIC).read_bytes()
    except OSError:
        raise ModelError(
            "the generic PredNet model is not installed; pass a model with --model "
            "(train one with `tezip train`)"
        ) from None


def choose(models: tuple[bytes, ...], wanted: str | None) -> bytes:
    """The model to use: the one with fingerprint ``wanted``, else the first given, else generic."""
    if wanted is None:
        return models[0] if models else generic_model()
    for data in models:
        if fingerprint(data) == wanted:
            return data
    try:
        generic = generic_model()
    except ModelError:
        generic = b""
    if fingerprint(generic) == wanted:
        return generic
    given = ", ".join(fingerprint(m)[:16] for m in models) or "none"
    raise ModelError(
        f"this archive needs the PredNet model with fingerprint {wanted}; models given: "
        f"{given}. Pass the right file with --model"
    )


def to_model_file(
    network: PredNet, training: dict[str, Any], normalisation: dict[str, Any] | None = None
) -> ModelFile:
    """A model file holding the network's architecture and weights."""
    tensors = {k: v.detach().cpu().numpy() for k, v in network.state_dict().items()}
    return ModelFile(
        network.architecture.record(), normalisation or {"scheme": SCHEME}, training, tensors
    )


def architecture_of(file: ModelFile) -> Architecture:
    """The architecture of a parsed model file, checked before anything is built: known
    normalisation, within ``limits``, and exactly the tensors that architecture has."""
    if file.normalisation.get("scheme") != SCHEME:
        raise ModelError(f"the model file's normalisation is not {SCHEME!r}")
    architecture = Architecture.from_record(file.architecture)
    check_architecture(architecture)
    expected = architecture.tensor_shapes()
    if odd := sorted(expected.keys() ^ file.tensors.keys()):
        state = "lacks the tensor" if odd[0] in expected else "has the unexpected tensor"
        raise ModelError(f"model file does not describe a valid PredNet: it {state} {odd[0]!r:.80}")
    for name, shape in expected.items():
        if file.tensors[name].shape != shape:
            raise ModelError(
                f"model file does not describe a valid PredNet: {name} has shape "
                f"{file.tensors[name].shape}, its architecture needs {shape}"
            )
    return architecture


def build(file: ModelFile) -> PredNet:
    """A CPU network in evaluation mode from a parsed model file."""
    architecture = architecture_of(file)
    torch = require_torch()
    from tezip_prednet.network import PredNet

    network = PredNet(architecture)
    network.load_state_dict({k: torch.from_numpy(v) for k, v in file.tensors.items()})
    return network.eval()


def load(data: bytes, device: str) -> PredNet:
    """The network in ``data`` on ``device`` (cached by fingerprint and device)."""
    key = (fingerprint(data), device)
    with _lock:
        if key not in _cache:
            _cache[key] = build(ModelFile.from_bytes(data)).to(device)
        return _cache[key]
