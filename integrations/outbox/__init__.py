"""The outbox: every external effect, written in the same transaction as the state change.

Services call ``enqueue(...)`` inside their transaction; a django-q2 worker delivers the message
right after commit, and a periodic sweep picks up anything missed. Delivery is at-least-once
with a stable idempotency key per message, so the effect happens once at the destination.
"""
