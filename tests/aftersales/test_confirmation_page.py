"""The service confirmation page a phone shows after the owner's request (issue 13, item 7)."""

from __future__ import annotations

import re
from html import unescape

from tests.aftersales.test_owner_pages import csrf, form_url, tap
from tests.factories import tagged_item


def test_the_confirmation_title_is_plain_words_not_html(client, db, keyring):
    watch = tagged_item(db, category="watch", attributes={"warranty_months": 24})
    tap(client, db, keyring, watch)
    token = csrf(client, form_url(watch))
    sent = client.post(form_url(watch), data={"csrf_token": token, "kind": "repair",
                                              "message": "The crown came loose."})
    assert sent.status_code == 303
    page = client.get(sent.headers["Location"]).get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", page, re.S)
    assert title is not None
    # What a browser tab (and a screen reader announcing the page) says.
    assert unescape(title.group(1)) == "Service requested — Test watch"
    # The way back is in the page itself, once.
    assert page.count("Back to your owner page") == 1
