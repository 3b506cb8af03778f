"""Markdown to HTML for exports: markdown-it-py's "gfm-like" preset (tables,
strikethrough, autolinks) with task lists, then sanitised by nh3 (Ammonia).

The preset lets raw HTML through, as GitHub and the editor's preview do; nh3
then keeps only the tags and attributes below, so no script, event handler,
style sheet, frame, form or `javascript:` link survives, whatever the text holds.
"""

from __future__ import annotations

import nh3
from markdown_it import MarkdownIt
from mdit_py_plugins.tasklists import tasklists_plugin

_markdown = MarkdownIt("gfm-like").use(tasklists_plugin)

TAGS = {
    # What Markdown itself produces.
    *("p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "code"),
    *("em", "strong", "s", "del", "a", "img", "ul", "ol", "li", "input"),
    *("table", "thead", "tbody", "tr", "th", "td"),
    # Raw HTML that GitHub also allows and that cannot run anything.
    *("details", "summary", "kbd", "sub", "sup", "mark", "ins", "abbr", "dl", "dt", "dd", "span", "div"),
}
ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "ol": {"start"},
    "th": {"style", "align"},
    "td": {"style", "align"},
    "input": {"checked"},
    "abbr": {"title"},
}
URL_SCHEMES = {"http", "https", "mailto"}


# Fenced code blocks keep their language as a class only for these common ones.
LANGUAGES = (
    "bash c cpp csharp css diff go html java javascript js json jsx kotlin markdown md php python py ruby "
    "rust scss sh shell sql swift toml ts tsx typescript xml yaml yml"
).split()

_cleaner = nh3.Cleaner(
    tags=TAGS,
    clean_content_tags={"script", "style"},
    attributes=ATTRIBUTES,
    url_schemes=URL_SCHEMES,
    link_rel="noopener noreferrer nofollow",
    # A table column's alignment is the only style kept.
    filter_style_properties={"text-align"},
    # A task list's boxes are ticked or not, and cannot be changed.
    set_tag_attribute_values={"input": {"type": "checkbox", "disabled": "disabled"}},
    allowed_classes={
        "code": {f"language-{name}" for name in LANGUAGES},
        "ul": {"contains-task-list"},
        "li": {"task-list-item"},
    },
)


def markdown_html(text: str) -> str:
    """The Markdown `text` as a sanitised HTML fragment."""
    return _cleaner.clean(_markdown.render(text))
