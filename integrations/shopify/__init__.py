"""The Shopify gateway: ShopifyAPI's GraphQL client behind our types and errors.

``integrations.shopify`` is the only code that imports ``shopify`` (the ShopifyAPI package).
"""
