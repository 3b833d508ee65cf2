"""Every form of a secret that a client library or an encoder writes is
masked (issue 18, item 6): each form is made here by the library itself
(urllib.parse, requests, urllib3, httpx, yarl, json, base64, binascii), the
secret inside longer text, and the redactor must leave no piece of it,
whatever the size limit cuts.

A piece is 8 characters of the encoded value that only the secret's
version has: the same value with a filler in the secret's place is encoded
too, and what both share (the URL around it, base64's neighbours) is ours.
"""
import base64
import binascii
import json
import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, assume, given, reject, settings
from hypothesis import strategies as st

from chaostracing._run.redact import MASK, Redactor

PAD = "~~~~~~~~"
SECRETS = st.text(
    st.characters(blacklist_categories=("Cs",)), min_size=4, max_size=40
) | st.text("\"'\\\t é€😀%+/ =&?#:@;!()[]abcXYZ019", min_size=4, max_size=40)


def _upper_escapes(text):
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: "\\u" + m.group(1).upper(),
                  text)


def _requests(path, query):
    import requests

    return requests.Request("GET", f"http://h.local/{path}",
                            params={"q": query}).prepare().url


def _httpx(path, query):
    import httpx

    return str(httpx.URL(f"http://h.local/{path}", params={"q": query}))


def _yarl(path, query):
    import yarl

    return str(yarl.URL("http://h.local/").with_path("/" + path)
               .with_query({"q": query}))


def _yarl_raw(path, query):
    import yarl

    # what aiohttp does with a URL given as text
    return str(yarl.URL(f"http://h.local/{path}?q={query}"))


def _urllib3(path, query):
    import urllib3

    return urllib3.util.parse_url(f"http://h.local/{path}?q={query}").url


def _urllib3_fields(path, query):
    # urllib3's request("GET", url, fields=...): the urlencode it imports
    from urllib3 import _request_methods

    return (f"http://h.local/{path}?"
            + _request_methods.urlencode({"q": query}))


def _base64(encode, offset, strip=False, basic=False):
    def encoder(text):
        data = b"ab"[:offset] + text.encode("utf-8")
        if basic:  # Authorization: Basic base64(user:password)
            data = b"user" + data[:0] + b":" + data
        encoded = encode(data).decode("ascii")
        return encoded.rstrip("=") if strip else encoded
    return encoder


#: name -> the value that reaches a tag, made by the library from the text
#: holding the secret
ENCODERS = {
    "quote": lambda t: urllib.parse.quote(t),
    "quote-safe-none": lambda t: urllib.parse.quote(t, safe=""),
    "quote_plus": lambda t: urllib.parse.quote_plus(t),
    "requests": lambda t: _requests(t, t),
    "requote_uri": lambda t: __import__("requests").utils.requote_uri(
        "http://h.local/" + t),
    "httpx": lambda t: _httpx(t, t),
    "yarl": lambda t: _yarl(t, t),
    "yarl-from-text": lambda t: _yarl_raw(t, t),
    "urllib3": lambda t: _urllib3(t, t),
    "urllib3-fields": lambda t: _urllib3_fields(t, t),
    "json": lambda t: json.dumps(t),
    "json-upper-escapes": lambda t: _upper_escapes(json.dumps(t)),
    "json-unicode": lambda t: json.dumps(t, ensure_ascii=False),
    "json-of-json": lambda t: json.dumps(json.dumps(t)),
    "repr": repr,
    "ascii": ascii,
    "bytes-repr": lambda t: repr(t.encode("utf-8"))[1:],  # b"..." less b
    "hex": lambda t: binascii.hexlify(t.encode("utf-8")).decode(),
    "HEX": lambda t: binascii.hexlify(t.encode("utf-8")).decode().upper(),
    **{f"base64-{offset}": _base64(base64.b64encode, offset)
       for offset in range(3)},
    **{f"base64-urlsafe-{offset}": _base64(base64.urlsafe_b64encode, offset)
       for offset in range(3)},
    **{f"base64-unpadded-{offset}": _base64(base64.b64encode, offset, True)
       for offset in range(3)},
    **{f"basic-{offset}": _base64(base64.b64encode, offset, basic=True)
       for offset in range(3)},
}
#: A secret written raw into a URL's path is changed, not encoded, when it
#: holds "/../" (dot segments are resolved), a tab or a newline (WHATWG
#: parsers drop them), "#" or "?" (they end the path) or "%" (an escape
#: that is decoded): the query parameter keeps it whole
URLS = {"requests", "requote_uri", "httpx", "yarl", "yarl-from-text",
        "urllib3", "urllib3-fields"}


def encoded(name, secret):
    """The value as the library wrote it, with ``secret`` inside."""
    try:
        return ENCODERS[name](PAD + secret + PAD)
    except Exception:  # the library refuses such a URL: no value to mask
        reject()


#: characters of 1, 2, 3 and 4 bytes in UTF-8
_FILLERS = ("xyzw", "éèçà", "€₤₩₪", "😀😁😂😃")


