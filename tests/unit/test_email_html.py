"""Email HTML as the console shows it: nothing that runs, nothing that phones home until allowed."""

from __future__ import annotations

import pytest

from app.domain.inbox.email_html import Segment, fold_blockquotes, sanitize_email_html, split_quoted

PAYLOADS = [
    "<script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.title='pwned'\">",
    "<a href=\"javascript:document.title='pwned'\">click</a>",
    '<a href="JaVaScRiPt:alert(1)">click</a>',
    '<a href="data:text/html,<script>alert(1)</script>">click</a>',
    '<svg onload="alert(1)"><circle r="5"/></svg>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>',
    '<form action="https://evil.example"><input name=password></form>',
    '<p style="background:url(https://tracker.example/x)">styled</p>',
    "<style>body{display:none}</style>",
    '<div onclick="alert(1)" id="composer" class="msg">x</div>',
    '<object data="evil.swf"></object><embed src=evil.swf>',
    '<math><mi xlink:href="javascript:alert(1)">x</mi></math>',
    '<base href="https://evil.example/"><meta http-equiv=refresh content=0;url=https://evil.example>',
    '"><img src=x onerror=alert(1)>',
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_nothing_that_can_run_survives(payload: str) -> None:
    html = str(sanitize_email_html(f"<p>Hello</p>{payload}", show_remote_images=True).html).lower()
    for forbidden in (
        "<script",
        "onerror",
        "onload",
        "onclick",
        "javascript:",
        "data:text",
        "<svg",
        "<iframe",
        "srcdoc",
        "<form",
        "<input",
        "style=",
        "<style",
        "tracker.example",
        "<object",
        "<embed",
        "<math",
        "<base",
        "<meta",
        'id="',
        'class="',
    ):
        assert forbidden not in html, (payload, html)
    assert "hello" in html


def test_formatting_and_safe_links_are_kept() -> None:
    body = sanitize_email_html(
        '<p>Dear <b>Ada</b>,</p><ul><li>one</li></ul><a href="https://shop.example/order/1">order</a>'
        '<a href="mailto:help@shop.example">mail</a><table><tr><td colspan="2">cell</td></tr></table>'
    )
    html = str(body.html)
    assert "<b>Ada</b>" in html and "<li>one</li>" in html and 'colspan="2"' in html
    assert 'href="https://shop.example/order/1"' in html and 'href="mailto:help@shop.example"' in html
    assert 'rel="noopener noreferrer nofollow"' in html and 'target="_blank"' in html


def test_remote_images_are_held_back_until_allowed() -> None:
    raw = (
        '<p>Look:</p><img src="https://cdn.example/photo.jpg" alt="the parcel">'
        '<img src="http://tracker.example/pixel.gif" alt="">'
        '<img src="data:image/png;base64,iVBORw0KGgo=" alt="inline">'
    )
    blocked = sanitize_email_html(raw)
    assert blocked.remote_images == 2 and not blocked.images_shown
    assert "cdn.example" not in blocked.html and "tracker.example" not in blocked.html
    assert 'alt="the parcel"' in blocked.html  # the agent still sees what is missing
    assert "data:image/png;base64" in blocked.html  # inline images load nothing from anywhere

    shown = sanitize_email_html(raw, show_remote_images=True)
    assert 'src="https://cdn.example/photo.jpg"' in shown.html
    assert 'referrerpolicy="no-referrer"' in shown.html
    # http: would be mixed content and the console's CSP allows only https: images.
    assert "tracker.example" not in shown.html


def test_svg_data_images_are_refused() -> None:
    html = str(sanitize_email_html('<img src="data:image/svg+xml;base64,PHN2Zz4=">').html)
    assert "data:" not in html


def test_split_quoted_folds_gt_lines_and_attribution_blocks() -> None:
    text = (
        "Thanks, that works!\n"
        "\n"
        "On Mon, 30 Nov 2026 at 09:12, Ada Agent <ada@example.com> wrote:\n"
        "> Could you try again?\n"
        ">\n"
        "> Ada\n"
    )
    segments = split_quoted(text)
    assert segments[0] == Segment("text", "Thanks, that works!\n\n")
    assert [s.kind for s in segments] == ["text", "quote"]
    assert segments[1].text.startswith("On Mon, 30 Nov 2026")
    assert "".join(s.text for s in segments) == text


def test_split_quoted_handles_wrapped_attribution_and_interleaved_quotes() -> None:
    wrapped = "Yes please.\nOn Mon, 30 Nov 2026 at 09:12, Ada Agent <ada@example.com>\nwrote:\n> Shall I?\n"
    assert [s.kind for s in split_quoted(wrapped)] == ["text", "quote"]
    interleaved = "> Which size?\nLarge.\n> Which colour?\nBlue.\n"
    assert split_quoted(interleaved) == [
        Segment("quote", "> Which size?\n"),
        Segment("text", "Large.\n"),
        Segment("quote", "> Which colour?\n"),
        Segment("text", "Blue.\n"),
    ]
    outlook = "Fine.\n-----Original Message-----\nFrom: Ada\nSent: Monday\n"
    assert [s.kind for s in split_quoted(outlook)] == ["text", "quote"]
    assert split_quoted("Just text, nothing quoted.") == [Segment("text", "Just text, nothing quoted.")]
    assert split_quoted("") == []


def test_quoted_history_in_html_is_folded() -> None:
    raw = (
        "<div><p>Thanks!</p><div>On Mon, Ada wrote:<blockquote type=cite><p>Shall I?</p>"
        "<blockquote>older</blockquote></blockquote></div></div><blockquote>again</blockquote>"
    )
    html = str(sanitize_email_html(raw, quoted_summary="Quoted <text>").html)
    assert html == (
        "<div><p>Thanks!</p><div>On Mon, Ada wrote:"
        '<details class="quoted"><summary>Quoted &lt;text&gt;</summary>'
        "<blockquote><p>Shall I?</p><blockquote>older</blockquote></blockquote></details></div></div>"
        '<details class="quoted"><summary>Quoted &lt;text&gt;</summary><blockquote>again</blockquote></details>'
    )
    assert fold_blockquotes("<p>no quotes</p>", "Q") == "<p>no quotes</p>"


def test_quotes_with_attributes_fold_without_mis_nesting() -> None:
    # An inner quote with dir="rtl" (allowed on every tag) must count as an opening too, or the
    # fold would close inside the outer quote.
    raw = "<blockquote>A<blockquote dir=rtl>B</blockquote>C</blockquote>D<blockquote lang=nl>E</blockquote>"
    html = str(sanitize_email_html(raw, quoted_summary="Q").html)
    assert html == (
        '<details class="quoted"><summary>Q</summary>'
        '<blockquote>A<blockquote dir="rtl">B</blockquote>C</blockquote></details>D'
        '<details class="quoted"><summary>Q</summary><blockquote lang="nl">E</blockquote></details>'
    )


def test_tag_text_inside_attributes_is_escaped_so_folding_cannot_match_it() -> None:
    # The fold reads the sanitizer's output with a pattern; that is only sound while nh3 escapes
    # "<" and ">" in attribute values. If an upgrade stops doing so, this fails first.
    raw = '<blockquote dir="rtl" lang="a>b<blockquote>">x</blockquote><abbr title="</blockquote>">y</abbr>'
    html = str(sanitize_email_html(raw, quoted_summary="Q").html)
    assert html.count("<blockquote") == 1 and html.count("</blockquote>") == 1
    assert html.startswith('<details class="quoted"><summary>Q</summary><blockquote dir="rtl"')
    assert html.endswith('x</blockquote></details><abbr title="&lt;/blockquote&gt;">y</abbr>')
