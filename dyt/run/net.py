"""Is a server reachable? Asked once, in seconds, so that nothing waits minutes on a closed network."""

from __future__ import annotations

import socket
from urllib.parse import urlparse


def reachable(url: str, timeout: float = 3.0) -> bool:
    """Can we open a TCP connection to ``url``'s host (port 443 unless the URL names one)?"""
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False
