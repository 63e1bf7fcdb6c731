"""Put-away, transfers between locations and warehouses, move-all and scrap (the handheld side), and
inter-warehouse transfer documents (TR-00001) with their office pages."""
