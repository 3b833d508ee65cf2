// Spans from clients nobody here wrote, to chaostracing collect
// (tests/test_collector_clients_js.py):
//
//   node send_spans.js otlp-http|otlp-proto PORT COUNT [gzip]
//       OpenTelemetry JS's OTLP/HTTP exporter (JSON or protobuf), whose
//       bodies are sent with Transfer-Encoding: chunked
//   node send_spans.js jaeger-client UDP_PORT COUNT
//       Node's jaeger-client: Thrift binary over UDP, as to an agent's 6832
//
// A trace of COUNT spans: a root and COUNT - 1 children, each named after
// its number, with an attribute. Exits non-zero when the export failed.
"use strict";

const [mode, port, countText, compression] = process.argv.slice(2);
const count = Number(countText);
const service = `node-${mode}${compression ? "-" + compression : ""}`;

async function otlp(packageName) {
  const { BasicTracerProvider, BatchSpanProcessor } = require(
    "@opentelemetry/sdk-trace-base");
  const { resourceFromAttributes } = require("@opentelemetry/resources");
  const api = require("@opentelemetry/api");
  const { OTLPTraceExporter } = require(packageName);
  const exporter = new OTLPTraceExporter({
    url: `http://127.0.0.1:${port}/v1/traces`,
    compression: compression === "gzip" ? "gzip" : "none",
  });
  let failed = null;
  const exported = exporter.export.bind(exporter);
  exporter.export = (spans, done) => exported(spans, (result) => {
    if (result.code !== 0) {
      failed = result.error || new Error("export failed");
    }
    done(result);
  });
  const provider = new BasicTracerProvider({
    resource: resourceFromAttributes({ "service.name": service }),
    spanProcessors: [new BatchSpanProcessor(exporter, {
      maxExportBatchSize: 100, maxQueueSize: count + 1 })],
  });
  const tracer = provider.getTracer("send_spans", "1.0");
  const root = tracer.startSpan("root", { attributes: { n: 0 } });
  const parent = api.trace.setSpan(api.context.active(), root);
  for (let i = 1; i < count; i++) {
    tracer.startSpan(`child-${i}`, { attributes: { n: i, text: "é".repeat(i % 7) } },
      parent).end();
  }
  root.end();
  await provider.forceFlush();
  await provider.shutdown();
  if (failed) {
    throw failed;
  }
}

async function jaeger() {
  const { initTracer } = require("jaeger-client");
  const tracer = initTracer({
    serviceName: service,
    sampler: { type: "const", param: 1 },
    reporter: { agentHost: "127.0.0.1", agentPort: Number(port),
      flushIntervalMs: 50 },
  }, { logger: { info() {}, error(message) { console.error(message); } } });
  const root = tracer.startSpan("root", { tags: { n: 0 } });
  for (let i = 1; i < count; i++) {
    tracer.startSpan(`child-${i}`, { childOf: root, tags: { n: i } }).finish();
  }
  root.finish();
  await new Promise((resolve) => tracer.close(resolve));
}

const senders = {
  "otlp-http": () => otlp("@opentelemetry/exporter-trace-otlp-http"),
  "otlp-proto": () => otlp("@opentelemetry/exporter-trace-otlp-proto"),
  "jaeger-client": jaeger,
};

senders[mode]().then(() => process.exit(0), (error) => {
  console.error(String(error && error.stack || error));
  process.exit(1);
});
