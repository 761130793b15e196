// The fetch workload's upstream: a loopback HTTP server answering `{"n":42}`, in its own process
// so that serving it does not share an event loop with the load generator.
import { createServer } from "node:http";

const body = JSON.stringify({ n: 42 });
const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": body.length });
  res.end(body);
});
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT || 0), "127.0.0.1", () => {
  console.log(`upstream: listening on http://127.0.0.1:${server.address().port}`);
});
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    server.closeAllConnections();
    process.exit(0);
  });
}
