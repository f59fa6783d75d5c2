"""Shopify Admin GraphQL emulator (docs/sandbox-shopify.md)."""