def _filler(secret):
    """Text as long as ``secret`` in characters and UTF-8 bytes, sharing
    no character with it (base64 and hex keep their alignment)."""
    out = []
    for char in secret:
        choices = _FILLERS[len(char.encode("utf-8")) - 1]
        out.append(next(c for c in choices if c not in secret))
    return "".join(out)


def leaked(name, secret, cleaned):
    """8-character pieces of the encoded secret found in ``cleaned``."""
    value = encoded(name, secret)
    filler = encoded(name, _filler(secret))
    # what the redactor wraps or writes around it: JSON of a list, its mask,
    # the cut's marker after the padding
    ours = (filler + json.dumps([filler]) + MASK + PAD + "...[truncated; "
            + PAD + "…")
    size = 8
    pieces = {value[i:i + size] for i in range(len(value) - size + 1)}
    # pieces made only of the padding, the quoting around the secret (repr
    # picks its quotes by what the text holds) and the mask say nothing
    # of it
    return sorted(p for p in pieces if p not in ours and p in cleaned
                  and not set(p) <= _AROUND)


_AROUND = set(PAD + "\"'\\[]" + MASK)


@pytest.mark.slow  # hundreds of generated examples: seconds
@settings(max_examples=400, deadline=None,
          suppress_health_check=[HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
@given(SECRETS, st.sampled_from(sorted(ENCODERS)))
def test_every_form_a_library_writes_is_masked_at_every_size_limit(
    secret, name
):
    assume(secret.strip() and "~" not in secret)
    if name in URLS:  # written raw into a URL, these change the secret
        assume(".." not in secret and "/." not in secret
               and not any(c in secret for c in "\t\n\r#?%"))
    redactor = Redactor(4096)
    redactor.add_secrets([secret])
    value = encoded(name, secret)
    cleaned = redactor.clean_value(value, "http.url")
    assert not leaked(name, secret, cleaned), (value, cleaned)
    # cut at every size: no piece survives the cut either
    for limit in range(8, len(value) + 40):
        redactor.max_length = limit
        for cut in (redactor.clean_value(value, "http.url"),
                    redactor.clean_value(value),
                    redactor.clean_value([value]),
                    redactor.clean_value(value.encode("utf-8"))):
            text = cut.decode("utf-8", "replace") if isinstance(
                cut, bytes) else cut
            assert len(text) <= limit
            assert not leaked(name, secret, text), (limit, value, text)


@pytest.mark.parametrize("name", sorted(ENCODERS))
def test_the_issues_secret_is_masked_in_every_form(name):
    secret = "pa ss!w0rd(Q7)+z"
    redactor = Redactor(1024)
    redactor.add_secrets([secret])
    cleaned = redactor.clean_value(encoded(name, secret), "http.url")
    assert MASK in cleaned
    assert not leaked(name, secret, cleaned), cleaned


def test_partial_percent_encoding_of_any_character_is_masked():
    secret = "pa ss!w0rd(Q7)+z"
    redactor = Redactor(1024)
    redactor.add_secrets([secret])
    for index, char in enumerate(secret):
        # one character encoded, the rest as they are; and the reverse
        one = secret[:index] + f"%{ord(char):02X}" + secret[index + 1:]
        allbut = "".join(c if i == index else f"%{ord(c):02x}"
                         for i, c in enumerate(secret))
        for form in (one, allbut):
            assert redactor.clean_value(f"/x/{form}/y") == "/x/***/y", form


def test_a_non_text_operation_name_is_masked_before_it_is_cut():
    from chaostracing._run.pipeline import _name

    class Name:
        def __repr__(self):
            return "x" * 1010 + "S3cret-value!!"

    redactor = Redactor(1024)
    redactor.add_secrets(["S3cret-value!!"])
    name = _name(Name(), redactor)
    assert "S3cret" not in name and "cret-val" not in name
    assert len(name) <= 1024
    assert not any(name.endswith("S3cret-value!!"[:n]) for n in range(3, 15))


def test_a_secret_baggage_key_is_masked_in_headers_and_the_environment():
    from chaostracing._run.propagation import Propagator
    from chaostracing._run.spancontext import JaegerSpanContext

    redactor = Redactor(1024)
    redactor.add_secrets(["Key-S3cret-42"])
    propagator = Propagator(("jaeger", "w3c"), clean=redactor.mask)
    context = JaegerSpanContext(1, 2, None, 1, {"Key-S3cret-42": "value",
                                                "ok": "Key-S3cret-42"})
    headers = {}
    propagator.inject(context, headers, url_encode=True)
    env = propagator.environment(context)
    binary = bytearray()
    propagator.inject_binary(context, binary)
    text = json.dumps([headers, env]) + binary.decode("utf-8", "replace")
    assert "S3cret" not in text
    assert headers["uberctx-***"] == "value" and headers["uberctx-ok"] == \
        "%2A%2A%2A"
    assert env["BAGGAGE"] == "%2A%2A%2A=value,ok=%2A%2A%2A"
