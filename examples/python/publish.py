"""Publish to a Lifeline channel from Python with one HTTP call (PROTOCOL.md §3.5).

Standard library only. Every browser subscribed to the channel gets the message at once:

    python3 publish.py http://127.0.0.1:5000 results '{"step": 3, "value": 0.42}'

The API key comes from the LIFELINE_API_KEY environment variable (the same one given to
`lifeline serve --api-key`). Exit status 0 on success; on failure the server's error code
and message go to stderr and the status is 1.
"""

import json
import os
import sys
import urllib.error
import urllib.request


def publish(base_url: str, channel: str, data, api_key: str, key: str | None = None, timeout: float = 5.0) -> dict:
    """Publishes `data` (any JSON value) on `channel`; returns {"channel", "offset", "epoch"}."""
    body = {"channel": channel, "data": data}
    if key is not None:
        body["key"] = key
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/publish",
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "Authorization": "Bearer " + api_key},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def main() -> int:
    if len(sys.argv) != 4:
        print("usage: publish.py BASE_URL CHANNEL JSON_DATA", file=sys.stderr)
        return 2
    base_url, channel, raw = sys.argv[1:]
    api_key = os.environ.get("LIFELINE_API_KEY")
    if not api_key:
        print("set LIFELINE_API_KEY to the key given to lifeline serve --api-key", file=sys.stderr)
        return 2
    try:
        result = publish(base_url, channel, json.loads(raw), api_key)
    except urllib.error.HTTPError as error:
        detail = json.load(error).get("error", {})
        print(f"{error.code} {detail.get('code')}: {detail.get('message')}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
