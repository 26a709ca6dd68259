"""The product service: catalog, categories and the history of every price change."""
