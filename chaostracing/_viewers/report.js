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

  // The Impact section (chaostracing impact -o): the service graph as SVG,
  // laid out by the package (the page only draws), then the units' table.
  var SVG = "http://www.w3.org/2000/svg";
  var verdictColours = {"impacted": "#e15759", "new": "#4e79a7",
                        "gone": "#9c755f", "not-enough-data": "#d9d9d9",
                        "unchanged": "#8cd17d", "none": "#eeeeee"};
  function svg(tag, attributes, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attributes).forEach(function (name) {
      node.setAttribute(name, String(attributes[name]));
    });
    if (text !== undefined) { node.textContent = String(text); }
    return node;
  }
  function verdictColour(verdict) {
    return verdictColours[verdict] || verdictColours.none;
  }
  function drawGraph(graph) {
    var root = svg("svg", {width: graph.width, height: graph.height,
                           viewBox: "0 0 " + graph.width + " " + graph.height,
                           role: "img"});
    root.appendChild(svg("title", {}, "service graph, coloured by verdict"));
    var defs = svg("defs", {});
    Object.keys(verdictColours).forEach(function (verdict) {
      var marker = svg("marker", {id: "arrow-" + verdict, viewBox: "0 0 10 10",
                                  refX: 10, refY: 5, markerWidth: 7,
                                  markerHeight: 7, orient: "auto"});
      marker.appendChild(svg("path", {d: "M 0 0 L 10 5 L 0 10 z",
                                      fill: verdictColour(verdict)}));
      defs.appendChild(marker);
    });
    root.appendChild(defs);
    graph.edges.forEach(function (edge) {
      var group = svg("g", {"class": "edge", "data-caller": edge.caller,
                            "data-callee": edge.callee,
                            "data-verdict": edge.verdict});
      group.appendChild(svg("line", {
        x1: edge.x1, y1: edge.y1, x2: edge.x2, y2: edge.y2,
        stroke: verdictColour(edge.verdict),
        "stroke-width": edge.verdict === "impacted" ? 3 : 1.5,
        "stroke-dasharray": edge.verdict === "new" ? "6 3" :
          (edge.verdict === "gone" ? "2 3" : "none"),
        "marker-end": "url(#arrow-" + (verdictColours[edge.verdict] ?
                                       edge.verdict : "none") + ")"}));
      group.appendChild(svg("text", {
        "class": "edge-label", x: (edge.x1 + edge.x2) / 2,
        y: (edge.y1 + edge.y2) / 2 - 4, "text-anchor": "middle"}, edge.label));
      root.appendChild(group);
    });
    graph.nodes.forEach(function (node) {
      var group = svg("g", {"class": "node", "data-service": node.name,
                            "data-verdict": node.verdict,
                            "data-origin": node.origin ? "true" : "false"});
      group.appendChild(svg("rect", {
        x: node.x, y: node.y, width: node.w, height: node.h, rx: 6,
        fill: verdictColour(node.verdict),
        stroke: node.origin ? "#1d1d1f" : "#888",
        "stroke-width": node.origin ? 3 : 1}));
      group.appendChild(svg("text", {
        x: node.x + node.w / 2, y: node.y + node.h / 2 + 4,
        "text-anchor": "middle"}, (node.origin ? "\u2691 " : "") + node.name));
      root.appendChild(group);
    });
    document.getElementById("impact-graph").appendChild(root);
  }
  function drawImpactTable(result) {
    var table = document.getElementById("impact-table");
    var windows = Object.keys(result.windows);
    var head = el("tr");
    ["unit", "verdict", "calls", "errors", "p95 ms", "recovered"]
      .forEach(function (name) { head.appendChild(el("th", null, name)); });
    table.appendChild(head);
    table.appendChild(pairRow(["", windows.join(" \u2192 ")]));
    result.units.forEach(function (unit) {
      var name = unit.kind === "edge" ?
        "edge " + unit.caller + " \u2192 " + unit.callee :
        unit.kind + " " + unit.service +
        (unit.kind === "operation" ? " " + unit.operation : "");
      var figures = windows.map(function (w) { return unit[w]; });
      var row = el("tr");
      row.dataset.verdict = unit.verdict;
      row.appendChild(el("td", "unit", name));
      row.appendChild(el("td", "verdict", unit.verdict +
        (unit.reasons.length ? " (" + unit.reasons.join(", ") + ")" : "")));
      row.appendChild(el("td", "calls", figures.map(function (f) {
        return f.calls; }).join(" \u2192 ")));
      row.appendChild(el("td", "errors", figures.map(function (f) {
        return f.calls ? Math.round(f.error_ratio * 100) + "%" : "-";
      }).join(" \u2192 ")));
      row.appendChild(el("td", "p95", figures.map(function (f) {
        return f.p95_ms === null ? "-" : f.p95_ms.toFixed(1);
      }).join(" \u2192 ")));
      row.appendChild(el("td", "recovered", unit.recovered === null ? "" :
                         (unit.recovered ? "yes" : "no")));
      table.appendChild(row);
    });
  }
  if (data.impact) {
    var result = data.impact.result;
    var impactSummary = document.getElementById("impact-summary");
    [["blast radius", result.blast_radius.join(", ") || "none"],
     ["likely origin", result.likely_origin.join(", ") || "none"],
     ["recovered", result.recovered === null ? "unknown" :
       (result.recovered ? "yes" : "no")]]
      .forEach(function (pair) {
        impactSummary.appendChild(el("span", null, pair[0] + ": " + pair[1]));
      });
    drawGraph(data.impact.graph);
    drawImpactTable(result);
    document.getElementById("impact").hidden = false;
  }
  if (data.traces.length) { select(0); }
  else { document.getElementById("title").textContent = "No trace"; }
  document.body.dataset.ready = "true";
})();
