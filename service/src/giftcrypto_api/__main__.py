"""`python -m giftcrypto_api --host 127.0.0.1 --port 8081`: the same as the giftcrypto-api script."""

import sys

from giftcrypto_api.server import main

sys.exit(main())
