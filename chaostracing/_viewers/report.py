"""``chaostracing report``: traces as one self-contained HTML file.

The file needs nothing else (no network, no asset; it works from ``file://``
offline and attached to a CI run or a post-mortem): the spans are embedded
once, as JSON, in a ``<script type="application/json">`` block, and a small
script draws them with ``textContent`` only, never ``innerHTML``, so a span
named ``<img src=x onerror=...>`` or a log holding ``</script>`` shows as
text. A Content-Security-Policy forbids the page any request.

What it shows: a trace picker; the run's title, status, deviation and
duration; the span tree, collapsible, with waterfall bars to scale and one
colour per service; failed spans and a deviated experiment marked; a span's
tags, logs and references on click; links to Jaeger UI when its address is
known. Every span of every trace is an element with ``data-span-id``,
``data-parent-id`` (empty for a root), ``data-service`` and, when failed,
``data-error="true"``; the picker and collapsing only hide them.
"""
import json
from typing import Any, Dict, List, Optional, Sequence, Set

from chaostracing._data.jaegerjson import group_by_trace
from chaostracing._data.model import SpanData, is_true, span_hex, trace_hex

__all__ = ["render", "report_data"]

REPORT_FILE = "chaostracing-report.html"
_MAX_VALUE = 4096  # characters of a tag or field value shown in the page


def report_data(spans: Sequence[SpanData], ui_url: Optional[str] = None,
                ) -> Dict[str, Any]:
    """The JSON the page is drawn from."""
    traces: List[Dict[str, Any]] = []
    for trace_id, members in group_by_trace(spans).items():
        members = sorted(members, key=lambda s: (s.start_us, s.span_id))
        ids = {s.span_id for s in members}
        start = min(s.start_us for s in members)
        end = max(s.end_us for s in members)
        root = _root(members, ids)
        services = sorted({s.service_name for s in members})
        traces.append({
            "traceID": trace_hex(trace_id),
            "title": root.operation_name,
            "status": _text(root.tags.get("chaostoolkit.status", "")),
            "deviated": is_true(root.tags.get("chaostoolkit.deviated")),
            "rebuilt": bool(root.warnings),
            "start": start,
            "duration": max(end - start, 1),
            "services": services,
            "errors": sum(1 for s in members if s.failed),
            "spans": [_span(s, ids, start) for s in members],
        })
    traces.sort(key=lambda t: t["start"])
    return {"traces": traces,
            "uiUrl": ui_url if _is_http(ui_url) else None}


def render(spans: Sequence[SpanData], ui_url: Optional[str] = None,
           title: str = "chaostracing report") -> str:
    """The report page of ``spans``."""
    data = json.dumps(report_data(spans, ui_url), ensure_ascii=False,
                      separators=(",", ":"), default=str)
    # nothing in the data may close the script block or open markup
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        data = data.replace(char, escape)
    return (_PAGE.replace("__TITLE__", _html(title))
            .replace("__DATA__", data))


def _root(members: List[SpanData], ids: Set[int]) -> SpanData:
    for span in members:
        if span.tags.get("chaostoolkit.type") == "experiment":
            return span
    roots = [s for s in members if not s.parent_id or s.parent_id not in ids]
    return roots[0] if roots else members[0]


def _span(span: SpanData, ids: Set[int], start: int) -> Dict[str, Any]:
    parent = span.parent_id if span.parent_id in ids and \
        span.parent_id != span.span_id else 0
    return {
        "id": span_hex(span.span_id),
        "parent": span_hex(parent) if parent else "",
        "name": _text(span.operation_name),
        "service": _text(span.service_name),
        "start": span.start_us - start,
        "duration": span.duration_us,
        "error": span.failed,
        "deviated": is_true(span.tags.get("chaostoolkit.deviated")),
        "kind": span.kind,
        "tags": [[_text(k), _value(v)] for k, v in span.tags.items()],
        "logs": [[ts, [[_text(k), _value(v)] for k, v in fields.items()]]
                 for ts, fields in span.logs],
        "refs": [["FOLLOWS_FROM" if kind == 1 else "CHILD_OF", trace_hex(t),
                  span_hex(s)] for kind, t, s in span.references],
        "process": [[_text(k), _value(v)] for k, v in span.process.tags],
        "warnings": [_text(w) for w in span.warnings or ()],
    }


