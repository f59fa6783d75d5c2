"""A fulfillment-service bot: a partner that uses only Keelson's public API and its signed
callbacks (no imports from the application). ``python manage.py run_fulfillment_bot``."""
