"""
Publish a new blog post to every browser showing examples/blog.py's page: what
a web application does when a post is saved (Ratchet's push-integration tutorial).

    python examples/post_blog.py "Hello, world" --url redis://127.0.0.1:6379/0
    python examples/post_blog.py "Hello" --url http://127.0.0.1:8080/publish --secret-file publish.secret
"""

import argparse
import json
import sys
import time
from collections.abc import Sequence

from ratchetpy.push import PushError, publish


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Publish a new blog post to the blog's readers.")
    parser.add_argument("title")
    parser.add_argument("--link", default="https://example.com/blog/", help="the post's address")
    parser.add_argument(
        "--url", default="redis://127.0.0.1:6379/0", help="the servers' --broker, or a publish endpoint"
    )
    parser.add_argument("--channel", default="blog")
    parser.add_argument("--secret-file", help="the publish endpoint's secret (with an http:// --url)")
    args = parser.parse_args(argv)
    post = json.dumps({"title": args.title, "url": args.link, "at": int(time.time())})
    secret = None
    if args.secret_file:
        with open(args.secret_file, encoding="utf-8") as f:
            secret = f.read().strip()
    try:
        receivers = publish(args.url, args.channel, post, secret=secret)
    except PushError as exc:
        print(f"post_blog: {exc}", file=sys.stderr)
        return 1
    print(f"published: {receivers} subscribed receiver(s) got it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
