"""A Flask upstream for the differential tests: every handler reports which route served
the request and the identity headers it saw.

    python3 flask_app.py werkzeug   # Werkzeug's server (drops header names with "_")
    python3 flask_app.py wsgiref    # the standard library's CGI-style WSGI server, which
                                    # reads X_Auth_User as HTTP_X_AUTH_USER like X-Auth-User

Prints "listening PORT" once it listens on 127.0.0.1.
"""
import json
import logging
import sys
from urllib.parse import quote
from wsgiref.simple_server import WSGIRequestHandler, make_server

from flask import Flask, jsonify, request

app = Flask(__name__)
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def report(route):
    def handler(**_):
        # Also in headers, which HEAD responses keep.
        headers = {
            "X-Route": route,
            "X-Seen-Method": request.method,
            "X-Seen-User": request.headers.get("X-Auth-User", "-"),
            "X-Seen-Role": request.headers.get("X-Auth-Role", "-"),
            # The query as Werkzeug parsed it (every key, every value), percent-encoded JSON.
            "X-Seen-Query": quote(json.dumps(request.args.to_dict(flat=False)), safe=""),
        }
        return jsonify(
            route=route,
            method=request.method,
            path=request.path,
            url=request.full_path,
            user=request.headers.get("X-Auth-User"),
            role=request.headers.get("X-Auth-Role"),
            claims=request.headers.get("X-Auth-Claims"),
        ), 200, headers

    handler.__name__ = f"h_{route}_{len(app.url_map._rules)}"
    return handler


for rule, route in [
    ("/admin", "admin"),
    ("/admin/<path:rest>", "admin"),
    ("/reports", "reports"),
    ("/items/<item>", "items"),
    ("/status", "status"),
    ("/docs/<path:rest>", "docs"),
    ("/public/<path:rest>", "public"),
    ("/files/<path:rest>", "files"),
    ("/api/<path:rest>", "api"),
    ("/me", "me"),
    ("/healthz", "healthz"),
]:
    app.add_url_rule(rule, view_func=report(route), methods=METHODS)


@app.errorhandler(404)
@app.errorhandler(405)
@app.errorhandler(400)
def not_a_handler(_):
    return jsonify(route=None), 404


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def main():
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    kind = sys.argv[1] if len(sys.argv) > 1 else "werkzeug"
    if kind == "wsgiref":
        server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
        print(f"listening {server.server_port}", flush=True)
        server.serve_forever()
    else:
        from werkzeug.serving import make_server as werkzeug_server

        server = werkzeug_server("127.0.0.1", 0, app, threaded=True)
        print(f"listening {server.server_port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
