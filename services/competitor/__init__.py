"""The competitor service: competitors, their offers matched to our skus, price observations, market prices."""
