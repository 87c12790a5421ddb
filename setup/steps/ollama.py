"""ollama: the ollama server in its own jail, listening on the jail's address.

The session it replaces: `bastille pkg atlasollama install ollama`, `sysrc
ollama_enable=YES ollama_env=OLLAMA_HOST=10.0.1.4:11434`, `service ollama start`
(the rc script adds `env $ollama_env` to its start; ref §2.8).
"""

from __future__ import annotations

from ..jail import JailRole, JailStep

STEP = JailStep(JailRole(step="ollama", role="ollama", service="ollama"))
