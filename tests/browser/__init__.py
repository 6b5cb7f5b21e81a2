"""Browser tests: a real (Debian) Chromium, driven by Playwright, against a live app server."""
