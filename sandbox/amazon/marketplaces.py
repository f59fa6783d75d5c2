"""Marketplaces the emulator knows, with what realistic orders need: currency (and its minor
unit), whether prices include tax, order-id prefixes, carriers and a little local colour."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Place:
    city: str
    region: str
    postal_code: str


@dataclass(frozen=True)
class Marketplace:
    marketplace_id: str
    country: str
    name: str  # SalesChannel, e.g. "Amazon.com"
    currency: str
    tax_included: bool  # EU/UK/JP style: ItemPrice includes the tax shown in ItemTax
    tax_rate: Decimal
    order_prefixes: tuple[str, ...]
    afn_carrier: str
    carriers: tuple[str, ...]
    first_names: tuple[str, ...]
    last_names: tuple[str, ...]
    streets: tuple[str, ...]
    places: tuple[Place, ...]
    phone_prefix: str
    price_scale: Decimal = Decimal(1)  # typical prices are USD-like prices times this
    extra: dict = field(default_factory=dict)

    @property
    def exponent(self) -> int:
        return currency_exponent(self.currency)


ZERO_DECIMAL_CURRENCIES = frozenset({"JPY", "KRW", "CLP", "VND", "ISK"})


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point (JPY has no minor unit)."""
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else 2


def quantize(amount: Decimal, currency: str) -> Decimal:
    exp = Decimal(1).scaleb(-currency_exponent(currency))
    return Decimal(amount).quantize(exp, rounding=ROUND_HALF_UP)


def format_amount(amount: Decimal, currency: str) -> str:
    """Amazon's string amount: "12.30" for USD, "1980" for JPY."""
    return f"{quantize(amount, currency):f}"


def amount_has_valid_precision(amount: Decimal, currency: str) -> bool:
    return amount == quantize(amount, currency)


_EN_FIRST = ("James", "Mary", "Robert", "Patricia", "Michael", "Linda", "David", "Susan", "Emma")
_EN_LAST = ("Smith", "Johnson", "Brown", "Miller", "Davis", "Wilson", "Taylor", "Clark", "Hall")

