"""A landing page's site is its registrable domain by the Public Suffix List (publicsuffixlist's
bundled snapshot), private section included: two customers of one hosting platform are two sites."""

from __future__ import annotations

import pytest

from multimodal.page import analyze_page
from multimodal.page_urls import hostname, registrable_domain


@pytest.mark.parametrize(("host", "domain"), [
    ("www.shop.example.com", "example.com"),
    ("a.example.co.uk", "example.co.uk"),
    ("foo.pvt.k12.ma.us", "foo.pvt.k12.ma.us"),  # a suffix of four labels
    ("alice.github.io", "alice.github.io"),
    ("docs.celery.readthedocs.io", "celery.readthedocs.io"),
    ("shop-a.myshopify.com", "shop-a.myshopify.com"),
    ("abc.trycloudflare.com", "abc.trycloudflare.com"),  # tunnels: each one is somebody's own site
    ("www.example.com.", "example.com"),
    ("WWW.Example.COM", "example.com"),
    ("203.0.113.9", "203.0.113.9"),
    ("[2001:db8::1]", "2001:db8::1"),
    ("co.uk", "co.uk"),  # a bare public suffix stays itself
    ("intranet", "intranet"),
    ("", None),
    (None, None),
])
def test_registrable_domains(host, domain):
    assert registrable_domain(host) == domain


def test_an_internationalised_host_is_compared_in_its_ascii_form():
    assert registrable_domain(hostname("https://www.bücher.de/x")) == "xn--bcher-kva.de"


FORM = '<form action="{action}"><label>Password<input type=password name=pw></label></form>'


def test_a_form_posting_to_another_customer_of_the_same_platform_is_cross_site():
    page = "https://shop-a.myshopify.com/login"
    other = analyze_page(FORM.format(action="https://shop-b.myshopify.com/collect"), page)
    assert other.domain == "shop-a.myshopify.com"
    assert other.signal("cross_domain_form").score == 0.75  # with sensitive fields
    own = analyze_page(FORM.format(action="https://shop-a.myshopify.com/account/session"), page)
    assert own.signal("cross_domain_form") is None


def test_link_domains_name_each_site():
    html = ('<a href="https://requests.readthedocs.io/en/latest/">a</a>'
            '<a href="https://flask.readthedocs.io/">b</a><a href="https://www.python.org/">c</a>')
    assert analyze_page(html, "https://example.org/").link_domains == {
        "requests.readthedocs.io": 1, "flask.readthedocs.io": 1, "python.org": 1}
