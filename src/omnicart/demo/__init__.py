"""`omnicart demo`: the demo merchant (merchant.py), its day of orders (orders.py) and of
customers (customers.py), and the command (cli.py)."""
