"""The third-party embed snippets of the corpus's `with_third_party_tags` variant (evaluation/page_corpus.py):
Google Tag Manager with its `<noscript>` iframe, gtag.js, Meta pixel, a cookie-consent banner, YouTube /
Vimeo / Google Maps embeds, chat widgets, a routing script, written here from the vendors' public,
documented embed shapes with placeholder ids, and where each goes in a page.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Shapes of the vendors' documented embed codes, written here; ids are placeholders.
GTM_HEAD = """<!-- Google Tag Manager -->
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','GTM-ABC1234');</script>
<!-- End Google Tag Manager -->"""
GTM_BODY = """<!-- Google Tag Manager (noscript) -->
<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=GTM-ABC1234"
height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>
<!-- End Google Tag Manager (noscript) -->"""
GTAG = """<script async src="https://www.googletagmanager.com/gtag/js?id=G-ABCDE12345"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){dataLayer.push(arguments);}
  gtag('js', new Date());
  gtag('config', 'G-ABCDE12345');
</script>"""
META_PIXEL = """<!-- Meta Pixel Code -->
<script>
!function(f,b,e,v,n,t,s){if(f.fbq)return;n=f.fbq=function(){n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)};if(!f._fbq)f._fbq=n;
n.push=n;n.loaded=!0;n.version='2.0';n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];s.parentNode.insertBefore(t,s)}(window,
document,'script','https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '123456789012345');
fbq('track', 'PageView');
</script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com/tr?id=123456789012345&ev=PageView&noscript=1"/></noscript>
<!-- End Meta Pixel Code -->"""
COOKIE_CONSENT_HEAD = """<script id="Cookiebot" src="https://consent.cookiebot.com/uc.js"
data-cbid="00000000-0000-4000-8000-000000000000" data-blockingmode="auto" type="text/javascript"></script>"""
COOKIE_BANNER = """<div class="cookie-consent" role="dialog" aria-live="polite" aria-label="Cookie consent">
  <p>We use cookies to make this site work and, with your consent, to measure how it is used.
  Read our <a href="/cookie-policy">cookie policy</a>.</p>
  <button type="button" class="btn btn-primary" data-consent="all">Accept all</button>
  <button type="button" class="btn btn-secondary" data-consent="necessary">Only necessary</button>
  <button type="button" class="btn btn-link" data-consent="settings">Cookie settings</button>
</div>"""
YOUTUBE = """<iframe width="560" height="315" src="https://www.youtube.com/embed/aBcDeFgHiJk?si=AbCdEfGhIjKlMnOp"
title="YouTube video player" frameborder="0"
allow="accelerometer; autoplay; clipboard-write; encrypted-media; gyroscope; picture-in-picture; web-share"
referrerpolicy="strict-origin-when-cross-origin" allowfullscreen></iframe>"""
VIMEO = """<div style="padding:56.25% 0 0 0;position:relative;"><iframe
src="https://player.vimeo.com/video/123456789?badge=0&amp;autopause=0&amp;player_id=0&amp;app_id=58479"
frameborder="0" allow="autoplay; fullscreen; picture-in-picture; clipboard-write"
style="position:absolute;top:0;left:0;width:100%;height:100%;" title="Product tour"></iframe></div>
<script src="https://player.vimeo.com/api/player.js"></script>"""
GOOGLE_MAPS = """<iframe
src="https://www.google.com/maps/embed?pb=!1m18!1m12!1m3!1d2482.5!2d-0.1276!3d51.5072!2m3!1f0!2f0!3f0!3m2!1i1024!2i768!4f13.1"
width="600" height="450" style="border:0;" allowfullscreen="" loading="lazy"
referrerpolicy="no-referrer-when-downgrade"></iframe>"""
INTERCOM = """<script>
  window.intercomSettings = {api_base: "https://api-iam.intercom.io", app_id: "abc12def"};
</script>
<script>
(function(){var w=window;var ic=w.Intercom;if(typeof ic==="function"){ic('reattach_activator');
ic('update',w.intercomSettings);}else{var d=document;var i=function(){i.c(arguments);};i.q=[];
i.c=function(args){i.q.push(args);};w.Intercom=i;var l=function(){var s=d.createElement('script');
s.type='text/javascript';s.async=true;s.src='https://widget.intercom.io/widget/abc12def';
var x=d.getElementsByTagName('script')[0];x.parentNode.insertBefore(s,x);};
if(document.readyState==='complete'){l();}else if(w.attachEvent){w.attachEvent('onload',l);}
else{w.addEventListener('load',l,false);}}})();
</script>"""
CRISP = """<script type="text/javascript">window.$crisp=[];
window.CRISP_WEBSITE_ID="00000000-0000-4000-8000-000000000000";
(function(){d=document;s=d.createElement("script");s.src="https://client.crisp.chat/l.js";s.async=1;
d.getElementsByTagName("head")[0].appendChild(s);})();</script>"""
LINKEDIN_INSIGHT = """<script type="text/javascript">
_linkedin_partner_id = "1234567";
window._linkedin_data_partner_ids = window._linkedin_data_partner_ids || [];
window._linkedin_data_partner_ids.push(_linkedin_partner_id);
</script>
<script type="text/javascript" async src="https://snap.licdn.com/li.lms-analytics/insight.min.js"></script>
<noscript><img height="1" width="1" style="display:none;" alt=""
src="https://px.ads.linkedin.com/collect/?pid=1234567&fmt=gif" /></noscript>"""
HOTJAR = """<script>
(function(h,o,t,j,a,r){h.hj=h.hj||function(){(h.hj.q=h.hj.q||[]).push(arguments)};
h._hjSettings={hjid:1234567,hjsv:6};a=o.getElementsByTagName('head')[0];
r=o.createElement('script');r.async=1;r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
a.appendChild(r);})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');
</script>"""
ROUTING = """<script>
  document.getElementById('site-search')?.addEventListener('submit', function (event) {
    event.preventDefault();
    window.location.href = '/search?q=' + encodeURIComponent(event.target.q.value);
  });
  document.querySelectorAll('[data-lang]').forEach(function (el) {
    el.addEventListener('click', function () { window.location.href = '/' + el.dataset.lang + '/'; });
  });
  if (window.location.pathname === '/index.html') { window.location.replace('/'); }
</script>"""


@dataclass(frozen=True)
class Snippet:
    name: str
    head: str = ""  # into <head>
    body_start: str = ""  # right after <body>
    body_end: str = ""  # before </body>


SNIPPETS = {
    s.name: s for s in (
        Snippet("google_tag_manager", head=GTM_HEAD, body_start=GTM_BODY),
        Snippet("google_analytics_gtag", head=GTAG),
        Snippet("meta_pixel", head=META_PIXEL),
        Snippet("cookie_consent", head=COOKIE_CONSENT_HEAD, body_end=COOKIE_BANNER),
        Snippet("youtube_embed", body_end=YOUTUBE),
        Snippet("vimeo_embed", body_end=VIMEO),
        Snippet("google_maps_embed", body_end=GOOGLE_MAPS),
        Snippet("intercom_chat", body_end=INTERCOM),
        Snippet("crisp_chat", body_end=CRISP),
        Snippet("linkedin_insight", body_end=LINKEDIN_INSIGHT),
        Snippet("hotjar", head=HOTJAR),
        Snippet("routing_script", body_end=ROUTING),
    )
}
ALWAYS = ("google_tag_manager", "google_analytics_gtag")
ROTATING = tuple(n for n in SNIPPETS if n not in ALWAYS)
PER_PAGE = 3  # rotating snippets per page, on top of ALWAYS


def snippets_for(index: int) -> list[str]:
    """Deterministic: GTM and gtag on every page, then three of the others in rotation."""
    start = (index * PER_PAGE) % len(ROTATING)
    return [*ALWAYS, *(ROTATING[(start + k) % len(ROTATING)] for k in range(PER_PAGE))]


_HEAD_OPEN = re.compile(r"<head\b[^>]*>", re.IGNORECASE)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)


def inject(html: str, names: list[str]) -> str:
    """Insert the named snippets where their vendors tell sites to put them (test-data building,
    not analysis: plain string positions are enough)."""
    chosen = [SNIPPETS[n] for n in names]
    head = "\n".join(s.head for s in chosen if s.head)
    start = "\n".join(s.body_start for s in chosen if s.body_start)
    end = "\n".join(s.body_end for s in chosen if s.body_end)
    if head:
        m = _HEAD_OPEN.search(html)
        html = html[: m.end()] + "\n" + head + "\n" + html[m.end():] if m else head + "\n" + html
    if start:
        m = _BODY_OPEN.search(html)
        html = html[: m.end()] + "\n" + start + "\n" + html[m.end():] if m else start + "\n" + html
    if end:
        closes = list(_BODY_CLOSE.finditer(html))
        html = html[: closes[-1].start()] + end + "\n" + html[closes[-1].start():] if closes else html + "\n" + end
    return html
