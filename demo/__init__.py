"""Demo data for OmniPriceX: a realistic, deterministic retail catalog (and later sales and competitor shops)."""
