"""The verification snippet in docs/webhooks.md works against what the worker sends."""

from __future__ import annotations

import re
import time
from pathlib import Path

from sipmeet.webhooks import signature_header

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def test_python_snippet_verifies_signatures() -> None:
    (snippet,) = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    namespace: dict[str, object] = {}
    exec(compile(snippet, str(DOC), "exec"), namespace)
    verify = namespace["verify"]
    assert callable(verify)
    body = b'{"event":"dtmf","id":"evt_1"}'
    header = signature_header("whsec_doc", body, time.time())
    assert verify("whsec_doc", body, header) is True
    assert verify("whsec_doc", body + b"x", header) is False
    assert verify("whsec_other", body, header) is False
    old = signature_header("whsec_doc", body, time.time() - 3600)
    assert verify("whsec_doc", body, old) is False
    assert verify("whsec_doc", body, "garbage") is False
