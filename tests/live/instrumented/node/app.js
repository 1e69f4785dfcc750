// A minimal QuikApp Node.js service, as the `instrumentation` output's `node` entry describes it.
//
// Traces: nothing here. The process is started with
//   node --require @opentelemetry/auto-instrumentations-node/register app.js
// and the OTEL_* environment of the output; the http instrumentation makes a server span per request.
// Metrics: prom-client with the names the stack's alerts and dashboards read, on PORT at /metrics.
'use strict';

const http = require('node:http');
const client = require('prom-client');

const requests = new client.Counter({
  name: 'http_requests_total',
  help: 'HTTP requests served',
  labelNames: ['method', 'route', 'status'],
});
const duration = new client.Histogram({
  name: 'http_request_duration_seconds',
  help: 'HTTP request duration in seconds',
  labelNames: ['method', 'route'],
});

const routes = {
  '/orders': (res) => reply(res, 200, { orders: [] }),
  '/fail': (res) => reply(res, 500, { error: 'failing on purpose' }),
};

function reply(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  const path = new URL(req.url, 'http://localhost').pathname;
  if (path === '/metrics') {
    res.writeHead(200, { 'Content-Type': client.register.contentType });
    res.end(await client.register.metrics());
    return;
  }
  const route = routes[path] ? path : 'unmatched';
  const stop = duration.startTimer({ method: req.method, route });
  res.on('finish', () => {
    stop();
    requests.inc({ method: req.method, route, status: String(res.statusCode) });
  });
  (routes[path] || ((r) => reply(r, 404, { error: 'not found' })))(res);
});

server.listen(Number(process.env.PORT), '127.0.0.1');
process.on('SIGTERM', () => server.close());
