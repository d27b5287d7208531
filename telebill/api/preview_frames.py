"""The e-mail previews the console shows, each kept for a moment under a random key so that its
frame can load it from the server, with a policy of its own.

A preview is HTML with inline styles (as e-mail is written); the console's policy refuses
inline styles, and a frame written from the page (`srcdoc`) would inherit that policy. So the
page asks for a preview, gets a key, and the frame loads `/console/preview-frame/<key>`, served
with `style-src 'unsafe-inline'` and CSP `sandbox` (no scripts, an origin of its own). Keys
expire after a minute and a few hundred at most are kept (one API process holds them).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict

TTL_S = 60.0
MAX_KEPT = 256
FRAME_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox; "
    "frame-ancestors 'self'; form-action 'none'; base-uri 'none'"
)


class Frames:
    def __init__(self, ttl_s: float = TTL_S, max_kept: int = MAX_KEPT) -> None:
        self.ttl_s, self.max_kept = ttl_s, max_kept
        self._kept: OrderedDict[str, tuple[float, str, str]] = OrderedDict()

    def put(self, html: str, user: str) -> str:
        """A key for `html`, which only `user` may load."""
        self._expire()
        key = secrets.token_urlsafe(24)
        self._kept[key] = (time.monotonic() + self.ttl_s, html, user)
        while len(self._kept) > self.max_kept:
            self._kept.popitem(last=False)
        return key

    def get(self, key: str, user: str) -> str | None:
        self._expire()
        kept = self._kept.get(key)
        return kept[1] if kept is not None and kept[2] == user else None

    def _expire(self) -> None:
        now = time.monotonic()
        while self._kept and next(iter(self._kept.values()))[0] < now:
            self._kept.popitem(last=False)


FRAMES = Frames()
