"""End to end: a secret in a URL, as each client library writes it (issue
18, item 6). Real ``chaos run`` processes call the demo service on loopback
with requests, urllib3, httpx, aiohttp and chaoslib's ``http`` provider, the
secret in the URL's path and query; on each provider (a real UDP listener,
the trace file, a real OTLP receiver) no form of the secret reaches a tag,
a log, the file, a header we write or our log lines, while the client spans
are there, their URLs masked.
"""
import base64
import binascii
import json
import urllib.parse

import pytest
from conftest import assert_one_trace

pytestmark = pytest.mark.slow  # chaos run in a process

SECRET = "pa ss!w0rd(Q7)+z"
CLIENTS = ["requests", "urllib3", "httpx", "aiohttp"]
CONTROL = {"name": "chaostracing",
           "provider": {"type": "python", "module": "chaostracing.control"}}


def forms(secret):
    """The secret as the libraries and encoders write it."""
    import httpx
    import requests
    import urllib3
    import yarl

    text = "~" + secret + "~"
    data = secret.encode()
    out = {
        secret,
        urllib.parse.quote(secret), urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        requests.utils.requote_uri(text),
        str(httpx.URL("http://h/" + text)).split("/")[-1],
        str(httpx.URL("http://h/", params={"q": secret})).split("=")[-1],
        str(yarl.URL("http://h/" + text)).split("/")[-1],
        str(yarl.URL("http://h/").with_query({"q": secret})).split("=")[-1],
        urllib3.util.parse_url("http://h/" + text).path,
        json.dumps(secret), json.dumps(secret).upper(),
        binascii.hexlify(data).decode(),
        binascii.hexlify(data).decode().upper(),
    }
    for offset in range(3):
        encoded = base64.b64encode(b"u:"[:offset] + data).decode()
        out.add(encoded[2 if offset else 0:-2])
        out.add(encoded[2 if offset else 0:-2].replace("+", "-")
                .replace("/", "_"))
    return out


def leaks(data: bytes):
    text = data.decode("utf-8", "replace")
    found = set()
    for form in forms(SECRET):
        form = form.strip("~\"")
        for i in range(max(1, len(form) - 7)):
            if form[i:i + 8] in text:
                found.add(form[i:i + 8])
    return found


def experiment(configuration, service_url):
    method = [{"type": "action", "name": f"{client}-secret-url",
               "provider": {"type": "python", "module": "client_helpers",
                            "func": "secret_in_url", "secrets": ["demo"],
                            "arguments": {"url": service_url,
                                          "client": client,
                                          "token": "${token}"}}}
              for client in CLIENTS]
    method.append({"type": "probe", "name": "chaoslib-http-secret-url",
                   "provider": {"type": "http", "secrets": ["demo"],
                                "url": service_url
                                + "/orders/${token}?q=${token}"}})
    return {
        "title": "secrets in URLs", "description": "every client",
        "configuration": dict(configuration, tracing_instrument=CLIENTS,
                              tracing_propagation=["w3c", "jaeger"]),
        "secrets": {"demo": {"token": {"type": "env", "key": "DEMO_TOKEN"}}},
        "controls": [CONTROL],
        "method": method,
    }


def check(run, spans, sent: bytes, demo_service):
    assert run.status == "completed", run.log[-3000:]
    assert all(r["status"] == "succeeded" for r in run.journal["run"]), \
        [r.get("exception") for r in run.journal["run"]]
    # the secret did travel in the requests' URLs: each client encoded it
    paths = [r["path"] for r in demo_service.received]
    assert sum("/orders/pa" in p for p in paths) == len(CLIENTS) + 1
    assert not leaks(sent), sorted(leaks(sent))[:5]
    assert_one_trace(spans)
    urls = [str(s.tags.get("http.url") or s.tags.get("url.full") or "")
            for s in spans]
    client_urls = [u for u in urls if "/orders/" in u]
    # two requests per client library, and chaoslib's http provider's (made
    # with requests, traced as requests are)
    assert len(client_urls) == 2 * len(CLIENTS) + 1, urls
    assert all("***" in u for u in client_urls), client_urls
    # the headers we wrote (trace context, baggage) hold no piece of it
    headers = json.dumps([r["headers"] for r in demo_service.received])
    assert not leaks(headers.encode())
    ours = "\n".join(line for line in run.log.splitlines()
                     if "chaostracing" in line)
    assert ours and not leaks(ours.encode())
    assert not leaks(json.dumps(run.journal.get("extensions")).encode())


def test_a_secret_in_urls_reaches_no_jaeger_datagram(chaos, agent,
                                                     demo_service):
    run = chaos(experiment({"tracing_provider": "jaeger",
                            "tracing_port": agent.port}, demo_service.url),
                env={"DEMO_TOKEN": SECRET})
    agent.wait_for(len(CLIENTS) * 3 + 4, timeout=10)
    spans = agent.wait_quiet(0.3)
    check(run, spans, b"".join(agent.raw), demo_service)


def test_a_secret_in_urls_reaches_no_otlp_body(chaos, otlp, demo_service):
    run = chaos(experiment({"tracing_provider": "otlp",
                            "tracing_port": otlp.port}, demo_service.url),
                env={"DEMO_TOKEN": SECRET})
    spans = otlp.wait_for(len(CLIENTS) * 3 + 4, timeout=10)
    check(run, spans, b"".join(otlp.bodies), demo_service)


def test_a_secret_in_urls_reaches_no_trace_file(chaos, demo_service,
                                                tmp_path):
    from chaostracing._data.jaegerjson import load_spans

    run = chaos(experiment({"tracing_provider": "file"}, demo_service.url),
                env={"DEMO_TOKEN": SECRET})
    path = tmp_path / "chaostracing-trace.json"
    check(run, load_spans(str(path)), path.read_bytes(), demo_service)
