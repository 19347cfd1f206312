"""TLS client contexts shared by the transports: system CAs, a CA file, or no checks."""

from __future__ import annotations

import functools
import ssl
import warnings

__all__ = ["client_ssl_context", "default_context"]

_warned_insecure = False


@functools.lru_cache(maxsize=1)
def default_context() -> ssl.SSLContext:
    """One shared verifying context with the system CAs.

    Loading the system CA store takes tens of milliseconds; connections that
    need no special TLS settings share this one instead of paying it each time.
    """
    return ssl.create_default_context()


def client_ssl_context(verify: bool = True, cafile: str | None = None) -> ssl.SSLContext:
    """An SSL context for a client.

    Args:
        verify: check the server certificate and host name; ``False`` turns both
            off and warns once per process, since it is only for local testing.
        cafile: a PEM file of CA certificates to trust instead of the system ones
            (for example the one ``rtnb.serve(tls=True)`` writes).

    Raises:
        TypeError: when ``verify`` is not a bool (a CA path goes in ``cafile``).
        ValueError: when ``cafile`` cannot be read or holds no certificate.
    """
    global _warned_insecure
    if not isinstance(verify, bool):  # verify="ca.pem" (httpx style) was silently ignored
        raise TypeError(
            f"verify must be True or False, not {verify!r}; to trust a CA file pass "
            "cafile='path/to/ca.pem'"
        )
    if not verify:
        if not _warned_insecure:
            _warned_insecure = True
            warnings.warn(
                "rtnb: TLS certificate verification is off (verify=False); "
                "use cafile= to trust a specific certificate instead",
                UserWarning,
                stacklevel=3,
            )
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    if cafile is None:
        return default_context()
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:  # neither names the file
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ValueError(f"cannot use cafile={str(cafile)!r}: {why}") from exc
