"""Words and numbers as each shop writes them: slugs, price formats, German category names and titles."""

from __future__ import annotations

import html
import re
import unicodedata

_GERMAN_LETTERS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss"})

# Kaufhaus Lindner's names for our leaf categories.
GERMAN_CATEGORY_NAMES = {
    "Headphones": "Kopfhörer",
    "Bluetooth Speakers": "Bluetooth-Lautsprecher",
    "Soundbars": "Soundbars",
    "Laptops": "Notebooks",
    "Monitors": "Monitore",
    "Keyboards & Mice": "Tastaturen & Mäuse",
    "External Storage": "Externe Speicher",
    "Smartphones": "Smartphones",
    "Tablets": "Tablets",
    "Televisions": "Fernseher",
    "Smartwatches": "Smartwatches",
    "Coffee Machines": "Kaffeemaschinen",
    "Kettles": "Wasserkocher",
    "Blenders": "Standmixer",
    "Frying Pans": "Bratpfannen",
    "Kitchen Knives": "Küchenmesser",
    "Vacuum Cleaners": "Staubsauger",
    "Dresses": "Kleider",
    "Jeans": "Jeans",
    "Sneakers": "Sneaker",
    "Backpacks": "Rucksäcke",
    "Running Shoes": "Laufschuhe",
    "Running Jackets": "Laufjacken",
    "Bike Helmets": "Fahrradhelme",
    "Yoga Mats": "Yogamatten",
    "Dumbbells": "Hanteln",
    "Tents": "Zelte",
    "Building Sets": "Bausätze",
    "Board Games": "Brettspiele",
    "Dolls & Action Figures": "Puppen & Actionfiguren",
    "Face Creams": "Gesichtscremes",
    "Fragrances": "Düfte",
    "Hair Dryers": "Haartrockner",
    "Shavers & Trimmers": "Rasierer & Trimmer",
    "Cordless Drills": "Akkuschrauber",
    "Lawn Mowers": "Rasenmäher",
    "Barbecues": "Grills",
    "Dog Food": "Hundefutter",
    "Scratching Posts": "Kratzbäume",
}

# Shortenings a German department store uses in its product names.
_GERMAN_WORDS = (
    (re.compile(r"\bNoise Cancelling\b"), "ANC"),
    (re.compile(r"\bWireless\b"), "Wirel."),
    (re.compile(r"\bBluetooth\b"), "BT"),
    (re.compile(r"\bProfessional\b"), "Prof."),
    (re.compile(r"\bStainless Steel\b"), "Edelstahl"),
    (re.compile(r"\bCordless\b"), "Akku"),
    (re.compile(r"\bBlack\b"), "schwarz"),
    (re.compile(r"\bWhite\b"), "weiß"),
    (re.compile(r"\bSilver\b"), "silber"),
    (re.compile(r"\bRed\b"), "rot"),
    (re.compile(r"\bBlue\b"), "blau"),
    (re.compile(r"\bGrey\b"), "grau"),
    (re.compile(r"\bEU (\d{2})\b"), r"Gr. \1"),
    (re.compile(r'(\d+(?:\.\d+)?)"'), r"\1 Zoll"),
    (re.compile(r"(\d+) (GB|TB)\b"), r"\1\2"),
    (re.compile(r" / "), "/"),
)


def slug(text: str) -> str:
    """ASCII, lower case, words joined by hyphens; German umlauts spelled out ("Rasenmäher" -> "rasenmaeher")."""
    ascii_text = unicodedata.normalize("NFKD", text.translate(_GERMAN_LETTERS)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def esc(text: str) -> str:
    return html.escape(text, quote=True)


def _grouped(minor: int, thousands: str, decimal: str) -> str:
    units, cents = divmod(minor, 100)
    return f"{units:,}".replace(",", thousands) + f"{decimal}{cents:02d}"


def euro_english(minor: int) -> str:
    """ "€1,299.00"."""
    return "€" + _grouped(minor, ",", ".")


def euro_code(minor: int) -> str:
    """ "EUR 1,299.00"."""
    return "EUR " + _grouped(minor, ",", ".")


def euro_german(minor: int) -> str:
    """ "1.299,00 €" (a no-break space before the sign, as German shops print it)."""
    return _grouped(minor, ".", ",") + "\u00a0€"


def machine_amount(minor: int) -> str:
    """ "1299.00": the schema.org form of a price."""
    units, cents = divmod(minor, 100)
    return f"{units}.{cents:02d}"


def german_title(brand: str, series: str, line: str, variants: tuple[str, ...], reorder: bool) -> str:
    """Our product's name as Kaufhaus Lindner writes it: words shortened and translated, sometimes reordered."""
    core = f"{brand} {line} {series}" if reorder else f"{brand} {series} {line}"
    text = f"{core} ({', '.join(variants)})" if variants else core
    for pattern, replacement in _GERMAN_WORDS:
        text = pattern.sub(replacement, text)
    return " ".join(text.split())
