"""The seeded catalogue (catalog.json), derived from LiteLLM's price list (MIT, see LICENSE).

Rebuild with `manage.py build_catalog_seed --prices model_prices.json`; load with
`manage.py load_catalog`.
"""

from pathlib import Path

SEED_DIR = Path(__file__).resolve().parent
CATALOG_PATH = SEED_DIR / "catalog.json"
LICENSE_NAME = "LICENSE.litellm-MIT.txt"
