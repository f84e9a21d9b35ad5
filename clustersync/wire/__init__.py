"""The wire: message framing and authentication, the TCP servers, HTTP health and metrics."""
