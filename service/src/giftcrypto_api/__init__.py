"""The GiftCrypto API sample service (what the delivery pipeline ships, issue 7)."""

__version__ = "0.1.0"

SERVICE_NAME = "giftcrypto-api"
