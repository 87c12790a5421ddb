"""llama-cpp: llama.cpp's llama-server in its own jail, serving WARDEN_LLAMA_MODEL.

The session it replaces: `bastille pkg atlasllamacpp install llama-cpp`, `sysrc
llama_server_enable=YES llama_server_model=/path/model.gguf llama_server_args="--host
10.0.1.4 --port 8080"`, `service llama_server start` (ref §2.8: the model is required
and must be a file). The config already refused a missing or malformed model path.
"""

from __future__ import annotations

from ..jail import JailRole, JailStep

STEP = JailStep(
    JailRole(
        step="llama-cpp",
        role="llama-cpp",
        service="llama_server",
        context=lambda config: {"model": config.llama_model or ""},
    )
)
