# SPDX-License-Identifier: Apache-2.0
"""A websocket echo origin for the upgrade tests (python3-websockets, Debian's package).

Usage: ws_origin.py PORT_FILE — listens on 127.0.0.1:0, writes the port to PORT_FILE, then
serves until killed. On each connection it first sends one text message: JSON with the
request path and headers it received (lower-case names), then echoes every message back
unchanged (text stays text, binary stays binary). A message "close" makes it close the
connection with code 4000 (the origin ending the tunnel)."""
import asyncio
import json
import sys

import websockets


async def handler(ws, path=None):
    hdrs = {k.lower(): v for k, v in ws.request_headers.raw_items()}
    await ws.send(json.dumps({"path": ws.path, "headers": hdrs}))
    async for msg in ws:
        if msg == "close":
            await ws.close(code=4000, reason="origin closes")
            return
        await ws.send(msg)


async def main(port_file):
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None,
                                compression=None) as server:
        port = server.sockets[0].getsockname()[1]
        with open(port_file + ".tmp", "w") as f:
            f.write(str(port))
        import os
        os.rename(port_file + ".tmp", port_file)
        await asyncio.Future()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
