"""What one upload and one user may ask of the site: photo sizes and unfinished predictions."""

from __future__ import annotations

from .env import env_int

# Request rates (throttles) are in api.py's REST_FRAMEWORK, where DRF reads them.
AGEWEB_MAX_UPLOAD_BYTES = env_int("AGEWEB_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1)
AGEWEB_MAX_PIXELS = env_int("AGEWEB_MAX_PIXELS", 40_000_000, minimum=1)
# Pillow decodes a WebP whole (about 15 bytes a pixel): a lower limit keeps one decode near 180 MB.
AGEWEB_MAX_WEBP_PIXELS = env_int("AGEWEB_MAX_WEBP_PIXELS", 12_000_000, minimum=1)
# Photos whose width/height ratio (either way) is beyond this are refused at upload.
AGEWEB_MAX_ASPECT_RATIO = env_int("AGEWEB_MAX_ASPECT_RATIO", 8, minimum=1)
# A stored photo is shrunk to this many pixels a side and saved as JPEG at this quality.
AGEWEB_MAX_STORED_SIDE = env_int("AGEWEB_MAX_STORED_SIDE", 2560, minimum=64)
AGEWEB_JPEG_QUALITY = env_int("AGEWEB_JPEG_QUALITY", 90, minimum=1)
# Unfinished (queued or running) predictions one user may have at once; more is a 429.
AGEWEB_MAX_UNFINISHED_PER_USER = env_int("AGEWEB_MAX_UNFINISHED_PER_USER", 10, minimum=1)
# Uploads one web process decodes at once (a 40-megapixel upload holds up to 160 MB while it
# is decoded); another waits this many seconds for its turn, then gets a 503.
AGEWEB_MAX_DECODES = env_int("AGEWEB_MAX_DECODES", 2, minimum=1)
AGEWEB_DECODE_WAIT_SECONDS = env_int("AGEWEB_DECODE_WAIT_SECONDS", 10, minimum=0)
