"""Product feeds per channel: Google Merchant Center (RSS 2.0 and TSV) and Meta catalog CSV."""
