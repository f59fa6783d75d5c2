"""Every GraphQL document the gateway sends, in one place. ``ALL_DOCUMENTS`` lists them all;
tests/integrations/shopify validates each against the emulator's schema
(sandbox/shopify/schema.graphql, Shopify's names) with graphql-core, so a field that Shopify's
Admin API (the subset we emulate) does not have fails a test, not a production call.

Costs (the emulator's static estimate, docs/sandbox-shopify.md) stay well under Shopify's
single-query maximum of 1,000 points: ``ORDER`` is about 700, ``ORDERS`` (50 summaries) 250.
"""

from __future__ import annotations

MONEY = "shopMoney { amount currencyCode }"

ORDER_SUMMARY_FIELDS = f"""
fragment OrderSummaryFields on Order {{
  id
  name
  createdAt
  updatedAt
  cancelledAt
  cancelReason
  sourceName
  sourceIdentifier
  tags
  currencyCode
  displayFinancialStatus
  displayFulfillmentStatus
  totalPriceSet {{ {MONEY} }}
  totalRefundedSet {{ {MONEY} }}
}}
"""

ORDER_FIELDS = f"""
fragment OrderFields on Order {{
  ...OrderSummaryFields
  lineItems(first: 30) {{
    nodes {{
      id sku title quantity currentQuantity unfulfilledQuantity
      originalUnitPriceSet {{ {MONEY} }}
    }}
  }}
  fulfillmentOrders(first: 2) {{
    nodes {{
      id status
      lineItems(first: 30) {{
        nodes {{ id totalQuantity remainingQuantity lineItem {{ id sku }} }}
      }}
    }}
  }}
  fulfillments(first: 5) {{
    id status createdAt
    trackingInfo(first: 3) {{ company number url }}
    fulfillmentLineItems(first: 20) {{ nodes {{ quantity lineItem {{ id sku }} }} }}
  }}
  refunds(first: 5) {{
    id createdAt note
    totalRefundedSet {{ {MONEY} }}
    refundLineItems(first: 20) {{ nodes {{ quantity restockType lineItem {{ id sku }} }} }}
  }}
  transactions(first: 10) {{ id kind status gateway amountSet {{ {MONEY} }} }}
}}
{ORDER_SUMMARY_FIELDS}
"""

SHOP = """
query shop {
  shop { name myshopifyDomain currencyCode ianaTimezone }
}
"""

ORDER = (
    """
query order($id: ID!) {
  order(id: $id) { ...OrderFields }
}
"""
    + ORDER_FIELDS
)

FIND_ORDER = (
    """
query findOrder($query: String!) {
  orders(first: 1, query: $query) { nodes { ...OrderFields } }
}
"""
    + ORDER_FIELDS
)

# The mirror's look-up before creating an order: the summary only (a few points, where the
# full order's requested cost is hundreds), enough to know it exists, its id and name.
FIND_ORDER_SUMMARY = (
    """
query findOrderSummary($query: String!) {
  orders(first: 1, query: $query) { nodes { ...OrderSummaryFields } }
}
"""
    + ORDER_SUMMARY_FIELDS
)

ORDERS = (
    """
query orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    nodes { ...OrderSummaryFields }
    pageInfo { hasNextPage endCursor }
  }
}
"""
    + ORDER_SUMMARY_FIELDS
)

ORDER_CREATE = """
mutation orderCreate($order: OrderCreateOrderInput!, $options: OrderCreateOptionsInput) {
  orderCreate(order: $order, options: $options) {
    order { id name }
    userErrors { field message code }
  }
}
"""

FULFILLMENT_CREATE = """
mutation fulfillmentCreate($fulfillment: FulfillmentInput!, $message: String) {
  fulfillmentCreate(fulfillment: $fulfillment, message: $message) {
    fulfillment { id status }
    userErrors { field message }
  }
}
"""

REFUND_CREATE = """
mutation refundCreate($input: RefundInput!) {
  refundCreate(input: $input) {
    refund { id }
    userErrors { field message }
  }
}
"""

ORDER_CANCEL = """
mutation orderCancel(
  $orderId: ID!
  $reason: OrderCancelReason!
  $refund: Boolean!
  $restock: Boolean!
  $staffNote: String
) {
  orderCancel(
    orderId: $orderId
    reason: $reason
    refund: $refund
    restock: $restock
    notifyCustomer: false
    staffNote: $staffNote
  ) {
    job { id done }
    orderCancelUserErrors { field message code }
  }
}
"""

WEBHOOK_SUBSCRIPTIONS = """
query webhookSubscriptions($first: Int!, $after: String) {
  webhookSubscriptions(first: $first, after: $after) {
    nodes {
      id topic
      endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""

WEBHOOK_SUBSCRIPTION_CREATE = """
mutation webhookSubscriptionCreate(
  $topic: WebhookSubscriptionTopic!
  $webhookSubscription: WebhookSubscriptionInput!
) {
  webhookSubscriptionCreate(topic: $topic, webhookSubscription: $webhookSubscription) {
    webhookSubscription {
      id topic
      endpoint { __typename ... on WebhookHttpEndpoint { callbackUrl } }
    }
    userErrors { field message }
  }
}
"""

ALL_DOCUMENTS: dict[str, str] = {
    "shop": SHOP,
    "order": ORDER,
    "findOrder": FIND_ORDER,
    "findOrderSummary": FIND_ORDER_SUMMARY,
    "orders": ORDERS,
    "orderCreate": ORDER_CREATE,
    "fulfillmentCreate": FULFILLMENT_CREATE,
    "refundCreate": REFUND_CREATE,
    "orderCancel": ORDER_CANCEL,
    "webhookSubscriptions": WEBHOOK_SUBSCRIPTIONS,
    "webhookSubscriptionCreate": WEBHOOK_SUBSCRIPTION_CREATE,
}
