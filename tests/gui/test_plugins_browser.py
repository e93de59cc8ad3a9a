"""Issue H's done-when, in Chromium against a real ``homeport serve``: the example plugin is
installed from a signed local catalogue through the Plugins page and works (its GUI page, its
route, its entry type's page on the built site)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeport.testing.plugins import Publisher, build_wheel, entry_for

EXAMPLE = Path(__file__).parents[2] / "examples" / "homeport-recipes"


def test_install_the_example_from_the_plugins_page_and_use_it(page: Any, tmp_path: Path) -> None:
    folder = tmp_path / "catalogue"
    wheel = build_wheel(EXAMPLE, folder)
    publisher = Publisher.new()
    catalogue = publisher.catalogue(folder, [entry_for(
        wheel, "homeport-recipes", "1.0.0", touches=["routes", "admin-pages", "content-types"],
        description="Recipes on your site")])

    page.goto("/admin/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Plugins").click()
    page.get_by_label("Catalogue address").fill(str(catalogue))
    page.get_by_label("Publisher's key").fill(publisher.did)
    page.get_by_role("button", name="Show its plugins").click()
    row = page.locator('#catalogue-table tr[data-name="homeport-recipes"]')
    assert "routes, admin-pages, content-types" in row.inner_text()
    assert "free" in row.inner_text()
    row.get_by_role("button", name="Install").click()
    page.wait_for_url("**/admin/plugins")
    assert "homeport-recipes 1.0.0 is installed" in page.content()
    assert page.locator('#plugins-table tr[data-name="recipes"] .state').inner_text() == "on"

    page.get_by_role("link", name="Recipes").click()
    page.wait_for_url("**/admin/plugins/recipes/")
    page.get_by_label("Title").fill("Tomato soup")
    page.get_by_label("Ingredients").fill("6 tomatoes\n1 onion")
    page.get_by_label("Method").fill("Simmer *gently*.")
    page.get_by_role("button", name="Add recipe").click()
    page.locator("#recipes li").first.wait_for()
    assert page.locator("#recipes li").all_inner_texts() == ["Tomato soup"]

    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    built = page.request.post("/admin/build", form={"csrf": token})
    assert built.ok
    page.goto("/preview/")
    page.goto(page.url.rstrip("/") + "/recipes/tomato-soup/")
    assert page.locator("article.h-recipe h1").inner_text() == "Tomato soup"
    assert page.locator(".p-ingredient").all_inner_texts() == ["6 tomatoes", "1 onion"]
    assert page.locator(".e-instructions em").inner_text() == "gently"
