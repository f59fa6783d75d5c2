"""Amazon marketplaces we know: region, currency and the Seller Central host (rule R2)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Marketplace:
    marketplace_id: str
    country: str
    name: str
    region: str  # SP-API region: NA, EU, FE
    currency: str
    seller_central: str


MARKETPLACES: dict[str, Marketplace] = {
    m.marketplace_id: m
    for m in [
        Marketplace("ATVPDKIKX0DER", "US", "Amazon.com", "NA", "USD", "sellercentral.amazon.com"),
        Marketplace("A2EUQ1WTGCTBG2", "CA", "Amazon.ca", "NA", "CAD", "sellercentral.amazon.ca"),
        Marketplace(
            "A1AM78C64UM0Y8", "MX", "Amazon.com.mx", "NA", "MXN", "sellercentral.amazon.com.mx"
        ),
        Marketplace(
            "A2Q3Y263D00KWC", "BR", "Amazon.com.br", "NA", "BRL", "sellercentral.amazon.com.br"
        ),
        Marketplace(
            "A1F83G8C2ARO7P", "GB", "Amazon.co.uk", "EU", "GBP", "sellercentral.amazon.co.uk"
        ),
        Marketplace("A1PA6795UKMFR9", "DE", "Amazon.de", "EU", "EUR", "sellercentral.amazon.de"),
        Marketplace("A13V1IB3VIYZZH", "FR", "Amazon.fr", "EU", "EUR", "sellercentral.amazon.fr"),
        Marketplace("APJ6JRA9NG5V4", "IT", "Amazon.it", "EU", "EUR", "sellercentral.amazon.it"),
        Marketplace("A1RKKUPIHCS9HS", "ES", "Amazon.es", "EU", "EUR", "sellercentral.amazon.es"),
        Marketplace("A1805IZSGTT6HS", "NL", "Amazon.nl", "EU", "EUR", "sellercentral.amazon.nl"),
        Marketplace("A2NODRKZP88ZB9", "SE", "Amazon.se", "EU", "SEK", "sellercentral.amazon.se"),
        Marketplace("A1C3SOZRARQ6R3", "PL", "Amazon.pl", "EU", "PLN", "sellercentral.amazon.pl"),
        Marketplace(
            "A33AVAJ2PDY3EV", "TR", "Amazon.com.tr", "EU", "TRY", "sellercentral.amazon.com.tr"
        ),
        Marketplace("A2VIGQ35RCS4UG", "AE", "Amazon.ae", "EU", "AED", "sellercentral.amazon.ae"),
        Marketplace("A21TJRUUN4KGV", "IN", "Amazon.in", "EU", "INR", "sellercentral.amazon.in"),
        Marketplace(
            "A1VC38T7YXB528", "JP", "Amazon.co.jp", "FE", "JPY", "sellercentral.amazon.co.jp"
        ),
        Marketplace(
            "A39IBJ37TRP1C6", "AU", "Amazon.com.au", "FE", "AUD", "sellercentral.amazon.com.au"
        ),
        Marketplace("A19VAU5U5O7RUS", "SG", "Amazon.sg", "FE", "SGD", "sellercentral.amazon.sg"),
    ]
}

DEFAULT_SELLER_CENTRAL = "sellercentral.amazon.com"


def marketplace(marketplace_id: str) -> Marketplace | None:
    return MARKETPLACES.get(marketplace_id)


def seller_central_order_url(marketplace_id: str, amazon_order_id: str) -> str:
    known = MARKETPLACES.get(marketplace_id)
    host = known.seller_central if known else DEFAULT_SELLER_CENTRAL
    return f"https://{host}/orders-v3/order/{amazon_order_id}"
