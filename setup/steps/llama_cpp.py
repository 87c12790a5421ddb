"""llama-cpp: llama.cpp's llama-server in its own jail, serving WARDEN_LLAMA_MODEL.

The session it replaces: `bastille pkg atlasllamacpp install llama-cpp`, `sysrc
llama_server_enable=YES llama_server_model=/path/model.gguf llama_server_args="--host
10.0.1.4 --port 8080"`, `service llama_server start` (ref §2.8: the model is required
and must be a file). The model's directory is mounted read-only into the jail (nullfs,
by jail(8) from the jail's fstab: setup/jail.py), so the file the operator placed on the
host is the one the server reads.
"""

from __future__ import annotations

from ..config import AgentConfig
from ..jail import JailRole, JailStep
from ..layout import LLAMA_MODELS

MODELS = LLAMA_MODELS


def model_path(model: str) -> str:
    """WARDEN_LLAMA_MODEL as an absolute path on the host (and, mounted, in the jail)."""
    return model if model.startswith("/") else f"{MODELS}/{model}"


def model_dir(config: AgentConfig) -> str:
    """The model's directory: mounted read-only at the same path in the jail."""
    return model_path(config.llama_model or "").rsplit("/", 1)[0]


STEP = JailStep(
    JailRole(
        step="llama-cpp",
        role="llama-cpp",
        service="llama_server",
        context=lambda config: {"model": model_path(config.llama_model or "")},
        mounts=lambda config: [(model_dir(config), model_dir(config))],
    )
)
