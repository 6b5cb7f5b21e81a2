"""The brand's catalogue: brands, products (by GTIN) and serialised items."""
