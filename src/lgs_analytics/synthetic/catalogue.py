"""Product catalogue of the synthetic gift shop: codes, descriptions, price tiers, popularity.

Products come in themes (``RED RETROSPOT``, ``WOODLAND``...) so that baskets have the
co-purchase structure that association rules look for; each stock code keeps one
description and at most three prices (single unit, normal, bulk) for the whole period.
Service codes (postage, fees, manual entries) are catalogue entries too, priced per use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lgs_analytics.landing.raw_layout import is_service_code

# (item, typical price in pence, pack size)
_ITEMS = (
    ("JUMBO BAG", 195, 10),
    ("LUNCH BAG", 165, 10),
    ("CHARLOTTE BAG", 85, 10),
    ("SHOPPER BAG", 125, 10),
    ("CAKE CASES", 55, 24),
    ("PAPER NAPKINS", 85, 12),
    ("PAPER PLATES", 85, 12),
    ("PAPER CUPS", 85, 12),
    ("PARTY BUNTING", 495, 4),
    ("CAKESTAND 3 TIER", 1275, 1),
    ("CAKE STAND", 995, 2),
    ("T-LIGHT HOLDER", 295, 6),
    ("HANGING T-LIGHT HOLDER", 125, 12),
    ("LANTERN", 495, 4),
    ("TEA TOWEL", 295, 6),
    ("MUG", 125, 12),
    ("CUP AND SAUCER", 295, 6),
    ("TEAPOT", 795, 2),
    ("PLATE", 165, 12),
    ("BOWL", 125, 12),
    ("CHILDRENS CUTLERY SET", 425, 4),
    ("HOT WATER BOTTLE", 425, 4),
    ("DOORMAT", 795, 2),
    ("WALL CLOCK", 850, 2),
    ("ALARM CLOCK BAKELIKE", 375, 4),
    ("GLASS JAR", 295, 6),
    ("STORAGE TIN", 295, 6),
    ("BISCUIT TIN", 495, 4),
    ("GIFT WRAP", 42, 25),
    ("GIFT TAPE", 65, 12),
    ("CUSHION COVER", 375, 4),
    ("TRINKET BOX", 125, 12),
    ("HANGING DECORATION", 85, 12),
    ("HANGING HEART", 125, 12),
    ("PICTURE FRAME", 295, 6),
    ("CANDLE", 125, 12),
    ("APRON", 495, 3),
    ("OVEN GLOVE", 295, 6),
    ("PURSE", 250, 6),
    ("COIN PURSE", 65, 12),
    ("NOTEBOOK", 165, 12),
    ("PENCILS", 42, 24),
    ("STICKER SHEET", 85, 12),
    ("GREETING CARD", 42, 12),
    ("JIGSAW", 165, 12),
    ("FRIDGE MAGNET", 42, 12),
    ("METAL SIGN", 210, 12),
    ("PHOTO ALBUM", 495, 4),
    ("PLASTERS IN TIN", 165, 12),
    ("LUNCH BOX", 195, 12),
    ("RECIPE BOX", 295, 6),
    ("MEMO BOARD", 495, 4),
    ("PARTY BAGS", 85, 12),
    ("WATERING CAN", 250, 6),
    ("BIRD FEEDER", 295, 6),
    ("FELTCRAFT DOLL", 375, 6),
    ("BAUBLE", 65, 12),
    ("PAPER CHAIN KIT", 295, 6),
    ("DRAWER KNOB", 125, 12),
    ("COAT RACK", 675, 2),
    ("KEY CABINET", 995, 2),
    ("ENAMEL BREAD BIN", 1275, 1),
    ("PLANT POT", 125, 12),
    ("SNACK BOX", 250, 6),
    ("WASHBAG", 295, 6),
)
_THEMES = (
    "RED RETROSPOT",
    "PINK POLKADOT",
    "BLUE POLKADOT",
    "VINTAGE PAISLEY",
    "REGENCY",
    "SKULLS",
    "WOODLAND",
    "DOLLY GIRL",
    "SPACEBOY",
    "ENGLISH ROSE",
    "VINTAGE LEAF",
    "JAM MAKING",
    "PANTRY",
    "LOVE BIRD",
    "HEART OF WICKER",
    "STRAWBERRY",
    "BIRDHOUSE",
    "FAIRY CAKE",
    "ALPHABET",
    "DINOSAUR",
    "CIRCUS PARADE",
    "SCANDINAVIAN",
    "GINGHAM",
    "UNION JACK",
    "SWEETHEART",
    "PARISIENNE",
    "DOILY",
    "GREEN REGENCY",
    "ROSES",
    "HAPPY STENCIL",
    "IVORY",
    "BAROQUE",
    "FLORAL FOLK",
    "LOVE LONDON",
    "RABBIT",
    "TOADSTOOL",
    "CHRISTMAS",
    "VINTAGE CHRISTMAS",
    "SNOWFLAKE",
    "REINDEER",
)
_CHRISTMAS_THEMES = frozenset({"CHRISTMAS", "VINTAGE CHRISTMAS", "SNOWFLAKE", "REINDEER"})
_SIZES = ("SMALL", "LARGE", "JUMBO", "MINI", "SET OF 3", "SET OF 6")
_PRICE_POINTS = np.array(
    [
        *(10, 12, 14, 17, 19, 21, 25, 29, 32, 36, 39, 42, 46, 55, 59, 65, 72, 79, 85, 95, 104),
        *(110, 125, 145, 165, 185, 195, 210, 250, 255, 295, 325, 375, 395, 425, 450, 495, 550),
        *(595, 675, 750, 795, 850, 995, 1065, 1275, 1495, 1695, 1995, 2495, 2995, 3995),
    ]
)
# (code, description, normal price in pence, pack size, popularity multiple of the median)
_FAMOUS = (
    ("85123A", "WHITE HANGING HEART T-LIGHT HOLDER", 255, 6, 45.0),
    ("22423", "REGENCY CAKESTAND 3 TIER", 1275, 1, 30.0),
    ("85099B", "JUMBO BAG RED RETROSPOT", 195, 10, 30.0),
    ("84879", "ASSORTED COLOUR BIRD ORNAMENT", 169, 8, 25.0),
    ("47566", "PARTY BUNTING", 495, 4, 22.0),
    ("21212", "PACK OF 72 RETROSPOT CAKE CASES", 55, 24, 22.0),
    ("20725", "LUNCH BAG RED RETROSPOT", 165, 10, 20.0),
    ("84077", "WORLD WAR 2 GLIDERS ASSTD DESIGNS", 29, 48, 15.0),
    ("22197", "POPCORN HOLDER", 85, 12, 15.0),
    ("21232", "STRAWBERRY CERAMIC TRINKET BOX", 125, 12, 15.0),
    ("23166", "MEDIUM CERAMIC TOP STORAGE JAR", 125, 12, 6.0),
    ("23843", "PAPER CRAFT , LITTLE BIRDIE", 208, 1, 0.0),  # only ever in one huge order
    ("22086", "PAPER CHAIN KIT 50'S CHRISTMAS ", 295, 6, 12.0),
    ("DCGS0003", "BOXED GLASS ASHTRAY", 395, 4, 0.3),
    ("DCGS0069", "OOH LA LA DOGS COLLAR", 295, 6, 0.3),
    ("DCGS0070", "CAMOUFLAGE DOG COLLAR", 295, 6, 0.3),
    ("DCGS0076", "SUNJAR LED NIGHT NIGHT LIGHT", 295, 6, 0.3),
    ("DCGSSBOY", "BOYS PARTY BAG", 125, 12, 0.3),
    ("DCGSSGIRL", "GIRLS PARTY BAG", 125, 12, 0.3),
    ("SP1002", "KID'S CHALKBOARD/EASEL", 295, 4, 0.3),
    ("PADS", "PADS TO MATCH ALL CUSHIONS", 0, 1, 0.3),  # priced 0.001 below
    ("22821", 'WOODEN SIGN "HOME SWEET HOME"', 295, 6, 1.0),
    ("22822", 'SET 3 "SUMMER DAISY" TEA TOWELS', 325, 6, 1.0),
)
HUGE_ORDER_CODES = ("23166", "23843")
# Service / non-product codes: description, and whether order lines may carry them.
SERVICE_DESCRIPTIONS = {
    "POST": "POSTAGE",
    "DOT": "DOTCOM POSTAGE",
    "C2": "CARRIAGE",
    "C3": "CARRIAGE (EXPRESS)",
    "M": "Manual",
    "ADJUST": "Adjustment by john on 26/01/2010 16",
    "ADJUST2": "Adjustment by Peter on Jun 25 2010 ",
    "B": "Adjust bad debt",
    "AMAZONFEE": "AMAZON FEE",
    "BANK CHARGES": "Bank Charges",
    "CRUK": "CRUK Commission",
    "D": "Discount",
    "S": "SAMPLES",
    "TEST001": "This is a test product.",
    "TEST002": "This is a test product.",
    "GIFT": "GIFT VOUCHER",
    "gift_0001_10": "Dotcomgiftshop Gift Voucher £10.00",
    "gift_0001_20": "Dotcomgiftshop Gift Voucher £20.00",
    "gift_0001_30": "Dotcomgiftshop Gift Voucher £30.00",
    "gift_0001_40": "Dotcomgiftshop Gift Voucher £40.00",
    "gift_0001_50": "Dotcomgiftshop Gift Voucher £50.00",
}
_CHRISTMAS_SEASON = np.array([0.1, 0.05, 0.05, 0.05, 0.1, 0.15, 0.3, 0.6, 1.6, 2.4, 2.6, 1.2])


@dataclass(frozen=True)
class Catalogue:
    """Column arrays, one entry per stock code (products first, then service codes)."""

    codes: list[str]
    descriptions: list[str]
    theme: np.ndarray  # -1 outside themes
    pack: np.ndarray
    price_single: np.ndarray  # milli-pounds, quantity below one pack
    price_normal: np.ndarray
    price_bulk: np.ndarray  # quantity of at least bulk_min
    bulk_min: np.ndarray
    base_weight: np.ndarray  # 0 for codes never drawn into ordinary baskets
    trend: np.ndarray  # log growth per year
    available_from: np.ndarray  # day index
    available_to: np.ndarray  # day index, exclusive
    christmas: np.ndarray
    is_service: np.ndarray
    plain_description: np.ndarray  # no comma, quote or trailing space: safe for broken lines

    @property
    def size(self) -> int:
        """Number of stock codes."""
        return len(self.codes)

    def index_of(self, code: str) -> int:
        """Catalogue index of a stock code."""
        return self.codes.index(code)

    @property
    def n_themes(self) -> int:
        """Number of basket themes."""
        return len(_THEMES)

    def month_weights(self, month_start_days: np.ndarray) -> np.ndarray:
        """Popularity per (month, product): trend, Christmas season and availability."""
        days = month_start_days[:, None] + 14  # mid-month
        years = days / 365.25
        weights = self.base_weight[None, :] * np.exp(self.trend[None, :] * (years - 1.0))
        calendar_month = (np.arange(len(month_start_days)) + 11) % 12  # index 0 = December
        season = np.where(self.christmas[None, :], _CHRISTMAS_SEASON[calendar_month][:, None], 1)
        available = (days >= self.available_from[None, :]) & (days < self.available_to[None, :])
        return weights * season * available


def build_catalogue(rng: np.random.Generator, n_products: int, n_days: int) -> Catalogue:
    """A deterministic catalogue of about ``n_products`` products plus the service codes."""
    rows = _famous_rows() + _generated_rows(rng, n_products - len(_FAMOUS))
    rows += [(code, desc, -1, 0, 1, 0.0, False) for code, desc in SERVICE_DESCRIPTIONS.items()]
    codes = [row[0] for row in rows]
    descriptions = [row[1] for row in rows]
    theme = np.array([row[2] for row in rows])
    normal_pence = np.array([row[3] for row in rows])
    pack = np.array([row[4] for row in rows])
    popularity = np.array([row[5] for row in rows])
    christmas = np.array([row[6] for row in rows])
    n = len(rows)
    n_famous = len(_FAMOUS)
    generated = np.zeros(n, dtype=bool)
    generated[n_famous : n - len(SERVICE_DESCRIPTIONS)] = True
    base_weight = np.where(generated, rng.lognormal(0.0, 1.25, n), popularity)
    normal_pence = np.where(generated, _jitter_prices(rng, normal_pence), normal_pence)
    price_normal, price_single, price_bulk = _price_tiers(normal_pence)
    pads = codes.index("PADS")
    price_normal[pads] = price_single[pads] = price_bulk[pads] = 1  # the real 0.001 price
    available_from, available_to = _lifecycles(rng, generated, n_days)
    is_service = np.array([is_service_code(code) for code in codes])
    plain = np.array([not any(c in d for c in ',"') and d == d.strip() for d in descriptions])
    return Catalogue(
        codes=codes,
        descriptions=descriptions,
        theme=theme,
        pack=pack,
        price_single=price_single,
        price_normal=price_normal,
        price_bulk=price_bulk,
        bulk_min=np.maximum(pack * 4, 24),
        base_weight=np.where(is_service, 0.0, base_weight),
        trend=np.where(generated, rng.normal(0.0, 0.4, n), 0.0),
        available_from=available_from,
        available_to=available_to,
        christmas=christmas,
        is_service=is_service,
        plain_description=plain & ~is_service,
    )


def _famous_rows() -> list[tuple]:
    rows = []
    for code, description, pence, pack, popularity in _FAMOUS:
        theme = next((i for i, name in enumerate(_THEMES) if name in description), -1)
        rows.append((code, description, theme, pence, pack, popularity, "CHRISTMAS" in description))
    return rows


def _generated_rows(rng: np.random.Generator, count: int) -> list[tuple]:
    """Theme x item products with unique descriptions and 5-digit codes (letter variants)."""
    reserved = {code[:5] for code, *_ in _FAMOUS}
    seen = {description for _, description, *_ in _FAMOUS}
    draws = 2 * count + 100  # spare draws for descriptions that already exist
    themes = rng.integers(len(_THEMES), size=draws)
    items = rng.integers(len(_ITEMS), size=draws)
    forms = rng.random(draws)
    sizes = rng.integers(len(_SIZES), size=draws)
    trailing = rng.random(draws) < 0.06
    variant = rng.random(draws) < 0.27
    lettered = rng.random(draws) < 0.27
    bases = iter(str(code) for code in rng.permutation(np.arange(10002, 90215)))
    rows: list[tuple] = []
    base, letter, item = "", 0, 0
    for k in range(draws):
        # About a quarter of codes are other colours/patterns of the previous item: 85099B, C...
        is_variant = bool(base) and letter < 12 and variant[k]
        item = item if is_variant else int(items[k])
        name, pence, pack = _ITEMS[item]
        theme = _THEMES[themes[k]]
        description = _describe(theme, name, forms[k], _SIZES[sizes[k]], trailing[k])
        if description in seen:
            continue
        seen.add(description)
        if is_variant:
            letter += 1
            code = f"{base}{chr(ord('A') + letter)}"
        else:
            base = next(b for b in bases if b not in reserved)
            letter = 0
            code = f"{base}A" if lettered[k] else base
        rows.append(
            (code, description, int(themes[k]), pence, pack, 1.0, theme in _CHRISTMAS_THEMES)
        )
        if len(rows) == count:
            break
    return rows


def _describe(theme: str, item: str, form: float, size: str, trailing: bool) -> str:
    """Real-looking descriptions: word orders vary, a few carry commas or a trailing space."""
    if form < 0.45:
        text = f"{item} {theme}"
    elif form < 0.9:
        text = f"{theme} {item}"
    elif form < 0.99:
        text = f"{size} {theme} {item}"
    else:
        text = f"{item} {theme}, {size}"
    return text + " " if trailing else text


def _price_tiers(normal_pence: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Snap to shop price points; single units cost one point more, bulk one point less."""
    position = np.searchsorted(_PRICE_POINTS, normal_pence)
    position = np.clip(position, 0, len(_PRICE_POINTS) - 1)
    normal = np.where(normal_pence > 0, _PRICE_POINTS[position], 0)
    single = np.where(
        normal_pence > 0, _PRICE_POINTS[np.minimum(position + 1, len(_PRICE_POINTS) - 1)], 0
    )
    bulk = np.where(normal_pence > 0, _PRICE_POINTS[np.maximum(position - 1, 0)], 0)
    return normal * 10, single * 10, bulk * 10


def _lifecycles(rng: np.random.Generator, generated: np.ndarray, n_days: int):
    """A quarter of products launch during the period and some are discontinued."""
    n = len(generated)
    launches = generated & (rng.random(n) < 0.25)
    stops = generated & (rng.random(n) < 0.12)
    available_from = np.where(launches, rng.integers(0, n_days - 60, n), -10_000)
    available_to = np.where(stops, available_from.clip(0) + rng.integers(60, n_days, n), 10_000)
    return available_from, available_to


def _jitter_prices(rng: np.random.Generator, normal_pence: np.ndarray) -> np.ndarray:
    """Spread item prices around the item's typical price before snapping to price points."""
    return np.maximum(5, np.round(normal_pence * rng.lognormal(-0.15, 0.3, len(normal_pence))))