MARKETPLACES: dict[str, Marketplace] = {
    m.marketplace_id: m
    for m in [
        Marketplace(
            "ATVPDKIKX0DER",
            "US",
            "Amazon.com",
            "USD",
            False,
            Decimal("0.0725"),
            ("111", "112", "113", "114"),
            "AMZN_US",
            ("UPS", "USPS", "FedEx"),
            _EN_FIRST,
            _EN_LAST,
            ("Main St", "Oak Ave", "Pine Rd", "Maple Dr", "Cedar Ln", "Elm St"),
            (
                Place("Seattle", "WA", "98109"),
                Place("Austin", "TX", "78701"),
                Place("Columbus", "OH", "43215"),
                Place("Denver", "CO", "80202"),
                Place("Portland", "OR", "97205"),
            ),
            "+1 206-555-",
        ),
        Marketplace(
            "A2EUQ1WTGCTBG2",
            "CA",
            "Amazon.ca",
            "CAD",
            False,
            Decimal("0.13"),
            ("701", "702"),
            "AMZN_CA",
            ("Canada Post", "Purolator", "UPS"),
            _EN_FIRST,
            ("Tremblay", "Roy", "Gagnon", "Wilson", "MacDonald", "Lee"),
            ("King St W", "Yonge St", "Rue Sainte-Catherine", "Granville St"),
            (
                Place("Toronto", "ON", "M5H 2N2"),
                Place("Montreal", "QC", "H3B 4W8"),
                Place("Vancouver", "BC", "V6C 1T2"),
            ),
            "+1 416-555-",
            Decimal("1.35"),
        ),
        Marketplace(
            "A1AM78C64UM0Y8",
            "MX",
            "Amazon.com.mx",
            "MXN",
            True,
            Decimal("0.16"),
            ("701", "702"),
            "AMZN_MX",
            ("Estafeta", "DHL", "FedEx"),
            ("Sofía", "Santiago", "Valentina", "Mateo", "Camila", "Diego"),
            ("Hernández", "García", "Martínez", "López", "González"),
            ("Av. Reforma", "Calle Madero", "Av. Insurgentes Sur"),
            (Place("Ciudad de México", "CDMX", "06600"), Place("Guadalajara", "JAL", "44100")),
            "+52 55 5555 ",
            Decimal("18"),
        ),
        Marketplace(
            "A1F83G8C2ARO7P",
            "GB",
            "Amazon.co.uk",
            "GBP",
            True,
            Decimal("0.20"),
            ("202", "203", "204", "205", "206"),
            "AMZN_UK",
            ("Royal Mail", "DPD", "Evri"),
            ("Oliver", "Amelia", "George", "Isla", "Harry", "Ava"),
            ("Jones", "Williams", "Evans", "Thomas", "Roberts", "Wright"),
            ("High Street", "Station Road", "Church Lane", "Victoria Road"),
            (
                Place("London", "Greater London", "EC1A 1BB"),
                Place("Manchester", "Greater Manchester", "M1 1AE"),
                Place("Leeds", "West Yorkshire", "LS1 4AP"),
            ),
            "+44 20 7946 ",
            Decimal("0.8"),
        ),
        Marketplace(
            "A1PA6795UKMFR9",
            "DE",
            "Amazon.de",
            "EUR",
            True,
            Decimal("0.19"),
            ("302", "303", "304", "305", "306", "028"),
            "AMZN_DE",
            ("DHL", "Hermes", "DPD"),
            ("Lukas", "Mia", "Leon", "Hannah", "Finn", "Lena"),
            ("Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"),
            ("Hauptstraße", "Bahnhofstraße", "Gartenweg", "Schillerstraße"),
            (
                Place("Berlin", "Berlin", "10115"),
                Place("München", "Bayern", "80331"),
                Place("Köln", "Nordrhein-Westfalen", "50667"),
            ),
            "+49 30 5555 ",
            Decimal("0.95"),
        ),
        Marketplace(
            "A13V1IB3VIYZZH",
            "FR",
            "Amazon.fr",
            "EUR",
            True,
            Decimal("0.20"),
            ("402", "403", "404", "405", "406"),
            "AMZN_FR",
            ("La Poste", "Chronopost", "Colissimo"),
            ("Gabriel", "Louise", "Raphaël", "Jade", "Léo", "Ambre"),
            ("Martin", "Bernard", "Dubois", "Durand", "Leroy", "Moreau"),
            ("Rue de la Paix", "Avenue Victor Hugo", "Boulevard Voltaire"),
            (Place("Paris", "Île-de-France", "75002"), Place("Lyon", "Rhône", "69002")),
            "+33 1 55 55 ",
            Decimal("0.95"),
        ),
        Marketplace(
            "APJ6JRA9NG5V4",
            "IT",
            "Amazon.it",
            "EUR",
            True,
            Decimal("0.22"),
            ("402", "403", "404", "171"),
            "AMZN_IT",
            ("Poste Italiane", "BRT", "GLS"),
            ("Leonardo", "Sofia", "Francesco", "Giulia", "Alessandro", "Aurora"),
            ("Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano"),
            ("Via Roma", "Via Garibaldi", "Corso Italia"),
            (Place("Milano", "MI", "20121"), Place("Roma", "RM", "00184")),
            "+39 02 5555 ",
            Decimal("0.95"),
        ),
        Marketplace(
            "A1RKKUPIHCS9HS",
            "ES",
            "Amazon.es",
            "EUR",
            True,
            Decimal("0.21"),
            ("402", "403", "404", "171"),
            "AMZN_ES",
            ("Correos", "SEUR", "MRW"),
            ("Hugo", "Lucía", "Martín", "Sofía", "Pablo", "Martina"),
            ("García", "Rodríguez", "González", "Fernández", "López", "Sánchez"),
            ("Calle Mayor", "Gran Vía", "Calle de Alcalá"),
            (Place("Madrid", "Madrid", "28013"), Place("Barcelona", "Barcelona", "08002")),
            "+34 91 555 ",
            Decimal("0.95"),
        ),
        Marketplace(
            "A2NODRKZP88ZB9",
            "SE",
            "Amazon.se",
            "SEK",
            True,
            Decimal("0.25"),
            ("402", "403"),
            "AMZN_SE",
            ("PostNord", "DHL"),
            ("Alice", "William", "Maja", "Hugo", "Elsa", "Liam"),
            ("Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson"),
            ("Drottninggatan", "Storgatan", "Kungsgatan"),
            (
                Place("Stockholm", "Stockholm", "111 57"),
                Place("Göteborg", "Västra Götaland", "411 03"),
            ),
            "+46 8 555 ",
            Decimal("10.5"),
        ),
        Marketplace(
            "A1VC38T7YXB528",
            "JP",
            "Amazon.co.jp",
            "JPY",
            True,
            Decimal("0.10"),
            ("249", "250", "503"),
            "AMZN_JP",
            ("Yamato Transport", "Sagawa Express", "Japan Post"),
            ("Haruto", "Yui", "Sota", "Himari", "Yuto", "Mei"),
            ("Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito"),
            ("1-2-3 Shibuya", "4-5-6 Umeda", "7-8-9 Sakae"),
            (
                Place("Shibuya-ku", "Tokyo", "150-0002"),
                Place("Osaka-shi", "Osaka", "530-0001"),
                Place("Nagoya-shi", "Aichi", "460-0008"),
            ),
            "+81 3-5555-",
            Decimal("150"),
        ),
        # Amazon.sg: prices include GST (9% since 2024); cross-border sellers (the demo's
        # Thai one) sell here in SGD.
        Marketplace(
            "A19VAU5U5O7RUS",
            "SG",
            "Amazon.sg",
            "SGD",
            True,
            Decimal("0.09"),
            ("503", "171"),
            "AMZN_SG",
            ("Ninja Van", "SingPost", "J&T Express"),
            ("Wei Ling", "Jun Jie", "Siti", "Arjun", "Hui Min", "Darren"),
            ("Tan", "Lim", "Lee", "Ng", "Wong", "Rahman", "Kumar"),
            ("Orchard Road", "Tampines Avenue 4", "Jurong West Street 41"),
            (
                Place("Singapore", "Singapore", "238801"),
                Place("Singapore", "Singapore", "529510"),
            ),
            "+65 6555 ",
            Decimal("1.35"),
        ),
        Marketplace(
            "A39IBJ37TRP1C6",
            "AU",
            "Amazon.com.au",
            "AUD",
            True,
            Decimal("0.10"),
            ("250", "251"),
            "AMZN_AU",
            ("Australia Post", "StarTrack"),
            ("Oliver", "Charlotte", "Noah", "Olivia", "Jack", "Mia"),
            ("Smith", "Jones", "Williams", "Brown", "Wilson"),
            ("George St", "Collins St", "Queen St"),
            (Place("Sydney", "NSW", "2000"), Place("Melbourne", "VIC", "3000")),
            "+61 2 5555 ",
            Decimal("1.5"),
        ),
    ]
}

DEFAULT_MARKETPLACE_IDS = ["ATVPDKIKX0DER", "A2EUQ1WTGCTBG2", "A1AM78C64UM0Y8"]


def get(marketplace_id: str) -> Marketplace | None:
    return MARKETPLACES.get(marketplace_id)
