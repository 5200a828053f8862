"""Checks that a Dask scheduler lets in only clients holding the run's certificate."""

import socket
import ssl

import pytest


def assert_refuses_outsiders(address: str):
    """A TLS client without a certificate, a plain-TCP client and a client with another
    certificate authority's certificate all fail to connect to ``address`` (tls://)."""
    from distributed import Client
    from distributed.security import Security

    assert address.startswith("tls://"), address
    host, port = address[len("tls://") :].rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the outsider trusts anything; the server must not
    with pytest.raises(OSError):  # ssl.SSLError and connection resets are OSErrors
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with context.wrap_socket(raw) as tls:
                # TLS 1.3 refuses a missing client certificate after the handshake
                tls.sendall(b"\0" * 16)
                if not tls.recv(1):
                    raise ConnectionResetError("closed by the scheduler")
    with pytest.raises(Exception, match="(?i)closed|reset|timed out|refused"):
        Client(address.replace("tls://", "tcp://"), timeout=5)
    with pytest.raises(Exception, match="(?i)certificate|closed|timed out"):
        Client(address, security=Security.temporary(), timeout=5)