def _value(value: Any) -> Any:
    if value is True or value is False or isinstance(value, (int, float)):
        if isinstance(value, float) and value != value:
            return str(value)  # NaN: JSON has none
        return value
    if isinstance(value, (bytes, bytearray)):
        return bytes(value[:_MAX_VALUE // 2]).hex()
    return _text(value)


def _text(value: Any) -> str:
    return str(value)[:_MAX_VALUE]


def _is_http(url: Optional[str]) -> bool:
    return isinstance(url, str) and url.startswith(("http://", "https://"))


def _html(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;").replace('"', "&quot;"))


_PAGE = r"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
      content="default-src 'none'; style-src 'unsafe-inline';
               script-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>
  body { font: 13px/1.4 system-ui, sans-serif; margin: 0; color: #1d1d1f; }
  header { padding: 10px 16px; background: #f4f5f7; border-bottom: 1px solid #ddd; }
  header h1 { font-size: 16px; margin: 0 0 4px; }
  header .summary span { margin-right: 14px; }
  .deviated-mark, .error-mark { color: #b00020; font-weight: bold; }
  .deviated-mark { color: #9a6700; }
  main { display: flex; height: calc(100vh - 78px); }
  #tree { flex: 3; overflow: auto; }
  #details { flex: 2; overflow: auto; border-left: 1px solid #ddd;
             padding: 8px 12px; background: #fbfbfc; }
  .span { display: flex; align-items: center; height: 22px; cursor: pointer;
          border-bottom: 1px solid #f0f0f0; white-space: nowrap; }
  .span:hover { background: #eef3ff; }
  .span.selected { background: #dbe6ff; }
  .span.hidden, .trace.hidden { display: none; }
  .label { width: 40%; overflow: hidden; text-overflow: ellipsis; display: flex;
           align-items: center; }
  .toggle { width: 16px; display: inline-block; text-align: center; color: #666; }
  .service { font-size: 11px; color: #555; margin-left: 6px; }
  .lane { position: relative; flex: 1; height: 12px; margin: 0 8px; }
  .bar { position: absolute; top: 0; height: 12px; min-width: 2px;
         border-radius: 2px; }
  .duration { width: 80px; text-align: right; padding-right: 8px; color: #444; }
  .span[data-error="true"] .name { color: #b00020; }
  .span[data-error="true"] .bar { outline: 2px solid #b00020; }
  table { border-collapse: collapse; width: 100%; }
  td { border-bottom: 1px solid #eee; padding: 2px 4px; vertical-align: top;
       word-break: break-all; white-space: pre-wrap; }
  td.key { color: #555; width: 35%; }
  h2 { font-size: 14px; margin: 10px 0 4px; }
  select { font: inherit; }
</style>
</head>
<body>
<header>
  <h1 id="title"></h1>
  <div class="summary" id="summary"></div>
  <div>Trace: <select id="picker"></select> <span id="links"></span></div>
</header>
<main>
  <div id="tree"></div>
  <div id="details"><p>Click a span to see its tags, logs and references.</p></div>
</main>
<script type="application/json" id="chaostracing-data">__DATA__</script>
<script>
"use strict";
(function () {
  var data = JSON.parse(document.getElementById("chaostracing-data").textContent);
  var palette = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2",
                 "#edc948", "#ff9da7", "#9c755f", "#bab0ac", "#e15759"];
  var colours = {};
  function colour(service) {
    if (!(service in colours)) {
      colours[service] = palette[Object.keys(colours).length % palette.length];
    }
    return colours[service];
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }
  function ms(us) {
    return us < 1000 ? Math.round(us) + " \u00b5s" : (us / 1000).toFixed(1) + " ms";
  }

  var tree = document.getElementById("tree");
  var picker = document.getElementById("picker");
  var details = document.getElementById("details");
  var rowsByTrace = [];

  function order(trace) {
    // tree order (parents before children), without recursion
    var children = {}, roots = [], ids = {};
    trace.spans.forEach(function (s) { ids[s.id] = true; });
    trace.spans.forEach(function (s) {
      if (s.parent && ids[s.parent]) {
        (children[s.parent] = children[s.parent] || []).push(s);
      } else { roots.push(s); }
    });
    var out = [], seen = {}, stack = [];
    for (var i = roots.length - 1; i >= 0; i--) { stack.push([roots[i], 0]); }
    function drain() {
      while (stack.length) {
        var item = stack.pop(), span = item[0];
        if (seen[span.id]) { continue; }
        seen[span.id] = true;
        out.push([span, item[1]]);
        var kids = children[span.id] || [];
        for (var k = kids.length - 1; k >= 0; k--) {
          stack.push([kids[k], item[1] + 1]);
        }
      }
    }
    drain();
    trace.spans.forEach(function (s) {  // parents in a cycle: drawn too
      if (!seen[s.id]) { stack.push([s, 0]); drain(); }
    });
    return out;
  }

  function showDetails(trace, span, row) {
    document.querySelectorAll(".span.selected").forEach(function (r) {
      r.classList.remove("selected");
    });
    row.classList.add("selected");
    details.textContent = "";
    details.appendChild(el("h2", null, span.name));
    var facts = el("table");
    [["service", span.service], ["span id", span.id],
     ["parent", span.parent || "(root)"], ["start", "+" + ms(span.start)],
     ["duration", ms(span.duration)]]
      .concat(span.warnings.map(function (w) { return ["warning", w]; }))
      .forEach(function (pair) { facts.appendChild(pairRow(pair)); });
    details.appendChild(facts);
    section("Tags", span.tags);
    if (span.logs.length) {
      details.appendChild(el("h2", null, "Logs"));
      span.logs.forEach(function (log) {
        details.appendChild(el("div", "log-time", "+" + ms(log[0] - trace.start)));
        var table = el("table", "log");
        log[1].forEach(function (pair) { table.appendChild(pairRow(pair)); });
        details.appendChild(table);
      });
    }
    if (span.refs.length) {
      section("References", span.refs.map(function (r) {
        return [r[0], r[1] + " / " + r[2]];
      }));
    }
    section("Process", span.process);
  }
  function section(title, pairs) {
    if (!pairs.length) { return; }
    details.appendChild(el("h2", null, title));
    var table = el("table", "pairs");
    pairs.forEach(function (pair) { table.appendChild(pairRow(pair)); });
    details.appendChild(table);
  }
  function pairRow(pair) {
    var tr = el("tr");
    tr.appendChild(el("td", "key", pair[0]));
    tr.appendChild(el("td", "value", pair[1]));
    return tr;
  }

  function toggle(rows, index) {
    var row = rows[index], depth = Number(row.dataset.depth);
    var collapse = row.dataset.collapsed !== "true";
    row.dataset.collapsed = collapse ? "true" : "false";
    row.querySelector(".toggle").textContent = collapse ? "\u25b8" : "\u25be";
    for (var i = index + 1; i < rows.length; i++) {
      var other = rows[i];
      if (Number(other.dataset.depth) <= depth) { break; }
      if (collapse) { other.classList.add("hidden"); }
      else {
        other.classList.remove("hidden");
        if (other.dataset.collapsed === "true") {  // keep its own children folded
          var d = Number(other.dataset.depth);
          while (i + 1 < rows.length && Number(rows[i + 1].dataset.depth) > d) {
            i++;
          }
        }
      }
    }
  }

  data.traces.forEach(function (trace, t) {
    var box = el("div", "trace");
    box.dataset.traceId = trace.traceID;
    var rows = [];
    order(trace).forEach(function (item, index) {
      var span = item[0], depth = item[1];
      var row = el("div", "span");
      row.dataset.spanId = span.id;
      row.dataset.parentId = span.parent;
      row.dataset.service = span.service;
      row.dataset.depth = String(depth);
      if (span.error) { row.dataset.error = "true"; }
      if (span.deviated) { row.dataset.deviated = "true"; }
      var label = el("div", "label");
      label.style.paddingLeft = (Math.min(depth, 40) * 14) + "px";
      var toggler = el("span", "toggle", "\u25be");
      label.appendChild(toggler);
      if (span.error) { label.appendChild(el("span", "error-mark", "\u2717 ")); }
      if (span.deviated) { label.appendChild(el("span", "deviated-mark", "! ")); }
      label.appendChild(el("span", "name", span.name));
      label.appendChild(el("span", "service", span.service));
      row.appendChild(label);
      var lane = el("div", "lane"), bar = el("div", "bar");
      bar.style.left = (100 * span.start / trace.duration) + "%";
      bar.style.width = Math.max(0.2, 100 * span.duration / trace.duration) + "%";
      bar.style.background = colour(span.service);
      lane.appendChild(bar);
      row.appendChild(lane);
      row.appendChild(el("div", "duration", ms(span.duration)));
      row.addEventListener("click", function (event) {
        if (event.target === toggler) { toggle(rows, index); }
        else { showDetails(trace, span, row); }
      });
      rows.push(row);
      box.appendChild(row);
    });
    rows.forEach(function (row, i) {  // a leaf has nothing to fold
      var next = rows[i + 1];
      if (!next || Number(next.dataset.depth) <= Number(row.dataset.depth)) {
        row.querySelector(".toggle").textContent = "";
      }
    });
    rowsByTrace.push(rows);
    tree.appendChild(box);
    var option = el("option", null, trace.title + " \u2014 "
                    + trace.traceID.slice(0, 8)
                    + " (" + trace.spans.length + " spans)");
    option.value = String(t);
    picker.appendChild(option);
  });

  function select(index) {
    var trace = data.traces[index];
    document.querySelectorAll(".trace").forEach(function (box, i) {
      box.classList.toggle("hidden", i !== index);
    });
    document.getElementById("title").textContent = trace.title;
    var summary = document.getElementById("summary");
    summary.textContent = "";
    if (trace.status) {
      summary.appendChild(el("span", "status", "status: " + trace.status));
    }
    if (trace.deviated) {
      summary.appendChild(el("span", "deviated-mark", "deviated"));
    }
    summary.appendChild(el("span", "duration", "duration: " + ms(trace.duration)));
    summary.appendChild(el("span", "count", trace.spans.length + " spans"));
    if (trace.errors) {
      summary.appendChild(el("span", "error-mark", trace.errors + " failed"));
    }
    summary.appendChild(el("span", "services",
                           "services: " + trace.services.join(", ")));
    if (trace.rebuilt) {
      summary.appendChild(el("span", "rebuilt", "(rebuilt from a journal)"));
    }
    var links = document.getElementById("links");
    links.textContent = "";
    if (data.uiUrl) {
      var a = el("a", null, "open in Jaeger UI");
      a.href = data.uiUrl.replace(/\/+$/, "") + "/trace/" + trace.traceID;
      a.rel = "noopener";
      links.appendChild(a);
    }
    picker.value = String(index);
  }
  picker.addEventListener("change", function () { select(Number(picker.value)); });
  if (data.traces.length) { select(0); }
  else { document.getElementById("title").textContent = "No trace"; }
  document.body.dataset.ready = "true";
})();
</script>
</body>
</html>
"""
