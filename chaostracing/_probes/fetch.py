"""The HTTP fetch of a Jaeger query API, and its answer read as spans.

Whatever goes wrong (unreachable, an HTTP error, not JSON, not Jaeger's
model, too large) fails the activity with a sentence naming the URL, never
its credentials: credentials in the URL are sent as basic authentication.
"""
import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any, Dict, List

from chaoslib.exceptions import ActivityFailed

from chaostracing._data.gcpause import paused_gc
from chaostracing._data.model import SpanData

__all__ = ["MAX_ANSWER", "get_json", "read_spans", "shown"]
logger = logging.getLogger("chaostoolkit")

#: the largest answer read
MAX_ANSWER = 512 * 1024 * 1024


def shown(url: str) -> str:
    """``url`` as messages show it: no credentials."""
    from chaostracing._run.redact import sanitize_url

    return sanitize_url(url)


def get_json(url: str, path: str, params: Dict[str, str],
             timeout: float) -> Any:
    """The JSON document at ``url + path``; ActivityFailed naming the URL
    when it cannot be had."""
    parts = urllib.parse.urlsplit(url)
    headers = {"Accept": "application/json"}
    if parts.username is not None:
        credentials = f"{urllib.parse.unquote(parts.username)}:" \
            f"{urllib.parse.unquote(parts.password or '')}"
        headers["Authorization"] = "Basic " + base64.b64encode(
            credentials.encode("utf-8")).decode("ascii")
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    target = urllib.parse.urlunsplit(parts) + path
    if params:
        target += "?" + urllib.parse.urlencode(params)
    where = shown(url) + path
    request = urllib.request.Request(target, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            body = answer.read(MAX_ANSWER + 1)
    except urllib.error.HTTPError as error:
        raise ActivityFailed(
            f"the trace query service at {where} answered HTTP {error.code}"
            f"{_jaeger_error(error)}") from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", None) or error
        raise ActivityFailed(f"cannot reach the trace query service at "
                             f"{where}: {reason}") from None
    except Exception as error:  # http.client's protocol errors
        raise ActivityFailed(f"cannot read the answer of the trace query "
                             f"service at {where}: {error!r:.200}") from None
    if len(body) > MAX_ANSWER:
        raise ActivityFailed(f"the trace query service at {where} answered "
                             f"more than {MAX_ANSWER >> 20} MB: narrow the "
                             "window or lower limit")
    try:
        with paused_gc():
            return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ActivityFailed(f"the trace query service at {where} did not "
                             f"answer JSON: {str(error)[:200]}") from None


def _jaeger_error(error: Any) -> str:
    try:
        document = json.loads(error.read(65536).decode("utf-8"))
        message = document["errors"][0]["msg"]
    except Exception:  # whatever the body is, the status says enough
        return ""
    return f": {str(message)[:300]}"


def read_spans(document: Any, url: str, service: str) -> List[SpanData]:
    """The spans of a Jaeger ``/api/traces`` answer; ActivityFailed naming
    the URL when it is not Jaeger's JSON model. A bad span in it (a
    ``startTime`` of -1...) costs only itself: it is left out, and one
    warning says how many were."""
    from chaostracing._data.jaegerjson import Skipped, read_document

    if isinstance(document, dict) and "data" in document \
            and document["data"] is None and not document.get("errors"):
        return []  # Jaeger's "nothing found" may be a null list
    skipped = Skipped()
    try:
        with paused_gc():
            spans = read_document(document, service, skipped)
    except ValueError as error:
        raise ActivityFailed(f"the trace query service at {shown(url)} did "
                             f"not answer Jaeger's JSON model: {error}"
                             ) from None
    if skipped:
        logger.warning(
            f"chaostracing.probes: the trace query service at {shown(url)} "
            f"answered spans that are not Jaeger's model: {skipped}; the "
            "figure is over the others")
    return spans
