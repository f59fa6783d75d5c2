"""A stateful stand-in for Amazon's Selling Partner API, served over real HTTP on loopback.

Start it with ``python manage.py run_amazon_sandbox`` (or ``sandbox.amazon.testing`` in tests)
and point the real python-amazon-sp-api client classes at it: see docs/sandbox-amazon.md.
"""
