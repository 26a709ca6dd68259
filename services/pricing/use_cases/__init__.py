"""What callers of the pricing service can do, for the caller's organisation only."""
