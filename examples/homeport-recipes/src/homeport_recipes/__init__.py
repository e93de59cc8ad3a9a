"""homeport-recipes: a recipe entry type, a GUI page listing recipes, a route adding one.

Every hook here is a plain function marked with ``homeport.plugins.hookimpl``; the package is
found through its ``homeport`` entry point (``pyproject.toml``).
"""

from __future__ import annotations

from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from homeport.content import sites
from homeport.content.errors import ContentError
from homeport.gui.pages import Page, page
from homeport.plugins import hookimpl
from homeport.plugins.kinds import AdminPage, ContentType

NAME = "recipe"
HERE = "/admin/plugins/recipes/"

RECIPE_PAGE = """{% extends "layout.html" %}
{% block main %}
<article class="h-recipe entry entry-recipe">
  <h1 class="p-name">{{ entry.title }}</h1>
  <p class="meta"><time class="dt-published" datetime="{{ iso(entry.published) }}">
    {{- entry.published.strftime('%-d %B %Y') }}</time></p>
  <h2>Ingredients</h2>
  <ul class="ingredients">
  {% for item in entry.data.get('ingredients', []) %}
    <li class="p-ingredient">{{ item }}</li>
  {% endfor %}
  </ul>
  <h2>Method</h2>
  <div class="e-instructions">{{ entry.html }}</div>
</article>
{% endblock %}
"""


@hookimpl
def register_content_types() -> list[ContentType]:
    return [ContentType(
        name=NAME,
        collection="recipes",
        title_field="title",
        schema={
            "title": {"type": "string", "minLength": 1, "maxLength": 300},
            "ingredients": {"type": "array", "maxItems": 100,
                            "items": {"type": "string", "minLength": 1, "maxLength": 300}},
            "body": {"type": "string", "maxLength": 100_000},
        },
        required=("title", "ingredients"),
        template=RECIPE_PAGE,
    )]


async def recipes_page(request: Request, csrf: str) -> str:
    """The GUI page: the recipes of the first site, and a form to add one."""
    ctx = request.app.state.ctx
    names = await sites.list_sites(ctx)
    rows = []
    if names:
        for entry in await sites.list_entries(ctx, names[0], NAME):
            rows.append(Markup("<li>{}</li>").format(entry.data.get("title", "")))
    listing = Markup("").join(rows) or Markup("<li>No recipe yet.</li>")
    return Markup(
        '<ul id="recipes">{listing}</ul>'
        '<form method="post" action="{here}add">'
        '<input type="hidden" name="csrf" value="{csrf}">'
        '<label for="recipe-title">Title</label><input id="recipe-title" name="title" required>'
        '<label for="recipe-ingredients">Ingredients <span class="hint">(one a line)</span>'
        '</label><textarea id="recipe-ingredients" name="ingredients" rows="4" required>'
        '</textarea>'
        '<label for="recipe-method">Method</label>'
        '<textarea id="recipe-method" name="method" rows="6"></textarea>'
        '<button type="submit">Add recipe</button></form>'
    ).format(listing=listing, here=HERE, csrf=escape(csrf))


@hookimpl
def register_admin_pages() -> list[AdminPage]:
    return [AdminPage(path="", title="Recipes", render=recipes_page)]


@page()
async def add(p: Page) -> Response:
    """The route the form posts to: the GUI's own checks (login, CSRF) through ``page``."""
    form = await p.form()
    names = await sites.list_sites(p.ctx)
    if not names:
        p.flash("Make a site first.")
        return p.redirect(HERE)
    title = " ".join(str(form.get("title") or "").split())
    lines = str(form.get("ingredients") or "").splitlines()
    ingredients = [line.strip() for line in lines if line.strip()]
    try:
        await sites.add_entry(p.ctx, names[0], NAME, {
            "title": title, "ingredients": ingredients, "body": str(form.get("method") or "")})
    except ContentError as exc:
        p.flash(f"Not added: {exc}")
        return p.redirect(HERE)
    p.flash(f"Added {title}.")
    return p.redirect(HERE)


@hookimpl
def register_routes() -> list[BaseRoute]:
    return [Route(HERE + "add", add, methods=["POST"])]
