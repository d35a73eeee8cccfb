"""The HTTP floor: a bare ASGI callable that reads the request body and answers a constant
JSON body. Served by the same uvicorn/httptools/uvloop as `mlops serve`:

  uvicorn floor_app:app --workers 2 --loop uvloop --http httptools --no-access-log
"""

_BODY = b'{"predictions":[0]}'
_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())],
}
_END = {"type": "http.response.body", "body": _BODY}


async def app(scope, receive, send):
    if scope["type"] != "http":  # lifespan: accept startup and shutdown
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:  # consume the whole body, as a real handler would
        message = await receive()
        more = message.get("more_body", False)
    await send(_START)
    await send(_END)
