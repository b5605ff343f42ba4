// An Express 5 upstream for the differential tests: every handler reports which route
// served the request and the identity headers it saw. Express's defaults are kept on
// purpose (caseSensitive: false, strict: false): they are what users run.
//
//   NODE_PATH=<dir with express> node express_app.js   -> prints "listening PORT"
const express = require('express');

const app = express();
// Also in headers, which HEAD responses keep.
const report = (route) => (req, res) =>
  res
    .set({
      'X-Route': route,
      'X-Seen-Method': req.method,
      'X-Seen-User': req.get('x-auth-user') ?? '-',
      'X-Seen-Role': req.get('x-auth-role') ?? '-',
      // The query as Express parsed it (its keys and values), percent-encoded JSON.
      'X-Seen-Query': encodeURIComponent(JSON.stringify(req.query)),
    })
    .json({
    route,
    method: req.method,
    path: req.path,
    url: req.originalUrl,
    user: req.get('x-auth-user') ?? null,
    role: req.get('x-auth-role') ?? null,
    claims: req.get('x-auth-claims') ?? null,
  });

app.all('/admin', report('admin'));
app.all('/admin/*splat', report('admin'));
app.all('/reports', report('reports'));
app.all('/items/:id', report('items'));
app.all('/status', report('status'));
app.all('/docs/*splat', report('docs'));
app.all('/public/*splat', report('public'));
app.all('/files/*splat', report('files'));
app.all('/api/*splat', report('api'));
app.all('/me', report('me'));
app.all('/healthz', report('healthz'));
app.use((req, res) => res.status(404).json({ route: null }));
// A malformed URI (Express's own decoding error) is not a handler either.
app.use((err, req, res, next) => res.status(400).json({ route: null }));

const server = app.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
