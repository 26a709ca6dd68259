"""What the demo shop sells: its category tree and, per leaf category, brands, product lines, variants,
price range and gross margin. Pure data; demo.catalog turns it into products."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class VariantAxis:
    """An attribute a model comes in several values of (colour, size, capacity …)."""

    attribute: str
    values: tuple[str, ...]
    # How many values of the axis one model is offered in.
    picks: tuple[int, int]
    # Price of each value relative to the first, in per mille (capacity and size steps); None = same price.
    price_permille: tuple[int, ...] | None = None

    @property
    def ordered(self) -> bool:
        """Sizes and capacities come in consecutive runs; colours are any mix."""
        return self.price_permille is not None or self.attribute == "size"


@dataclass(frozen=True, slots=True)
class LeafSpec:
    """A leaf category and how its products look."""

    path: tuple[str, ...]
    brands: tuple[str, ...]
    lines: tuple[str, ...]
    series: tuple[str, ...]
    # Retail price range in whole euros of a model's entry variant (the first value of a priced axis).
    price_eur: tuple[int, int]
    # Gross margin range, (price - cost) / price, in per cent.
    margin_pct: tuple[int, int]
    axes: tuple[VariantAxis, ...] = ()
    # Attributes fixed per model (material, colour of single-colour lines …).
    fixed: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Relative share of the catalog.
    weight: int = 3


# The demo retailer's own label: never under a minimum advertised price.
HOUSE_BRANDS = frozenset({"Nordvik"})
PREMIUM_BRANDS = frozenset(
    {
        "Apple",
        "Bose",
        "Sennheiser",
        "Sonos",
        "Marshall",
        "Microsoft",
        "Garmin",
        "Jura",
        "Sage",
        "Miele",
        "Dyson",
        "Smeg",
        "Vitamix",
        "KitchenAid",
        "Fissler",
        "Le Creuset",
        "Wüsthof",
        "Global",
        "Tommy Hilfiger",
        "G-Star RAW",
        "Fjällräven",
        "Hoka",
        "On",
        "MSR",
        "Manduka",
        "Liforme",
        "Dior",
        "Chanel",
        "Armani",
        "ghd",
        "Clinique",
        "Weber",
        "Napoleon",
        "Stihl",
        "Milwaukee",
        "Husqvarna",
        "Royal Canin",
    }
)
BUDGET_BRANDS = frozenset(
    {
        "Nordvik",
        "Acer",
        "AOC",
        "TCL",
        "Hisense",
        "Xiaomi",
        "Amazfit",
        "Anker Soundcore",
        "Russell Hobbs",
        "Einhell",
        "Jack & Jones",
        "Vero Moda",
        "Gorilla Sports",
        "Capital Sports",
        "Remington",
        "Char-Broil",
        "Trixie",
        "Kerbl",
        "Coleman",
        "Nivea",
        "Ryobi",
        "Mega Bloks",
        "Simba",
        "Wrangler",
        "Kingston",
    }
)

_TECH_COLOURS = ("Black", "White", "Silver", "Space Grey", "Midnight Blue", "Graphite", "Rose Gold", "Sage Green")
_HOME_COLOURS = ("Black", "White", "Cream", "Red", "Pastel Green", "Anthracite", "Silver", "Pastel Blue")
_FASHION_COLOURS = ("Black", "Navy", "White", "Beige", "Olive", "Burgundy", "Grey Melange", "Dusty Pink", "Sky Blue")
_SPORT_COLOURS = ("Black", "Blue", "Red", "Orange", "Lime", "Grey", "Petrol", "White")
_APPAREL_SIZES = ("XS", "S", "M", "L", "XL", "XXL")
_SHOE_SIZES = tuple(f"EU {size}" for size in range(37, 48))

_TECH_SERIES = ("Pulse", "Aero", "Nova", "Studio", "Edge", "Flex", "Vision", "Core", "Ultra", "Prime")
_HOME_SERIES = ("Classic", "Signature", "Essential", "Premium", "Compact", "Heritage", "Pro", "Elegance")
_FASHION_SERIES = ("Essential", "Heritage", "Urban", "Riviera", "Nordic", "Studio", "Weekend", "Classic")
_SPORT_SERIES = ("Trail", "Tempo", "Velocity", "Summit", "Endurance", "Flow", "Apex", "Glide")
_TOY_SERIES = ("Adventure", "Explorer", "Junior", "Classic", "Deluxe", "Family", "Mini", "Mega")
_BEAUTY_SERIES = ("Hydra", "Pure", "Radiance", "Sensitive", "Intense", "Nuit", "Aqua", "Velvet")
_GARDEN_SERIES = ("Pro", "Power", "Easy", "Advanced", "Universal", "Compact", "Heavy Duty", "Premium")
_DOG_FOOD_SERIES = ("Adult", "Senior", "Puppy", "Sensitive", "Grain Free", "Active", "Light", "Large Breed")
_CAT_SERIES = ("Cosy", "Tower", "Comfort", "Classic", "Deluxe", "Lounge", "Jungle", "Castle")


def _colours(palette: tuple[str, ...], most: int = 3) -> VariantAxis:
    return VariantAxis("colour", palette, (1, most))


_ELECTRONICS = "Electronics"
_HOME = "Home & Kitchen"
_FASHION = "Fashion"
_SPORTS = "Sports & Outdoors"
_TOYS = "Toys & Games"
_BEAUTY = "Beauty & Personal Care"
_GARDEN = "Garden & DIY"
_PETS = "Pet Supplies"

LEAVES: tuple[LeafSpec, ...] = (
    # Electronics: thin margins, frequent MAP, many colour and capacity variants.
    LeafSpec(
        (_ELECTRONICS, "Audio", "Headphones"),
        ("Sony", "Bose", "Sennheiser", "JBL", "Jabra", "Audio-Technica", "Apple"),
        (
            "Wireless Over-Ear Headphones",
            "Noise Cancelling Headphones",
            "True Wireless Earbuds",
            "Sports Earbuds",
            "On-Ear Headphones",
        ),
        _TECH_SERIES,
        (29, 449),
        (12, 25),
        (_colours(_TECH_COLOURS),),
        weight=5,
    ),
    LeafSpec(
        (_ELECTRONICS, "Audio", "Bluetooth Speakers"),
        ("JBL", "Bose", "Sonos", "Ultimate Ears", "Marshall", "Anker Soundcore"),
        ("Portable Bluetooth Speaker", "Waterproof Speaker", "Smart Speaker", "Party Speaker"),
        _TECH_SERIES,
        (29, 399),
        (14, 25),
        (_colours(_TECH_COLOURS),),
    ),
    LeafSpec(
        (_ELECTRONICS, "Audio", "Soundbars"),
        ("Sonos", "Samsung", "LG", "Bose", "Sony", "Yamaha"),
        ("Dolby Atmos Soundbar", "Soundbar with Subwoofer", "Compact Soundbar"),
        _TECH_SERIES,
        (149, 999),
        (12, 22),
        (_colours(("Black", "White"), 2),),
    ),
    LeafSpec(
        (_ELECTRONICS, "Computers", "Laptops"),
        ("Lenovo", "HP", "Dell", "ASUS", "Acer", "Apple", "Microsoft"),
        ('Ultrabook 14"', 'Laptop 15.6"', 'Gaming Laptop 16"', 'Convertible 13.3"', 'Business Laptop 14"'),
        _TECH_SERIES,
        (449, 1899),
        (10, 16),
        (
            VariantAxis(
                "capacity",
                ("8 GB / 256 GB", "16 GB / 512 GB", "16 GB / 1 TB", "32 GB / 1 TB"),
                (1, 3),
                (1000, 1180, 1320, 1550),
            ),
        ),
        {"colour": ("Silver", "Space Grey", "Black", "Platinum")},
        weight=5,
    ),
    LeafSpec(
        (_ELECTRONICS, "Computers", "Monitors"),
        ("Dell", "LG", "Samsung", "ASUS", "BenQ", "AOC", "Philips"),
        ("Full HD Monitor", "QHD IPS Monitor", "4K UHD Monitor", "Curved Gaming Monitor", "USB-C Office Monitor"),
        _TECH_SERIES,
        (119, 699),
        (10, 20),
        (VariantAxis("size", ('24"', '27"', '32"', '34"'), (1, 2), (1000, 1250, 1600, 1900)),),
    ),
    LeafSpec(
        (_ELECTRONICS, "Computers", "Keyboards & Mice"),
        ("Logitech", "Razer", "Corsair", "Microsoft", "Cherry", "SteelSeries"),
        ("Wireless Mouse", "Mechanical Keyboard", "Gaming Mouse", "Keyboard and Mouse Set", "Ergonomic Mouse"),
        _TECH_SERIES,
        (19, 229),
        (15, 25),
        (_colours(("Black", "White", "Graphite", "Pink")),),
    ),
    LeafSpec(
        (_ELECTRONICS, "Computers", "External Storage"),
        ("Samsung", "SanDisk", "WD", "Seagate", "Crucial", "Kingston"),
        ("Portable SSD", "External Hard Drive", "USB Flash Drive", "NVMe SSD"),
        _TECH_SERIES,
        (39, 149),
        (12, 24),
        (VariantAxis("capacity", ("500 GB", "1 TB", "2 TB", "4 TB"), (1, 3), (1000, 1400, 2100, 3400)),),
    ),
    LeafSpec(
        (_ELECTRONICS, "Phones & Tablets", "Smartphones"),
        ("Samsung", "Apple", "Google", "Xiaomi", "Motorola", "OnePlus", "Nothing"),
        ("5G Smartphone", "Foldable Smartphone", "Compact Smartphone", "Camera Smartphone"),
        _TECH_SERIES,
        (149, 1299),
        (10, 15),
        (
            VariantAxis("capacity", ("128 GB", "256 GB", "512 GB"), (1, 2), (1000, 1120, 1350)),
            _colours(_TECH_COLOURS, 2),
        ),
        weight=5,
    ),
    LeafSpec(
        (_ELECTRONICS, "Phones & Tablets", "Tablets"),
        ("Apple", "Samsung", "Lenovo", "Xiaomi", "Microsoft"),
        ('Tablet 11"', 'Tablet 10.9"', 'Tablet 13" with Pen', "Kids Tablet"),
        _TECH_SERIES,
        (99, 999),
        (10, 18),
        (
            VariantAxis("capacity", ("64 GB", "128 GB", "256 GB"), (1, 2), (1000, 1150, 1400)),
            _colours(("Space Grey", "Silver", "Blue", "Graphite"), 2),
        ),
    ),
    LeafSpec(
        (_ELECTRONICS, "TV & Video", "Televisions"),
        ("Samsung", "LG", "Sony", "Philips", "TCL", "Hisense", "Panasonic"),
        ("4K UHD Smart TV", "OLED TV", "QLED TV", "Mini LED TV", "Ambilight 4K TV"),
        _TECH_SERIES,
        (299, 1199),
        (10, 16),
        (VariantAxis("size", ('43"', '50"', '55"', '65"', '75"'), (1, 3), (1000, 1150, 1350, 1800, 2600)),),
        weight=4,
    ),
    LeafSpec(
        (_ELECTRONICS, "Wearables", "Smartwatches"),
        ("Apple", "Samsung", "Garmin", "Fitbit", "Amazfit", "Polar"),
        ("GPS Smartwatch", "Fitness Tracker", "LTE Smartwatch", "Multisport Watch"),
        _TECH_SERIES,
        (79, 899),
        (12, 24),
        (_colours(("Black", "Silver", "Starlight", "Pink Sand", "Olive")),),
        {"material": ("Aluminium", "Stainless Steel", "Titanium", "Polymer")},
    ),
    # Home & Kitchen
    LeafSpec(
        (_HOME, "Coffee Machines"),
        ("De'Longhi", "Philips", "Siemens", "Jura", "Melitta", "Krups", "Sage"),
        (
            "Fully Automatic Espresso Machine",
            "Capsule Coffee Machine",
            "Filter Coffee Maker",
            "Portafilter Espresso Machine",
        ),
        _HOME_SERIES,
        (59, 1899),
        (18, 32),
        (_colours(("Black", "Silver", "White", "Titanium"), 2),),
        weight=5,
    ),
    LeafSpec(
        (_HOME, "Small Appliances", "Kettles"),
        ("Bosch", "Russell Hobbs", "Smeg", "WMF", "Philips", "Tefal", "Nordvik"),
        ("Electric Kettle 1.7 L", "Variable Temperature Kettle", "Glass Kettle", "Travel Kettle"),
        _HOME_SERIES,
        (19, 179),
        (28, 42),
        (_colours(_HOME_COLOURS),),
        {"material": ("Stainless Steel", "Glass", "Plastic")},
    ),
    LeafSpec(
        (_HOME, "Small Appliances", "Blenders"),
        ("Vitamix", "KitchenAid", "Philips", "Ninja", "Bosch", "WMF", "Braun"),
        ("High-Speed Blender", "Hand Blender", "Smoothie Maker", "Food Processor"),
        _HOME_SERIES,
        (29, 699),
        (25, 40),
        (_colours(_HOME_COLOURS, 2),),
    ),
    LeafSpec(
        (_HOME, "Cookware", "Frying Pans"),
        ("Tefal", "WMF", "Fissler", "Le Creuset", "Zwilling", "Nordvik"),
        ("Non-Stick Frying Pan", "Induction Frying Pan", "Wok", "Grill Pan"),
        _HOME_SERIES,
        (14, 129),
        (40, 55),
        (VariantAxis("size", ("20 cm", "24 cm", "28 cm", "32 cm"), (1, 3), (1000, 1150, 1300, 1500)),),
        {"material": ("Stainless Steel", "Cast Iron", "Aluminium", "Carbon Steel")},
    ),
    LeafSpec(
        (_HOME, "Cookware", "Kitchen Knives"),
        ("Zwilling", "Wüsthof", "Victorinox", "Global", "Fissler", "Nordvik"),
        ("Chef's Knife 20 cm", "Santoku Knife", "Bread Knife", "Paring Knife", "Knife Block Set"),
        _HOME_SERIES,
        (12, 249),
        (42, 60),
        (),
        {"material": ("Stainless Steel", "Damascus Steel", "Ceramic")},
    ),
    LeafSpec(
        (_HOME, "Vacuum Cleaners"),
        ("Dyson", "Miele", "Bosch", "Philips", "Rowenta", "iRobot", "Roborock", "Kärcher"),
        ("Cordless Stick Vacuum", "Robot Vacuum", "Bagless Cylinder Vacuum", "Wet and Dry Vacuum"),
        _HOME_SERIES,
        (79, 999),
        (18, 30),
        (_colours(("Grey", "Nickel", "Red", "Black", "White"), 2),),
        weight=4,
    ),
    # Fashion: high margins, many sizes per model.
    LeafSpec(
        (_FASHION, "Women", "Dresses"),
        ("Mango", "Vero Moda", "Esprit", "s.Oliver", "Tommy Hilfiger", "Guess"),
        ("Wrap Dress", "Midi Dress", "Shirt Dress", "Maxi Dress", "Knit Dress"),
        _FASHION_SERIES,
        (19, 149),
        (45, 60),
        (VariantAxis("size", _APPAREL_SIZES[:5], (3, 5)),),
        {"colour": _FASHION_COLOURS, "material": ("Cotton", "Viscose", "Linen", "Polyester")},
        weight=4,
    ),
    LeafSpec(
        (_FASHION, "Men", "Jeans"),
        ("Levi's", "Wrangler", "Lee", "G-Star RAW", "Tommy Hilfiger", "Jack & Jones"),
        ("Slim Fit Jeans", "Straight Leg Jeans", "Tapered Jeans", "Relaxed Fit Jeans"),
        _FASHION_SERIES,
        (39, 149),
        (42, 58),
        (VariantAxis("size", ("W30/L32", "W32/L32", "W32/L34", "W34/L32", "W34/L34", "W36/L34"), (3, 5)),),
        {"colour": ("Dark Blue", "Light Blue", "Black", "Grey"), "material": ("Cotton Denim", "Stretch Denim")},
        weight=4,
    ),
    LeafSpec(
        (_FASHION, "Shoes", "Sneakers"),
        ("Nike", "adidas", "Puma", "New Balance", "Converse", "Vans", "Reebok"),
        ("Low-Top Sneakers", "High-Top Sneakers", "Retro Sneakers", "Slip-On Sneakers"),
        _FASHION_SERIES,
        (49, 179),
        (40, 55),
        (VariantAxis("size", _SHOE_SIZES, (4, 6)),),
        {"colour": ("White", "Black", "Grey", "Navy", "Off-White"), "material": ("Leather", "Canvas", "Suede")},
        weight=4,
    ),
    LeafSpec(
        (_FASHION, "Accessories", "Backpacks"),
        ("Eastpak", "Herschel", "Fjällräven", "The North Face", "Samsonite", "Deuter"),
        ("Daypack", "Laptop Backpack", "Rolltop Backpack", "Travel Backpack"),
        _FASHION_SERIES,
        (29, 189),
        (40, 55),
        (_colours(_FASHION_COLOURS),),
        {
            "capacity": ("16 L", "20 L", "24 L", "30 L"),
            "material": ("Polyester", "Nylon", "Recycled Polyester", "Waxed Canvas"),
        },
    ),
    # Sports & Outdoors
    LeafSpec(
        (_SPORTS, "Running", "Running Shoes"),
        ("ASICS", "Nike", "adidas", "Brooks", "Hoka", "On", "Saucony", "New Balance"),
        ("Road Running Shoes", "Trail Running Shoes", "Carbon Racing Shoes", "Stability Running Shoes"),
        _SPORT_SERIES,
        (79, 219),
        (35, 50),
        (VariantAxis("size", _SHOE_SIZES, (4, 6)),),
        {"colour": _SPORT_COLOURS},
        weight=5,
    ),
    LeafSpec(
        (_SPORTS, "Running", "Running Jackets"),
        ("Nike", "adidas", "Under Armour", "Odlo", "Salomon", "Gore Wear"),
        ("Windproof Running Jacket", "Waterproof Running Jacket", "Lightweight Running Vest"),
        _SPORT_SERIES,
        (39, 229),
        (38, 52),
        (VariantAxis("size", _APPAREL_SIZES[1:], (3, 5)),),
        {"colour": _SPORT_COLOURS, "material": ("Polyester", "Recycled Polyester", "GORE-TEX")},
    ),
    LeafSpec(
        (_SPORTS, "Cycling", "Bike Helmets"),
        ("Abus", "Uvex", "Giro", "Bell", "MET", "Lazer"),
        ("Road Bike Helmet", "MTB Helmet", "Urban Bike Helmet", "Kids Bike Helmet"),
        _SPORT_SERIES,
        (39, 249),
        (35, 50),
        (VariantAxis("size", ("S", "M", "L"), (1, 3)),),
        {"colour": _SPORT_COLOURS},
    ),
    LeafSpec(
        (_SPORTS, "Fitness", "Yoga Mats"),
        ("Manduka", "Liforme", "Gaiam", "Casall", "adidas", "Nordvik"),
        ("Yoga Mat 4 mm", "Travel Yoga Mat", "Extra Thick Exercise Mat", "Non-Slip Yoga Mat"),
        _SPORT_SERIES,
        (14, 129),
        (45, 60),
        (_colours(("Black", "Purple", "Teal", "Sand", "Charcoal", "Rose")),),
        {"material": ("TPE", "Natural Rubber", "PVC", "Cork")},
    ),
    LeafSpec(
        (_SPORTS, "Fitness", "Dumbbells"),
        ("Bowflex", "Kettler", "Gorilla Sports", "Hammer", "Capital Sports", "Nordvik"),
        ("Adjustable Dumbbell", "Hex Dumbbell", "Neoprene Dumbbell Pair", "Dumbbell Set"),
        _SPORT_SERIES,
        (9, 49),
        (30, 45),
        (VariantAxis("weight", ("2 kg", "5 kg", "10 kg", "20 kg", "24 kg"), (1, 3), (1000, 2200, 4000, 7500, 9000)),),
        {"material": ("Cast Iron", "Neoprene", "Rubber", "Chrome")},
    ),
    LeafSpec(
        (_SPORTS, "Camping", "Tents"),
        ("Vaude", "Coleman", "MSR", "Jack Wolfskin", "Salewa", "Nordisk"),
        ("Dome Tent", "Tunnel Tent", "Ultralight Backpacking Tent", "Family Tent", "Pop-Up Tent"),
        _SPORT_SERIES,
        (49, 449),
        (30, 45),
        (
            VariantAxis(
                "capacity", ("1 person", "2 persons", "3 persons", "4 persons"), (1, 2), (1000, 1200, 1450, 1700)
            ),
        ),
        {"colour": ("Green", "Olive", "Sand", "Orange", "Grey")},
    ),
    # Toys & Games
    LeafSpec(
        (_TOYS, "Building Sets"),
        ("LEGO", "Playmobil", "Cobi", "Mega Bloks", "Clics"),
        ("Fire Station Set", "Space Shuttle Set", "Castle Set", "Race Car Set", "Pirate Ship Set", "Treehouse Set"),
        _TOY_SERIES,
        (9, 499),
        (25, 38),
        (),
        {"age": ("4+", "6+", "8+", "12+", "18+")},
        weight=4,
    ),
    LeafSpec(
        (_TOYS, "Board Games"),
        ("Ravensburger", "Hasbro", "Kosmos", "Asmodee", "Mattel", "HABA"),
        ("Strategy Game", "Family Board Game", "Party Game", "Cooperative Game", "Card Game"),
        _TOY_SERIES,
        (9, 79),
        (28, 40),
        (),
        {"age": ("6+", "8+", "10+", "12+", "14+"), "players": ("2-4", "2-6", "1-5", "3-8")},
    ),
    LeafSpec(
        (_TOYS, "Dolls & Action Figures"),
        ("Mattel", "Hasbro", "Schleich", "Playmobil", "Simba"),
        ("Fashion Doll", "Action Figure", "Animal Figure Set", "Dollhouse", "Baby Doll"),
        _TOY_SERIES,
        (7, 89),
        (28, 40),
        (),
        {"age": ("3+", "4+", "6+", "8+")},
    ),
    # Beauty & Personal Care
    LeafSpec(
        (_BEAUTY, "Skincare", "Face Creams"),
        ("Nivea", "L'Oréal Paris", "La Roche-Posay", "Clinique", "Eucerin", "Weleda"),
        ("Day Cream SPF 30", "Night Cream", "Moisturising Gel", "Anti-Ageing Serum", "Eye Cream"),
        _BEAUTY_SERIES,
        (5, 59),
        (40, 60),
        (VariantAxis("capacity", ("30 ml", "50 ml", "75 ml"), (1, 2), (1000, 1500, 2000)),),
    ),
    LeafSpec(
        (_BEAUTY, "Fragrances"),
        ("Hugo Boss", "Calvin Klein", "Dior", "Chanel", "Davidoff", "Joop!", "Armani"),
        ("Eau de Parfum", "Eau de Toilette", "Parfum", "Eau de Cologne"),
        _BEAUTY_SERIES,
        (19, 119),
        (30, 45),
        (VariantAxis("capacity", ("30 ml", "50 ml", "100 ml"), (1, 3), (1000, 1350, 1900)),),
        weight=4,
    ),
    LeafSpec(
        (_BEAUTY, "Hair Care", "Hair Dryers"),
        ("Dyson", "Philips", "Braun", "Remington", "BaByliss", "Rowenta", "ghd"),
        ("Ionic Hair Dryer", "Travel Hair Dryer", "Hot Air Brush", "Diffuser Hair Dryer"),
        _BEAUTY_SERIES,
        (19, 499),
        (25, 40),
        (_colours(("Black", "Rose Gold", "Fuchsia", "White", "Copper"), 2),),
    ),
    LeafSpec(
        (_BEAUTY, "Shavers & Trimmers"),
        ("Braun", "Philips", "Panasonic", "Remington", "Wahl"),
        ("Electric Foil Shaver", "Rotary Shaver", "Beard Trimmer", "Multi-Grooming Kit", "Body Groomer"),
        _BEAUTY_SERIES,
        (29, 349),
        (25, 40),
        (),
    ),
    # Garden & DIY
    LeafSpec(
        (_GARDEN, "Power Tools", "Cordless Drills"),
        ("Bosch", "Makita", "DeWalt", "Metabo", "Einhell", "Milwaukee", "Ryobi"),
        ("18 V Cordless Drill Driver", "Cordless Combi Drill", "Cordless Impact Driver", "12 V Compact Drill"),
        _GARDEN_SERIES,
        (49, 249),
        (22, 35),
        (
            VariantAxis(
                "kit", ("Bare Tool", "with 2.0 Ah Battery", "with 2x 4.0 Ah Batteries"), (1, 3), (1000, 1350, 1800)
            ),
        ),
    ),
    LeafSpec(
        (_GARDEN, "Lawn Mowers"),
        ("Bosch", "Gardena", "Husqvarna", "Einhell", "Stihl", "Worx"),
        ("Cordless Lawn Mower", "Robotic Lawn Mower", "Petrol Lawn Mower", "Electric Lawn Mower"),
        _GARDEN_SERIES,
        (99, 1499),
        (22, 35),
        (),
        {"cutting_width": ("32 cm", "37 cm", "42 cm", "46 cm")},
    ),
    LeafSpec(
        (_GARDEN, "Barbecues"),
        ("Weber", "Napoleon", "Char-Broil", "Outdoorchef", "Enders", "Nordvik"),
        ("Gas Barbecue", "Charcoal Kettle Grill", "Electric Grill", "Pellet Smoker", "Portable Grill"),
        _GARDEN_SERIES,
        (49, 1499),
        (25, 40),
        (_colours(("Black", "Red", "Stainless", "Slate Blue"), 2),),
    ),
    # Pet Supplies
    LeafSpec(
        (_PETS, "Dogs", "Dog Food"),
        ("Royal Canin", "Hill's", "Purina", "Wolf of Wilderness", "Josera", "Nordvik"),
        ("Dry Dog Food Chicken", "Dry Dog Food Lamb", "Dry Dog Food Salmon", "Dry Dog Food Turkey"),
        _DOG_FOOD_SERIES,
        (8, 22),
        (20, 35),
        (VariantAxis("capacity", ("2 kg", "4 kg", "12 kg", "15 kg"), (1, 2), (1000, 1700, 3800, 4500)),),
    ),
    LeafSpec(
        (_PETS, "Cats", "Scratching Posts"),
        ("Trixie", "Kerbl", "Nordvik", "Catit"),
        ("Scratching Post", "Cat Tree", "Scratching Board", "Wall-Mounted Cat Tree"),
        _CAT_SERIES,
        (19, 199),
        (35, 50),
        (_colours(("Grey", "Beige", "Cream", "Taupe"), 2),),
        {"material": ("Sisal", "Plush", "Cardboard")},
    ),
)
